#!/usr/bin/env node
'use strict';
// npm run bench: throughput, publish-to-confirm latency and peak RSS of raw
// amqplib, the seed's way, this pack's nodes in a real Node-RED, the webhook
// example over HTTP, Node-RED's bare HTTP and node-red-contrib-amqp, in one run
// on one broker (see docs/performance.md).
//
//   BENCH_N=20000 (default)  messages per run; 3 runs per row, the median is printed
//   BENCH_RUNS=7             more rounds per row (the pairs: a ratio of medians over more rounds)
//   AMQP_URL=amqp://...      reuse a broker, else a private RabbitMQ is started (port 5697) and stopped
//   BENCH_ROWS=a,d,e         only some rows (default all: a,a128,a800,b,c,d,e,e_nospool,e_nometrics,e1000,e_b,e_b_nospool,e_b_nometrics,f,f_b,h,g)
//   BENCH_SYNC_DELIVERY=1    Node-RED with runtimeSyncDelivery (wires deliver synchronously)
//   BENCH_NODE_ARGS='--max-semi-space-size=64'   Node.js options for every measured process (Node-RED and raw amqplib's)
// Each row that has a peer is also given as a ratio to it, at the same window:
// a128 (a′) raw amqplib with the custom protocol's default 128 in flight, for (e);
// e1000 (e′) the routing with max in flight raised to (a)'s 1000; a800 (a″) raw
// amqplib with 800 in flight, for e_b (the routing with the rule's batch_size 100,
// max in flight 800) and f_b (the webhook example fed KumoMTA batches of 100
// records, 8 requests at once: 800 records in flight); h Node-RED's bare
// http in → http response with (f)'s 64 clients, for (f). e_nospool and e_b_nospool are (e)
// and (e_b) with the custom protocol's spool off: what keeping every accepted message on disk
// costs, with the bytes the Node-RED process sent to storage and its fsyncs per delivery.
// The routing rows run as an operator runs them: the admin API serves /kumo/metrics, which the
// bench scrapes every second as Prometheus would; e_nometrics and e_b_nometrics are (e) and
// (e_b) with the pack's metrics off (settings.js kumoMetrics: false: nothing counted or served).
// Needs `npm run build` first (Node-RED loads the built nodes/).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { execFile, execFileSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const lib = require('./lib');

const CAPPED_HEAP_MB = 64;
const flows = require('./flows');

const { ROOT, PEER_DIR, BODY_SIZE, log, median, latencyStats, sleep } = lib;
const N = Math.max(100, Number(process.env.BENCH_N) || 20000);
// Rounds per row (odd, so a median is one run); more rounds narrow what a noisy machine moves a ratio by.
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || 3);
const WINDOW = Number(process.env.BENCH_WINDOW) || 1000; // messages in flight in (a), (d), (e); BENCH_WINDOW only for experiments
const CLIENTS = 64; // (f), (h)
const BATCH = 100; // records per request in (f_b), the rule's batch_size in (e_b)
const BATCH_CLIENTS = 8; // requests at once in (f_b)
const BATCH_WINDOW = BATCH * BATCH_CLIENTS; // (a″), (e_b): what (f_b) has in flight
const ALL_ROWS = 'a,a128,a800,b,c,d,e,e_nospool,e_nometrics,e1000,e_b,e_b_nospool,e_b_nometrics,f,f_b,h,g';
// The routing rows' metrics: served on the admin API and scraped every second, as Prometheus would.
const METRICS_ON = { settings: { httpAdminRoot: '/admin' }, scrape: '/admin/kumo/metrics' };
// The same admin API, the pack's metrics off: what differs is the pack's counting, collecting and serving.
const METRICS_OFF = { settings: { httpAdminRoot: '/admin', kumoMetrics: false } };
const ROWS = (process.env.BENCH_ROWS || ALL_ROWS).split(',').map((s) => s.trim());

function checkBuilt() {
  const missing = ['amqp-publish', 'kumo-queue-config', 'kumo-custom-protocol', 'amqp-broker'].filter(
    (n) => !fs.existsSync(path.join(ROOT, 'nodes', n, `${n}.js`)),
  );
  if (missing.length) throw new Error(`nodes/${missing[0]}/${missing[0]}.js is missing: run \`npm run build\` first`);
  const newest = (dir, ext) => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith(ext))
        t = Math.max(t, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs);
    }
    return t;
  };
  if (newest(path.join(ROOT, 'src'), '.ts') > newest(path.join(ROOT, 'nodes'), '.js'))
    log('warning: src/ is newer than nodes/; run `npm run build` to bench the current code');
}

