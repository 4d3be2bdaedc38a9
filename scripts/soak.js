#!/usr/bin/env node
'use strict';
// npm run soak [-- --minutes 10 --rate 200]: the chaos soak. A private RabbitMQ and a
// real Node-RED with the pack run three loads at once while faults come at random, and
// a ledger accounts for every record and message. Not part of `npm test`.
//
//   --minutes M         how long the loads and faults run (default 10); a drain follows
//   --rate R            messages per second of the generator, records per second of the
//                       log hook client in batches of 100 (singles at R/5) (default 200)
//   --fault-every S     mean seconds between faults, each drawn from S/2 .. 3S/2 (default 20)
//
// The flows are the examples as they are now, read at run time, pointed at the soak's broker:
// - examples/kumomta-webhook-to-amqp.json as it ships, fed by a client that behaves as
//   KumoMTA's log hook does (batches of 100 and single records; anything but a 2xx is sent
//   again after a delay; a 422 with X-Kumo-Verdict: not-a-log-record is bounced);
// - examples/amqp-log-events.json, the seed's routing (queue config ⇒ custom protocol with
//   the spool on → amqp publish), fed over HTTP: a Complete node on queue config answers
//   202 once it called done(), that is once the spool has the message on disk;
// - amqp consume → a function that appends each id to the ledger file (written before the
//   ack, so a message the ledger lacks was never acked) → amqp ack, on every queue the
//   examples publish to.
// Faults, one at a time: the broker's connections closed (rabbitmqctl close_connection), the
// broker restarted, a memory alarm, a full redeploy (POST /flows), and Node-RED killed with
// SIGKILL and started again on the same user directory.
// Lost = accepted (a 202, a 2xx) and never consumed; it must be 0. Exit code 1 when anything
// was lost or an accepted id could not be accounted for.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const amqp = require('amqplib');
const brokers = require('./brokers');
const { instancePaths } = require('./broker');
const { startNodeRed, ROOT, PACK } = require('./node-red-process');

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
    'fault-every': { type: 'string', default: '20' },
  },
});
const MINUTES = Number(flags.minutes);
const RATE = Number(flags.rate);
const FAULT_EVERY_S = Number(flags['fault-every']);
for (const [name, value] of [
  ['--minutes', MINUTES],
  ['--rate', RATE],
  ['--fault-every', FAULT_EVERY_S],
]) {
  if (!(value > 0)) throw new Error(`${name} must be a number above 0`);
}
const BATCH = 100;
const SECRET = 'soak-secret';
// KumoMTA's HTTP client gives up after 60 s; a request not answered by then is sent again.
const HTTP_TIMEOUT_MS = 60000;
// A refused request is sent again after this, jittered (KumoMTA's log hook retries after a minute; shorter here, so that a 10-minute run sees many).
const RETRY_DELAY_MS = [1000, 4000];
// After the loads stop: how long refused messages may take to be accepted, then to be consumed.
const DRAIN_ACCEPT_MS = 180000;
const DRAIN_CONSUME_MS = 300000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const between = ([lo, hi]) => lo + Math.random() * (hi - lo);
const started = Date.now();
const log = (message) => process.stderr.write(`[soak ${((Date.now() - started) / 1000).toFixed(0)}s] ${message}\n`);

function readExample(name) {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', name), 'utf8'));
}

/** The example's nodes moved onto a tab of the soak's own, its broker pointed at the soak's. */
function onTab(example, tab, amqpUrl, change = (n) => n) {
  return example.map((n) => {
    if (n.type === 'amqp-broker') return { ...n, url: amqpUrl };
    return change(n.z ? { ...n, z: tab } : n);
  });
}