function machine() {
  const cpus = os.cpus();
  return { cpu: cpus.length ? cpus[0].model.trim() : 'unknown', cores: cpus.length };
}

// ---- raw amqplib rows, each in a child process -------------------------------

/** `nodeArgs`: Node.js options of this run only (bench/profile.js adds the profiler's). */
function rawRow(row, n, warmup, url, runs, window, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        ...lib.benchNodeArgs(),
        ...nodeArgs,
        path.join(__dirname, 'raw.js'),
        JSON.stringify({ row, n, runs, warmup, url, window }),
      ],
      { maxBuffer: 1 << 24, timeout: 600000 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`raw.js ${row} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop()));
      },
    );
  });
}

// ---- Node-RED rows -----------------------------------------------------------------

/** One run through the bench driver node: POST /bench/start answers when all n are settled. */
async function benchRun(nr, n, window = WINDOW) {
  const timeoutMs = 60000 + n * 10;
  let result;
  try {
    result = await nr.post('/bench/start', { n, window, size: BODY_SIZE }, timeoutMs);
  } catch (err) {
    const progress = await nr.get('/bench/status').catch(() => ({}));
    throw new Error(`${err.message} (progress ${JSON.stringify(progress)})`);
  }
  if (result.failed > 0) throw new Error(`${result.failed} of ${n} messages failed, first: ${result.firstError}`);
  return { n, ms: result.ms, p50: result.p50, p99: result.p99, clockUs: result.clockUs };
}

/*
 * A row as a subject that the rounds interleave: open() once (start Node-RED,
 * warm up), run() once per round, close(). Interleaving the rows run by run
 * makes a ratio to (a) compare runs taken a few seconds apart, which matters
 * on a shared, noisy machine.
 */

/** Rows (a)-(c): a fresh child process per run (its own warm-up; its own peak RSS). */
function rawSubject(row, n, warmup, url, window = WINDOW) {
  let peakMB = NaN;
  return {
    open: async () => undefined,
    async run() {
      const result = await rawRow(row, n, warmup, url, 1, window);
      peakMB = Number.isFinite(peakMB) ? Math.max(peakMB, result.peakMB) : result.peakMB;
      return result.runs[0];
    },
    extras: () => ({ peakMB }),
    close: async () => undefined,
  };
}

/**
 * Rows (d)-(h): one Node-RED process for all runs; its VmHWM is the row's peak RSS.
 * published: how many messages a run of n leaves in the queue (none for (h)).
 * disk: watch what the process writes to disk over the measured runs (lib.diskProbe).
 */
function nodeRedSubject(
  side,
  start,
  runOnce,
  { n = N, warmup = Math.min(1000, n), after = null, published = (count) => count, disk = false, scrape = null } = {},
) {
  let nr = null;
  let runs = 0;
  let probe = null;
  const extras = {
    peakMB: NaN,
    firstPeakMB: NaN,
    idleMB: NaN,
    countMismatch: null,
    disk: null,
    deliveries: 0,
    scrapes: 0,
    scrapeErrors: 0,
  };
  const withLog = (err) =>
    new Error(`${err.message}${nr ? `\n--- Node-RED log (tail) ---\n${nr.log.slice(-2000)}` : ''}`);
  return {
    async open() {
      nr = await start();
      try {
        await runOnce(nr, warmup);
      } catch (err) {
        throw withLog(err);
      }
      extras.idleMB = nr.memory().rss;
      if (disk) probe = await lib.diskProbe(nr.pid);
    },
    async run() {
      await side.purge();
      let result;
      const cpu0 = nr.cpuUs();
      // As Prometheus would: one scrape a second while the run lasts.
      const scraper = scrape
        ? setInterval(() => {
            nr.getText(scrape).then(
              () => extras.scrapes++,
              () => extras.scrapeErrors++,
            );
          }, 1000)
        : null;
      try {
        result = await runOnce(nr, n);
      } catch (err) {
        throw withLog(err);
      } finally {
        if (scraper) clearInterval(scraper);
      }
      result.cpuUsPerMsg = (nr.cpuUs() - cpu0) / n;
      runs++;
      extras.deliveries += n;
      if (runs === 1) extras.firstPeakMB = nr.memory().peak;
      // Every message confirmed once: the queue holds exactly n (more = a duplicate published, e.g. by a retry).
      const count = await side.count();
      if (count !== published(n) && !extras.countMismatch)
        extras.countMismatch = `run ${runs}: the queue held ${count} messages for ${published(n)} confirmed`;
      await side.purge();
      return result;
    },
    extras() {
      if (nr) extras.peakMB = nr.memory().peak;
      return extras;
    },
    async close() {
      if (!nr) return;
      extras.peakMB = nr.memory().peak;
      if (probe) {
        // The journal's last lines (the ends of the last run's deliveries) are written after the
        // retry store's flush delay (200 ms): wait past it, then read the counts before a clean
        // close writes anything.
        await sleep(1000);
        extras.disk = await probe.stop();
        probe = null;
      }
      try {
        if (after) await after(nr, extras);
      } finally {
        await nr.stop();
        nr = null;
      }
    },
  };
}

/** Opens the subjects, runs `runs` rounds of one run each, closes them; a failing row is reported, not fatal. */
async function runRounds(steps, runs) {
  const live = [];
  for (const step of steps) {
    log(`open ${step.label}`);
    step.runs = [];
    try {
      step.subject = step.make();
      await step.subject.open();
      live.push(step);
    } catch (err) {
      log(`row ${step.row} failed: ${err.message}`);
      step.error = err.message.split('\n')[0].slice(0, 160);
      if (step.subject) await step.subject.close().catch(() => undefined);
    }
  }
  for (let round = 1; round <= runs; round++) {
    // Each round starts one row later: a row that suffers from the one before it (the broker
    // still writing that row's messages to disk) is not always the same row.
    const shift = (round - 1) % Math.max(1, live.length);
    for (const step of [...live.slice(shift), ...live.slice(0, shift)].filter((s) => !s.error)) {
      const t = performance.now();
      try {
        step.runs.push(await step.subject.run());
        log(`round ${round}/${runs} row ${step.row}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
      } catch (err) {
        log(`row ${step.row} failed: ${err.message}`);
        step.error = err.message.split('\n')[0].slice(0, 160);
      }
    }
  }
  for (const step of live) {
    try {
      await step.subject.close();
    } catch (err) {
      log(`closing row ${step.row}: ${err.message}`);
    }
    step.extras = step.subject.extras();
  }
}

/** (f) n POSTs of a 1 KiB KumoMTA log record from CLIENTS keep-alive clients; latency = the HTTP round trip. */
function webhookRun(nr, n) {
  return httpLoad(nr, '/kumomta/log', n);
}

/**
 * (f_b) n records as KumoMTA's batched log hook posts them (send_batch): JSON arrays of
 * BATCH records, BATCH_CLIENTS requests at once; latency = a request's round trip.
 */
function batchWebhookRun(nr, n) {
  const requests = Math.ceil(n / BATCH);
  // Built before the clock starts: the bench process shares the cores with what it measures.
  const bodies = Array.from({ length: requests }, (_, r) => {
    const records = [];
    for (let i = r * BATCH; i < Math.min(n, (r + 1) * BATCH); i++) records.push(logRecord(i));
    return Buffer.from(`[${records.join(',')}]`);
  });
  return httpLoad(nr, '/kumomta/log', requests, { clients: BATCH_CLIENTS, body: (r) => bodies[r], records: n });
}

/** (h) the same requests as (f) against Node-RED's bare http in → http response. */
function bareHttpRun(nr, n) {
  return httpLoad(nr, '/bench/echo', n);
}

/** `requests` POSTs from `clients` keep-alive clients, each answered 200; n in the result is `records`. */
async function httpLoad(nr, pathname, requests, { clients = CLIENTS, body = logRecord, records = requests } = {}) {
  const n = requests;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL(pathname, nr.url);
  const latencies = new Float64Array(n);
  let next = 0;
  let failure = null;
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve()
              : reject(new Error(`answered ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`)),
          );
        },
      );
      req.on('error', reject);
      req.setTimeout(70000, () => req.destroy(new Error('no answer within 70 s')));
      req.end(body);
    });
  const start = performance.now();
  const startUs = Number(process.hrtime.bigint() / 1000n);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n && !failure) {
        const i = next++;
        const t0 = performance.now();
        try {
          await post(body(i));
        } catch (err) {
          failure = failure || err;
          return;
        }
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const ms = performance.now() - start;
  agent.destroy();
  if (failure) throw failure;
  // clockUs: the run on the system's monotonic clock, which a CPU profile of Node-RED uses too.
  return { n: records, ms, ...latencyStats(latencies), clockUs: [startUs, Number(process.hrtime.bigint() / 1000n)] };
}