/** Where a publish node's messages land: its declared queue, else its routing key on the default exchange. */
function queueOf(publish) {
  if (publish.exchange)
    throw new Error(
      `publish node ${publish.id} publishes to exchange ${publish.exchange}: the soak reads queues of the default exchange`,
    );
  const name = publish.declareQueue || publish.routingKey;
  if (publish.routingKeyType && publish.routingKeyType !== 'str' && !publish.declareQueue)
    throw new Error(`publish node ${publish.id}: routing key of type ${publish.routingKeyType}, no queue to read`);
  const args = publish.declareQueue && publish.declareArguments ? JSON.parse(publish.declareArguments) : undefined;
  return { name, args };
}

/**
 * The soak's flows: the webhook example as it ships, the seed's routing with an HTTP way in
 * and retries short enough to happen within the run, and a consumer with the ledger.
 */
function soakFlows(amqpUrl) {
  const webhook = readExample('kumomta-webhook-to-amqp.json');
  const seed = readExample('amqp-log-events.json');
  const consumeExample = readExample('consume-log-events.json');
  const flows = [
    { id: 'soak-webhook', type: 'tab', label: 'soak: webhook example' },
    { id: 'soak-seed', type: 'tab', label: 'soak: seed routing' },
    { id: 'soak-consume', type: 'tab', label: 'soak: consume → ack' },
  ];
  flows.push(...onTab(webhook, 'soak-webhook', amqpUrl));

  const qc = seed.find((n) => n.type === 'kumo-queue-config');
  const rule = qc?.rules.find((r) => r.protocol === 'custom_lua');
  if (!rule) throw new Error('examples/amqp-log-events.json: no queue config rule routes to a custom protocol');
  const seedQueue = rule.match?.domain?.op === 'eq' ? rule.match.domain.value : 'amqp';
  flows.push(
    ...onTab(seed, 'soak-seed', amqpUrl, (n) => {
      // The example retries after 20 minutes: what a fault made wait is retried within the run.
      if (n.id === qc.id)
        return {
          ...n,
          rules: n.rules.map((r) => (r === rule ? { ...r, retry_interval: '2s', max_retry_interval: '10s' } : r)),
        };
      if (n.type === 'kumo-custom-protocol' && n.eventName === rule.constructor) return { ...n, spool: true };
      return n;
    }).filter((n) => {
      if (!flows.some((f) => f.id === n.id)) return true;
      if (n.type === 'amqp-broker') return false; // the config node every example shares
      throw new Error(`node ${n.id} is in both examples`);
    }),
  );
  flows.push(
    {
      id: 'soak-seed-in',
      type: 'http in',
      z: 'soak-seed',
      url: '/soak/seed',
      method: 'post',
      upload: false,
      swaggerDoc: '',
      wires: [['soak-seed-queue']],
    },
    {
      id: 'soak-seed-queue',
      type: 'change',
      z: 'soak-seed',
      rules: [{ t: 'set', p: 'queue', pt: 'msg', to: seedQueue, tot: 'str' }],
      wires: [[qc.id]],
    },
    { id: 'soak-seed-kept', type: 'complete', z: 'soak-seed', scope: [qc.id], uncaught: false, wires: [['soak-202']] },
    { id: 'soak-202', type: 'http response', z: 'soak-seed', statusCode: '202', headers: {}, wires: [] },
    // Refused (overloaded, closing, not kept): 503, so the generator sends it again.
    { id: 'soak-seed-refused', type: 'catch', z: 'soak-seed', scope: [qc.id], uncaught: false, wires: [['soak-503']] },
    {
      id: 'soak-503',
      type: 'change',
      z: 'soak-seed',
      rules: [
        { t: 'set', p: 'statusCode', pt: 'msg', to: '503', tot: 'num' },
        { t: 'set', p: 'payload', pt: 'msg', to: 'error.message', tot: 'msg' },
      ],
      wires: [['soak-refused-out']],
    },
    { id: 'soak-refused-out', type: 'http response', z: 'soak-seed', statusCode: '', headers: {}, wires: [] },
  );

  const publishes = flows.filter((n) => n.type === 'amqp-publish');
  const queues = [...new Map(publishes.map((p) => queueOf(p)).map((q) => [q.name, q])).values()];
  const template = consumeExample.find((n) => n.type === 'amqp-consume');
  const broker = flows.find((n) => n.type === 'amqp-broker');
  queues.forEach((q, i) => {
    flows.push(
      {
        ...template,
        id: `soak-consume-${i}`,
        z: 'soak-consume',
        name: `consume ${q.name}`,
        broker: broker.id,
        queue: q.name,
        declare: false, // declared by the soak with the publish node's arguments
        deadLetterExchange: '',
        exchange: '',
        exchangeType: '',
        routingKey: '',
        prefetch: '100',
        ackMode: 'manual',
        output: 'json',
        wires: [[`soak-ledger-${i}`]],
      },
      {
        id: `soak-ledger-${i}`,
        type: 'function',
        z: 'soak-consume',
        name: 'ledger',
        // Before the ack: an id the ledger lacks was never acked, so the broker still has it.
        func: "fs.appendFileSync(env.get('SOAK_LEDGER'), String(msg.payload && msg.payload.id) + '\\n');\nreturn msg;",
        outputs: 1,
        libs: [{ var: 'fs', module: 'fs' }],
        wires: [[`soak-ack-${i}`]],
      },
      { id: `soak-ack-${i}`, type: 'amqp-ack', z: 'soak-consume', action: 'ack', wires: [[]] },
    );
  });

  const hook = flows.find((n) => n.type === 'kumo-log-hook');
  if (!hook) throw new Error('examples/kumomta-webhook-to-amqp.json has no log hook in node');
  return {
    flows,
    credentials: { [hook.id]: { secret: SECRET } },
    queues,
    hookPath: hook.path,
    secretHeader: hook.secretHeader || 'X-Kumo-Secret',
  };
}