/** A KumoMTA Delivery log record (reference/log_record.md), padded to exactly 1 KiB of JSON. */
function logRecord(i) {
  const record = {
    type: 'Delivery',
    id: `${String(i).padStart(8, '0')}d98076abbbc11ed940250ebf67f9`,
    sender: 'noreply@example.com',
    recipient: `user${i}@example.com`,
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: { code: 250, enhanced_code: null, content: 'OK', command: '.\r\n' },
    peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
    timestamp: 1678069691,
    created: 1678069690,
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: { tenant: 'tenant_y', padding: '' },
    headers: { Subject: 'Hello' },
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
  };
  record.meta.padding = 'x'.repeat(Math.max(0, BODY_SIZE - Buffer.byteLength(JSON.stringify(record))));
  return Buffer.from(JSON.stringify(record));
}

/** (g) fire-and-forget: timed from the start request until the queue holds all n. */
async function peerRun(side, nr, n) {
  const start = performance.now();
  await nr.post('/bench/start', { n, window: n, size: BODY_SIZE, mode: 'fire' }, 10000);
  const deadline = start + 60000 + n * 10;
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const count = await side.count();
    if (count >= n) break;
    const t = performance.now();
    if (count !== last) {
      last = count;
      lastChange = t;
    }
    if (t > deadline || t - lastChange > 20000) throw new Error(`only ${count} of ${n} messages reached the queue`);
    await sleep(5);
  }
  return { n, ms: performance.now() - start, p50: NaN, p99: NaN };
}

// "amqp out" only listens for input once its queue is declared; until then messages are dropped.
async function peerReady(side, nr) {
  const deadline = performance.now() + 30000;
  await side.purge();
  while ((await side.count()) === 0) {
    if (performance.now() > deadline) throw new Error('node-red-contrib-amqp did not publish within 30 s of starting');
    await nr.post('/bench/start', { n: 1, window: 1, size: BODY_SIZE, mode: 'fire' }, 10000);
    await sleep(200);
  }
  await side.purge();
}

function ensurePeer() {
  const main = path.join(PEER_DIR, 'node_modules', 'node-red-contrib-amqp', 'package.json');
  if (!fs.existsSync(main)) {
    log('installing node-red-contrib-amqp into bench/.peer (for row g only)');
    fs.mkdirSync(PEER_DIR, { recursive: true });
    if (!fs.existsSync(path.join(PEER_DIR, 'package.json')))
      fs.writeFileSync(path.join(PEER_DIR, 'package.json'), '{"name":"kumo-bench-peer","private":true}\n');
    execFileSync(
      'npm',
      ['install', '--prefix', PEER_DIR, '--no-audit', '--no-fund', '--no-save', 'node-red-contrib-amqp'],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300000 },
    );
  }
  const pkg = JSON.parse(fs.readFileSync(main, 'utf8'));
  require(path.join(PEER_DIR, 'node_modules', 'amqp-ts')); // fails here, not in Node-RED, if it cannot load
  return pkg.version;
}

// ---- table ------------------------------------------------------------------------

function summarise(runs) {
  const rate = median(runs.map((r) => (r.n / r.ms) * 1000));
  return {
    rate,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpuUsPerMsg)),
    n: runs[0].n,
  };
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const ratio = (x) => (Number.isFinite(x) ? (x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)) : 'n/a');
const SHORT = {
  a128: 'a′',
  a800: 'a″',
  e1000: 'e′',
  e_nospool: 'e°',
  e_b_nospool: 'e_b°',
  e_nometrics: 'e×',
  e_b_nometrics: 'e_b×',
};

/** SPEC section 6: each row against its peer at the same window (or the same HTTP clients). */
const TARGETS = [
  { row: 'd', peer: 'a', min: 0.95, what: `amqp publish alone at the same window (${WINDOW} in flight each)` },
  { row: 'e', peer: 'a128', min: 0.9, what: `routing at the same window (${flows.MAX_IN_FLIGHT} in flight each)` },
  { row: 'e1000', peer: 'a', min: 0.9, what: `routing at the same window (${WINDOW} in flight each)` },
  {
    row: 'e_b',
    peer: 'a800',
    min: 0.9,
    what: `routing with batch_size ${BATCH} at the same window (${BATCH_WINDOW} in flight each)`,
  },
  {
    row: 'f_b',
    peer: 'a800',
    min: 0.8,
    what: `log hook in fed KumoMTA batches of ${BATCH}, ${BATCH_CLIENTS} requests at once, records/s`,
  },
  {
    row: 'f',
    peer: 'h',
    min: 0.6,
    what: `log hook in, one record per request, against bare HTTP (${CLIENTS} clients each)`,
  },
  { row: 'e', peer: 'e_nospool', min: 0.8, what: 'the spool on against off, routing' },
  { row: 'e_b', peer: 'e_b_nospool', min: 0.8, what: `the spool on against off, routing with batch_size ${BATCH}` },
  { row: 'e', peer: 'e_nometrics', min: 0.97, what: 'metrics on (scraped every second) against off, routing' },
  {
    row: 'e_b',
    peer: 'e_b_nometrics',
    min: 0.97,
    what: `metrics on (scraped every second) against off, routing with batch_size ${BATCH}`,
  },
];

/** The spool's cost: each routing row with the spool on beside the same row with it off. */
const SPOOL_PAIRS = [
  ['e', 'e_nospool'],
  ['e_b', 'e_b_nospool'],
];