/** A KumoMTA Delivery log record (reference/log_record.md) with the ledger's id. */
function logRecord(id) {
  return JSON.stringify({
    type: 'Delivery',
    id,
    sender: 'noreply@example.com',
    recipient: `${id}@example.com`,
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: { code: 250, enhanced_code: null, content: 'OK', command: '.\r\n' },
    peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
    timestamp: Math.floor(Date.now() / 1000),
    created: Math.floor(Date.now() / 1000),
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: { tenant: 'tenant_y' },
    headers: { Subject: 'Hello' },
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
  });
}

/** Node-RED, killed and started again on the same user directory; senders wait while it is down. */
class NodeRedHolder {
  constructor(options) {
    this.options = options;
    this.current = null;
    this.peakMB = 0;
    this.exitedAlone = 0;
    this.waiters = [];
    this.sampler = setInterval(() => this.sample(), 1000);
  }

  sample() {
    if (!this.current) return;
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${this.current.pid}/status`, 'utf8'));
      if (m) this.peakMB = Math.max(this.peakMB, Number(m[1]) / 1024);
    } catch {
      // The process is gone (killed a moment ago): its last sample stands.
    }
  }

  async start() {
    for (let tries = 1; ; tries++) {
      try {
        const nr = await startNodeRed({ ...this.options, userDir: this.options.userDir });
        this.current = nr;
        nr.process.once('exit', (code, signal) => {
          if (this.current !== nr) return;
          this.exitedAlone++;
          log(`Node-RED exited by itself (${code ?? signal}); its log:\n${nr.logTail(30)}`);
          this.current = null;
          this.start().catch((err) => log(`Node-RED did not start again: ${err.message}`));
        });
        for (const resolve of this.waiters.splice(0)) resolve(nr);
        return nr;
      } catch (err) {
        if (tries >= 5) throw err;
        log(`Node-RED did not start (${err.message.split('\n')[0]}); trying again`);
      }
    }
  }

  /** The running Node-RED, or the next one to start. */
  up() {
    return this.current ? Promise.resolve(this.current) : new Promise((resolve) => this.waiters.push(resolve));
  }

  async stop(signal) {
    const nr = this.current;
    if (!nr) return;
    this.sample();
    this.current = null;
    await nr.stop({ keep: true, signal });
  }

  close() {
    clearInterval(this.sampler);
  }
}

/**
 * One sender of a load: POSTs a body until it is accepted, as KumoMTA's queue does with a
 * message (anything but a 2xx, or no answer, is a transient failure: sent again after a
 * delay). Counts what happened to it in `stats`.
 */
async function deliver(holder, pathname, body, headers, stats, run) {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) stats.resent++;
    if (run.hardStop) return 'given-up';
    const nr = await holder.up();
    let status;
    let verdict = null;
    try {
      stats.sends++;
      const res = await fetch(`${nr.url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      status = res.status;
      verdict = res.headers.get('x-kumo-verdict');
      await res.arrayBuffer();
    } catch (err) {
      status = err.name === 'TimeoutError' ? 'timeout' : 'no answer';
    }
    if (typeof status === 'number' && status >= 200 && status < 300) return 'accepted';
    if (status === 422 && verdict === 'not-a-log-record') return 'bounced';
    stats.refused.set(status, (stats.refused.get(status) ?? 0) + 1);
    await sleep(between(RETRY_DELAY_MS));
  }
}