async function main() {
  const unknown = ROWS.filter((row) => !ALL_ROWS.split(',').includes(row));
  if (unknown.length) throw new Error(`BENCH_ROWS: no row ${unknown.join(', ')} (rows: ${ALL_ROWS})`);
  checkBuilt();
  const started = new Date();
  const pack = lib.snapshotPack();
  const broker = await lib.acquireBroker().catch((err) => {
    pack.remove();
    throw err;
  });
  let side = null;
  const rows = [];
  const notes = [];
  let memory = null;
  try {
    side = await lib.openSide(broker.url);
    await side.purge();
    const { cpu, cores } = machine();
    log(`N=${N}, broker RabbitMQ ${side.version}`);
    const nodeRed =
      (make, { nodeArgs = [], settings = {} } = {}) =>
      () =>
        lib.startNodeRed({ flows: make(broker.url), modules: [pack], nodeArgs, settings });
    const plan = [
      {
        row: 'a',
        label: `a. raw amqplib, pipelined confirms (≤${WINDOW} in flight)`,
        make: () => rawSubject('a', N, 500, broker.url),
      },
      {
        row: 'a128',
        label: `a′. raw amqplib, ≤${flows.MAX_IN_FLIGHT} in flight (the window of e)`,
        make: () => rawSubject('a', N, 500, broker.url, flows.MAX_IN_FLIGHT),
      },
      {
        row: 'a800',
        label: `a″. raw amqplib, ≤${BATCH_WINDOW} in flight (the window of e_b, f_b)`,
        make: () => rawSubject('a', N, 500, broker.url, BATCH_WINDOW),
      },
      {
        row: 'b',
        label: 'b. raw amqplib, wait for each confirm',
        note: 'N/10',
        make: () => rawSubject('b', Math.max(10, Math.round(N / 10)), 50, broker.url),
      },
      {
        row: 'c',
        label: "c. seed's way: new connection per message",
        note: 'N/50',
        make: () => rawSubject('c', Math.max(5, Math.round(N / 50)), 5, broker.url),
      },
      {
        row: 'd',
        label: 'd. amqp publish node alone (Node-RED)',
        make: () => nodeRedSubject(side, nodeRed(flows.publishAlone), benchRun),
      },
      {
        row: 'e',
        label: `e. queue config ⇒ custom protocol → amqp publish (max in flight ${flows.MAX_IN_FLIGHT})`,
        peer: 'a128',
        make: () =>
          nodeRedSubject(side, nodeRed(flows.fullRouting, METRICS_ON), benchRun, {
            disk: true,
            scrape: METRICS_ON.scrape,
          }),
      },
      {
        row: 'e_nospool',
        label: `e°. the same, spool off`,
        make: () =>
          nodeRedSubject(
            side,
            nodeRed((url) => flows.fullRouting(url, flows.MAX_IN_FLIGHT, { spool: false }), METRICS_ON),
            benchRun,
            { disk: true, scrape: METRICS_ON.scrape },
          ),
      },
      {
        row: 'e_nometrics',
        label: `e×. the same as e, metrics off (kumoMetrics: false)`,
        make: () => nodeRedSubject(side, nodeRed(flows.fullRouting, METRICS_OFF), benchRun, { disk: true }),
      },
      {
        row: 'e1000',
        label: `e′. the same, max in flight ${WINDOW} (the window of a)`,
        peer: 'a',
        make: () =>
          nodeRedSubject(
            side,
            nodeRed((url) => flows.fullRouting(url, WINDOW), METRICS_ON),
            benchRun,
            { scrape: METRICS_ON.scrape },
          ),
      },
      {
        row: 'e_b',
        label: `e_b. the same, the rule's batch_size ${BATCH}, max in flight ${BATCH_WINDOW}`,
        peer: 'a800',
        make: () =>
          nodeRedSubject(
            side,
            nodeRed((url) => flows.fullRouting(url, BATCH_WINDOW, { batchSize: BATCH }), METRICS_ON),
            (nr, n) => benchRun(nr, n, BATCH_WINDOW),
            { disk: true, scrape: METRICS_ON.scrape },
          ),
      },
      {
        row: 'e_b_nospool',
        label: `e_b°. the same as e_b, spool off`,
        make: () =>
          nodeRedSubject(
            side,
            nodeRed((url) => flows.fullRouting(url, BATCH_WINDOW, { batchSize: BATCH, spool: false }), METRICS_ON),
            (nr, n) => benchRun(nr, n, BATCH_WINDOW),
            { disk: true, scrape: METRICS_ON.scrape },
          ),
      },
      {
        row: 'e_b_nometrics',
        label: `e_b×. the same as e_b, metrics off (kumoMetrics: false)`,
        make: () =>
          nodeRedSubject(
            side,
            nodeRed((url) => flows.fullRouting(url, BATCH_WINDOW, { batchSize: BATCH }), METRICS_OFF),
            (nr, n) => benchRun(nr, n, BATCH_WINDOW),
            { disk: true },
          ),
      },
      {
        row: 'f',
        label: `f. log hook in (the webhook example) over HTTP, one record per request, ${CLIENTS} keep-alive clients`,
        peer: 'h',
        make: () => nodeRedSubject(side, nodeRed(flows.webhookExample), webhookRun, { warmup: 500 }),
      },
      {
        row: 'f_b',
        label: `f_b. log hook in (the webhook example), KumoMTA batches of ${BATCH} records, ${BATCH_CLIENTS} requests at once${flows.WEBHOOK_MAX_IN_FLIGHT ? ` (max in flight ${flows.WEBHOOK_MAX_IN_FLIGHT})` : ''}`,
        unit: 'records',
        peer: 'a800',
        make: () => nodeRedSubject(side, nodeRed(flows.webhookExample), batchWebhookRun, { warmup: 10 * BATCH }),
      },
      {
        row: 'h',
        label: `h. Node-RED's bare http in → http response, ${CLIENTS} keep-alive clients`,
        unit: 'requests',
        make: () => nodeRedSubject(side, nodeRed(flows.bareHttp), bareHttpRun, { warmup: 500, published: () => 0 }),
      },
      {
        row: 'g',
        label: 'g. node-red-contrib-amqp "amqp out" (no confirms)',
        make: () => {
          const version = ensurePeer();
          notes.push(
            `(g) node-red-contrib-amqp ${version} (amqp-ts, amqplib 0.4) has no publisher confirms: msg/s is timed until the queue holds all N (routed, not necessarily on disk); no latency.`,
          );
          const { flows: peerFlows, credentials } = flows.peerOut(broker.url);
          const dir = path.join(PEER_DIR, 'node_modules', 'node-red-contrib-amqp');
          return nodeRedSubject(
            side,
            async () => {
              const nr = await lib.startNodeRed({
                flows: peerFlows,
                credentials,
                modules: [{ name: 'node-red-contrib-amqp', dir }],
              });
              await peerReady(side, nr).catch(async (err) => {
                await nr.stop();
                throw err;
              });
              return nr;
            },
            (nr, n) => peerRun(side, nr, n),
          );
        },
      },
    ];
    const chosen = plan.filter((s) => ROWS.includes(s.row));
    // All rows interleaved run by run, so that a ratio compares runs taken seconds apart.
    // A run of (f) or (f_b) ends only when every request is answered, that is when every
    // record is settled, so nothing of it (a retry, say) overlaps the next row's run.
    const t0 = performance.now();
    await runRounds(chosen, RUNS);
    log(`rows took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    for (const step of chosen) {
      if (!step.error && step.runs.length === 0) step.error = 'no run completed';
      if (step.error) {
        rows.push(step);
        continue;
      }
      rows.push({ ...step, ...summarise(step.runs), peakMB: step.extras.peakMB, raw: step.extras });
      if (step.extras.countMismatch) notes.push(`(${step.row}) not exactly once: ${step.extras.countMismatch}.`);
      if (step.extras.scrapes || step.extras.scrapeErrors)
        notes.push(
          `(${SHORT[step.row] || step.row}) /kumo/metrics scraped ${step.extras.scrapes} times during its runs, ${step.extras.scrapeErrors} failed.`,
        );
    }
    if (ROWS.includes('e')) {
      log(`row e at 5N = ${5 * N}, one run, fresh Node-RED`);
      const big = {
        row: 'e',
        label: 'e at 5N',
        make: () => nodeRedSubject(side, nodeRed(flows.fullRouting), benchRun, { n: 5 * N }),
      };
      await runRounds([big], 1);
      const e = rows.find((r) => r.row === 'e');
      if (big.error || big.runs.length === 0) {
        memory = { error: big.error || 'no run completed' };
      } else {
        if (big.extras.countMismatch) notes.push(`(e) at 5N not exactly once: ${big.extras.countMismatch}.`);
        memory = {
          atN: e?.raw ? e.raw.firstPeakMB : NaN,
          at5N: big.extras.peakMB,
          idle: big.extras.idleMB,
          rate5N: (big.runs[0].n / big.runs[0].ms) * 1000,
        };
      }
      // Without a cap V8 lets garbage pile up before collecting, so peak RSS follows the run's
      // length; with the heap capped, what stays is what is really held.
      memory.capped = {};
      for (const [key, n] of [
        ['atN', N],
        ['at5N', 5 * N],
      ]) {
        log(`row e at ${n} with the heap capped at ${CAPPED_HEAP_MB} MB, one run, fresh Node-RED`);
        const step = {
          row: 'e',
          label: `e capped at ${n}`,
          make: () =>
            nodeRedSubject(
              side,
              nodeRed(flows.fullRouting, { nodeArgs: [`--max-old-space-size=${CAPPED_HEAP_MB}`] }),
              benchRun,
              {
                n,
              },
            ),
        };
        await runRounds([step], 1);
        memory.capped[key] = step.error || step.runs.length === 0 ? NaN : step.extras.peakMB;
      }
    }

    const done = (row) => rows.find((r) => r.row === row && !r.error);
    const a = done('a');
    const lines = [];
    lines.push(
      `Date: ${started.toISOString()}  ·  Node ${process.version}  ·  CPU: ${cpu} × ${cores} cores  ·  RabbitMQ ${side.version} on loopback`,
    );
    lines.push(
      `N = ${N}, 1 KiB persistent messages to a durable queue (purged between runs), median of ${RUNS} runs after a warm-up, all rows interleaved run by run; f_b counts records (${BATCH} per request), h requests; CPU µs/msg = user + system CPU time of the publishing process (the Node-RED process for d-h, without the HTTP clients) per message, record or request; peak RSS = its VmHWM.`,
    );
    lines.push('');
    lines.push(
      `| row | messages | msg/s (median of ${RUNS}) | p50 ms | p99 ms | CPU µs/msg | peak RSS MB | ratio to (a) | ratio to its peer |`,
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      if (r.error) {
        lines.push(`| ${r.label} | ${r.note || N} | n/a (${r.error.replace(/\|/g, '/')}) | | | | | | |`);
        continue;
      }
      const peer = r.peer ? done(r.peer) : null;
      const toPeer = peer ? `${ratio(r.rate / peer.rate)} × (${SHORT[peer.row] || peer.row})` : '';
      const count = r.unit ? `${r.n} ${r.unit}` : `${r.n}`;
      lines.push(
        `| ${r.label} | ${count}${r.note ? ` (${r.note})` : ''} | ${fmt(r.rate, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpu, 0)} | ${fmt(r.peakMB, 0)} | ${a ? ratio(r.rate / a.rate) : 'n/a'} | ${toPeer} |`,
      );
    }
    lines.push('');
    const targets = TARGETS.filter((t) => done(t.row) && done(t.peer));
    if (targets.length) {
      lines.push('Targets (ratios of medians in this run):');
      for (const t of targets) {
        const [row, peer] = [done(t.row), done(t.peer)];
        const x = row.rate / peer.rate;
        // Round by round: the two runs of a round were taken seconds apart.
        const rate = (run) => run.n / run.ms;
        const rounds = row.runs.map((run, i) => (peer.runs[i] ? (rate(run) / rate(peer.runs[i])).toFixed(2) : 'n/a'));
        lines.push(
          `- ${t.what}: (${SHORT[t.row] || t.row})/(${SHORT[t.peer] || t.peer}) = ${x.toFixed(2)} (by round ${rounds.join(', ')}), target ≥ ${t.min}: ${x >= t.min ? 'met' : 'not met'}`,
        );
      }
      lines.push('');
    }
    const spoolPairs = SPOOL_PAIRS.filter(([on, off]) => done(on) || done(off));
    if (spoolPairs.length) {
      lines.push(
        'The spool: bytes the Node-RED process sent to storage (/proc/<pid>/io write_bytes: whole pages) and its fsync + fdatasync calls (perf stat, syscall tracepoints), per delivery, over the measured runs:',
      );
      lines.push('');
      lines.push(
        `| routing | spool | msg/s (median of ${RUNS}) | on / off | disk bytes per delivery | fsyncs per delivery |`,
      );
      lines.push('|---|---|---:|---:|---:|---:|');
      for (const [on, off] of spoolPairs) {
        for (const [row, spool] of [
          [on, 'on'],
          [off, 'off'],
        ]) {
          const r = done(row);
          const d = r?.raw?.disk;
          const per = (x, digits) =>
            d && r.raw.deliveries > 0 && Number.isFinite(x) ? fmt(x / r.raw.deliveries, digits) : 'n/a';
          const onOff = spool === 'on' && r && done(off) ? ratio(r.rate / done(off).rate) : '';
          lines.push(
            `| (${SHORT[row] || row}) | ${spool} | ${r ? fmt(r.rate, 0) : 'n/a'} | ${onOff} | ${per(d?.writeBytes, 0)} | ${per(d?.syncs, 3)} |`,
          );
        }
      }
      lines.push('');
    }
    if (memory?.error) lines.push(`Memory flat in N (row e): n/a (${memory.error})`);
    else if (memory) {
      lines.push(
        `Memory flat in N (row e, fresh Node-RED, one run each): peak RSS ${fmt(memory.atN, 0)} MB at N=${N}, ${fmt(memory.at5N, 0)} MB at 5N=${5 * N} (idle after start ${fmt(memory.idle, 0)} MB; ${fmt(memory.rate5N, 0)} msg/s at 5N).`,
      );
      lines.push(
        `With the heap capped (--max-old-space-size=${CAPPED_HEAP_MB}): peak RSS ${fmt(memory.capped.atN, 0)} MB at N, ${fmt(memory.capped.at5N, 0)} MB at 5N.`,
      );
    }
    const c = done('c');
    const e = done('e');
    if (e && c) lines.push(`(e)/(c), the routing against the seed's way: ${(e.rate / c.rate).toFixed(0)}.`);
    lines.push(
      `Latency: (a), (b) publish call → confirm callback; (c) connect + channel + publish → confirm; (d), (e) generator send → confirmed msg leaving publish output 1 (${WINDOW} in flight, so (e) includes the wait in the custom protocol's ready queue, maxInFlight ${flows.MAX_IN_FLIGHT}); (e_b) the same per message, a batch leaving publish once all its ${BATCH} are confirmed (${BATCH_WINDOW} in flight); (f), (h) the HTTP round trip; (f_b) the round trip of a request of ${BATCH} records.`,
    );
    for (const note of notes) lines.push(note);
    process.stdout.write(`\n${lines.join('\n')}\n`);
  } finally {
    if (side) await side.close(!!process.env.AMQP_URL);
    broker.release();
    pack.remove();
  }
}

module.exports = {
  rawRow,
  benchRun,
  httpLoad,
  webhookRun,
  batchWebhookRun,
  bareHttpRun,
  checkBuilt,
  BATCH,
  BATCH_WINDOW,
};

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err.stack || err}\n`);
    process.exit(1);
  });
}