function newStats() {
  return { sends: 0, resent: 0, refused: new Map(), accepted: new Set(), bounced: 0, givenUp: 0 };
}

/** `workers` senders sharing one pace: a new unit every `intervalMs`, while the run lasts. */
function load(run, workers, intervalMs, unit) {
  let nextAt = Date.now();
  return Promise.all(
    Array.from({ length: workers }, async () => {
      while (!run.stopping) {
        const wait = nextAt - Date.now();
        nextAt = Math.max(nextAt, Date.now()) + intervalMs;
        if (wait > 0) await sleep(wait);
        if (run.stopping) return;
        await unit();
      }
    }),
  );
}

function seedLoad(holder, run, stats) {
  let n = 0;
  return load(run, 32, 1000 / RATE, async () => {
    const id = `seed-${n++}`;
    const outcome = await deliver(holder, '/soak/seed', JSON.stringify({ id }), {}, stats, run);
    if (outcome === 'accepted') stats.accepted.add(id);
    else if (outcome === 'given-up') stats.givenUp++;
    else stats.bounced++;
  });
}

function webhookLoads(holder, run, stats, { hookPath, secretHeader }) {
  let n = 0;
  const headers = { [secretHeader]: SECRET };
  const records = async (count) => {
    const ids = Array.from({ length: count }, () => `hook-${n++}`);
    const body = count === 1 ? logRecord(ids[0]) : `[${ids.map(logRecord).join(',')}]`;
    const outcome = await deliver(holder, hookPath, body, headers, stats, run);
    if (outcome === 'accepted') for (const id of ids) stats.accepted.add(id);
    else if (outcome === 'given-up') stats.givenUp += ids.length;
    else stats.bounced += ids.length; // a log record bounced: KumoMTA drops it, so it counts as lost
  };
  return Promise.all([
    load(run, 4, (1000 * BATCH) / RATE, () => records(BATCH)),
    load(run, 8, 5000 / RATE, () => records(1)),
    // Now and then a body that is no log record: KumoMTA's policy bounces it on the verdict.
    load(run, 1, 10000, async () => {
      const outcome = await deliver(holder, hookPath, '{"hello":"not a log record"}', headers, stats, run);
      if (outcome === 'bounced') stats.notRecordsBounced = (stats.notRecordsBounced ?? 0) + 1;
      else stats.notRecordsMisread = (stats.notRecordsMisread ?? 0) + 1;
    }),
  ]);
}

/** Ids in the ledger file and how often each was consumed. */
function readLedger(file) {
  const counts = new Map();
  if (!fs.existsSync(file)) return counts;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line) counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-soak-'));
  const ledgerFile = path.join(work, 'consumed.log');
  const userDir = path.join(work, 'node-red');
  fs.mkdirSync(userDir);
  const [port, distPort] = await brokers.freePorts(2);
  const instance = { name: `kumo-amqp-soak-${process.pid}`, port, distPort };
  const amqpUrl = brokers.amqpUrl(instance);
  const setup = soakFlows(amqpUrl);
  log(`broker ${instance.name} on ${port}; queues ${setup.queues.map((q) => q.name).join(', ')}; work ${work}`);

  let holder = null;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (holder) {
      holder.close();
      await holder.stop('SIGINT').catch(() => undefined);
    }
    await brokers.setMemoryAlarm(instance, false).catch(() => undefined);
    await brokers.stopInstance(instance).catch(() => undefined);
    fs.rmSync(instancePaths(instance).base, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    log('interrupted: stopping Node-RED and the broker');
    cleanup().finally(() => process.exit(130));
  });

  try {
    await brokers.startFresh(instance);
    const side = await amqp.connect(amqpUrl);
    const ch = await side.createChannel();
    for (const q of setup.queues) await ch.assertQueue(q.name, { durable: true, arguments: q.args });
    await side.close();

    holder = new NodeRedHolder({
      flows: setup.flows,
      credentials: setup.credentials,
      modules: [PACK],
      userDir,
      env: { SOAK_LEDGER: ledgerFile },
    });
    await holder.start();
    log(
      `Node-RED at ${holder.current.url}; loads for ${MINUTES} min at ${RATE}/s each, a fault every ~${FAULT_EVERY_S} s`,
    );

    const run = { stopping: false, hardStop: false };
    const seed = newStats();
    const hook = newStats();
    const loads = Promise.all([seedLoad(holder, run, seed), webhookLoads(holder, run, hook, setup)]);

    const faults = new Map();
    const faultErrors = [];
    const FAULTS = {
      'connections closed': async () => {
        const { stdout } = await brokers.ctl(instance, ['-q', 'list_connections', 'pid']);
        for (const pid of stdout.split('\n').filter((l) => /^<.*>$/.test(l.trim())))
          await brokers.ctl(instance, ['close_connection', pid.trim(), 'soak: connection closed'], {
            allowFailure: true,
          });
      },
      'broker restarted': () => brokers.restartBroker(instance),
      'memory alarm': async () => {
        await brokers.setMemoryAlarm(instance, true);
        await sleep(between([3000, 15000]));
        await brokers.setMemoryAlarm(instance, false);
      },
      redeploy: async () => {
        const nr = await holder.up();
        const current = await (await fetch(`${nr.url}/flows`, { signal: AbortSignal.timeout(30000) })).json();
        const res = await fetch(`${nr.url}/flows`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
          body: JSON.stringify(current),
          signal: AbortSignal.timeout(60000),
        });
        if (res.status !== 204 && res.status !== 200) throw new Error(`POST /flows answered ${res.status}`);
      },
      'Node-RED killed (SIGKILL)': async () => {
        await holder.stop('SIGKILL');
        await holder.start();
      },
    };
    const kinds = Object.keys(FAULTS);
    const endAt = started + MINUTES * 60000;
    const progress = setInterval(() => {
      const consumed = readLedger(ledgerFile).size;
      log(
        `accepted ${seed.accepted.size} generated + ${hook.accepted.size} log records, consumed ${consumed}; faults ${[...faults].map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'}`,
      );
    }, 30000);
    while (Date.now() < endAt) {
      await sleep(Math.min(endAt - Date.now(), between([FAULT_EVERY_S * 500, FAULT_EVERY_S * 1500])));
      if (Date.now() >= endAt) break;
      const kind = kinds[Math.floor(Math.random() * kinds.length)];
      faults.set(kind, (faults.get(kind) ?? 0) + 1);
      log(`fault: ${kind}`);
      try {
        await FAULTS[kind]();
      } catch (err) {
        faultErrors.push(`${kind}: ${err.message}`);
        log(`fault ${kind} failed: ${err.message}`);
      }
    }
    const loadSeconds = (Date.now() - started) / 1000;
    const acceptedInLoad = seed.accepted.size + hook.accepted.size;

    log('loads stop; what was refused is sent again until accepted');
    run.stopping = true;
    let drainTimer;
    const accepting = await Promise.race([
      loads.then(() => true),
      new Promise((resolve) => {
        drainTimer = setTimeout(() => resolve(false), DRAIN_ACCEPT_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    if (!accepting) {
      run.hardStop = true;
      await loads;
    }
    log('waiting until every accepted id is consumed');
    const accepted = [...seed.accepted, ...hook.accepted];
    const drainStart = Date.now();
    let consumed = readLedger(ledgerFile);
    let missing = accepted.filter((id) => !consumed.has(id));
    while (missing.length > 0 && Date.now() - drainStart < DRAIN_CONSUME_MS) {
      await sleep(1000); // another process's file: nothing to await
      consumed = readLedger(ledgerFile);
      missing = missing.filter((id) => !consumed.has(id));
    }
    clearInterval(progress);
    const seconds = (Date.now() - started) / 1000;
    const peakMB = holder.peakMB;
    const exitedAlone = holder.exitedAlone;
    await cleanup();

    const acceptedSet = new Set(accepted);
    let deliveries = 0;
    let duplicates = 0;
    let unanswered = 0;
    let strangers = 0;
    for (const [id, count] of consumed) {
      deliveries += count;
      duplicates += count - 1;
      if (!acceptedSet.has(id)) {
        if (/^(seed|hook)-\d+$/.test(id)) unanswered++;
        else strangers++;
      }
    }
    const refused = (stats) =>
      [...stats.refused]
        .sort((a, b) => b[1] - a[1])
        .map(([status, count]) => `${status} ×${count}`)
        .join(', ') || 'none';
    const lost = missing.length + hook.bounced;
    const lines = [
      '',
      `soak: ${MINUTES} min of load and faults, ${seconds.toFixed(0)} s in all, Node ${process.version}, ${os.cpus().length} cores`,
      `lost: ${lost} (accepted and never consumed: ${missing.length}; log records bounced: ${hook.bounced})`,
      `accepted: ${seed.accepted.size} generated messages (202 from the seed's routing, spool on), ${hook.accepted.size} log records (2xx from the webhook example)`,
      `consumed: ${consumed.size} ids in ${deliveries} deliveries; duplicates ${duplicates}; consumed but never accepted (sent, the answer lost, given up by the drain) ${unanswered}; unknown ids ${strangers}`,
      `refused and sent again: generator ${seed.resent} of ${seed.sends} requests (${refused(seed)}); log hook client ${hook.resent} of ${hook.sends} requests (${refused(hook)})`,
      `not log records: ${hook.notRecordsBounced ?? 0} bounced on the 422 verdict, ${hook.notRecordsMisread ?? 0} answered otherwise`,
      `never accepted (the drain gave up): ${seed.givenUp + hook.givenUp}`,
      `faults: ${kinds.map((k) => `${k} ${faults.get(k) ?? 0}`).join(', ')}${faultErrors.length ? `; failed to inject: ${faultErrors.join('; ')}` : ''}`,
      `Node-RED exited by itself: ${exitedAlone}`,
      `peak RSS of Node-RED: ${peakMB.toFixed(0)} MB`,
      `throughput under faults: ${(acceptedInLoad / loadSeconds).toFixed(0)} accepted/s, ${(deliveries / seconds).toFixed(0)} consumed/s over the whole run`,
    ];
    if (missing.length) lines.push(`lost ids (first 20): ${missing.slice(0, 20).join(', ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    const failed = lost > 0 || seed.givenUp + hook.givenUp > 0 || strangers > 0 || exitedAlone > 0;
    if (failed) log(`kept for inspection: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
    process.exitCode = failed ? 1 : 0;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

main().catch((err) => {
  process.stderr.write(`soak failed: ${err.stack || err}\n`);
  process.exit(2);
});
