'use strict';
// Messages injected into a real Node-RED process while the
// broker blocks publishers (memory alarm). The amqp publish node holds up to
// its "max waiting" (10 000) and fails the rest at once with "broker is not
// keeping up", so the process stays under 250 MB; after the alarm clears the
// held messages are delivered. Every message is accounted for, by its id.
// 20 000 messages here; SOAK=1 injects the 100 000. The process runs
// with a 128 MB heap cap (FAULTS_HEAP_MB), see below.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startNodeRed } = require('../../helpers/node-red-process');
const { startFaultBroker, Side, brokers } = require('./support/faults');

const TOTAL = process.env.SOAK ? 100000 : 20000;
const MAX_WAITING = 10000;
const SIZE = 1024;
const RSS_LIMIT_MB = 250;
const HEAP_MB = Number(process.env.FAULTS_HEAP_MB || 128);

// Function nodes keep the tally in global context: one byte per message
// (0 = no outcome yet, 1 delivered, 2 not keeping up, 3 other error, 4 rejected).
const GENERATE = `
const n = msg.payload.n;
const pad = 'x'.repeat(msg.payload.size);
const state = Buffer.alloc(n);
const counts = { generated: 0, delivered: 0, notKeepingUp: 0, otherError: 0, rejected: 0, twice: 0, errors: [] };
global.set('state', state);
global.set('counts', counts);
let seq = 0;
// In batches, as traffic arrives: the point is what the pack holds, not Node-RED's own message queue.
function batch() {
  for (let i = 0; i < 500 && seq < n; i++, seq++) node.send([null, { payload: JSON.stringify({ seq, pad }), seq }]);
  counts.generated = seq;
  if (seq < n) setTimeout(batch, 0);
}
batch();
msg.payload = { started: n };
return [msg, null];`;

const tally = (_outcome, code) => `
const state = global.get('state');
const counts = global.get('counts');
if (state[msg.seq] !== 0) counts.twice++;
${code}
return null;`;

const COUNT_DELIVERED = tally('delivered', 'state[msg.seq] = 1; counts.delivered++;');
const COUNT_REJECTED = tally('rejected', 'state[msg.seq] = 4; counts.rejected++;');
const COUNT_ERROR = tally(
  'error',
  `
if (/broker is not keeping up/.test(msg.error.message)) { state[msg.seq] = 2; counts.notKeepingUp++; }
else { state[msg.seq] = 3; counts.otherError++; if (counts.errors.length < 5) counts.errors.push(msg.error.message); }`,
);
const REPORT = `
const counts = global.get('counts') || {};
const state = global.get('state');
const deliveredSeqs = [];
if (state && msg.req.query.delivered) for (let i = 0; i < state.length; i++) if (state[i] === 1) deliveredSeqs.push(i);
msg.payload = { ...counts, status: global.get('status') || null, deliveredSeqs };
return msg;`;

function memoryFlow(queue, url) {
  const z = 'mem';
  return [
    { id: z, type: 'tab', label: 'bounded memory' },
    // Userinfo in the URL: accepted when the broker node's credentials are empty.
    // Node ids must not equal any property value (Node-RED would see a config node dependency loop).
    {
      id: 'broker',
      type: 'amqp-broker',
      name: 'faults broker',
      url,
      heartbeat: 10,
      connectionName: 'kumo-faults memory',
    },
    { id: 'fill-in', type: 'http in', z, url: '/fill', method: 'post', wires: [['generate']] },
    { id: 'generate', type: 'function', z, func: GENERATE, outputs: 2, wires: [['fill-done'], ['pub']] },
    { id: 'fill-done', type: 'http response', z, statusCode: '', wires: [] },
    {
      id: 'pub',
      type: 'amqp-publish',
      z,
      broker: 'broker',
      routingKey: queue,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: 600,
      maxWaiting: MAX_WAITING,
      wires: [['count-delivered'], ['count-rejected']],
    },
    { id: 'count-delivered', type: 'function', z, func: COUNT_DELIVERED, outputs: 1, wires: [[]] },
    { id: 'count-rejected', type: 'function', z, func: COUNT_REJECTED, outputs: 1, wires: [[]] },
    { id: 'errors-of-pub', type: 'catch', z, scope: ['pub'], uncaught: false, wires: [['count-error']] },
    { id: 'count-error', type: 'function', z, func: COUNT_ERROR, outputs: 1, wires: [[]] },
    { id: 'status-of-pub', type: 'status', z, scope: ['pub'], wires: [['keep-status']] },
    {
      id: 'keep-status',
      type: 'function',
      z,
      func: "global.set('status', msg.status); return null;",
      outputs: 1,
      wires: [[]],
    },
    { id: 'counts-in', type: 'http in', z, url: '/counts', method: 'get', wires: [['report']] },
    { id: 'report', type: 'function', z, func: REPORT, outputs: 1, wires: [['counts-done']] },
    { id: 'counts-done', type: 'http response', z, statusCode: '', wires: [] },
  ];
}

/** The pid of the Node-RED process this test started in `userDir` (Node-RED renames its argv, so: our child whose cwd is it). */
function pidOf(userDir) {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(
        fs
          .readFileSync(`/proc/${entry}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ')[1],
      );
      if (ppid === process.pid && fs.readlinkSync(`/proc/${entry}/cwd`) === userDir) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  throw new Error(`no Node-RED process for ${userDir}`);
}

/** Current and peak resident memory of a process, in MB (/proc/<pid>/status VmRSS and VmHWM). */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

describe('faults: bounded memory while the broker blocks publishers', function () {
  this.timeout(process.env.SOAK ? 600000 : 120000);
  let fb;
  let side;
  let nodeRed;

  before(async function () {
    fb = await startFaultBroker();
    side = await Side.open(fb.url);
  });
  after(async () => {
    await brokers.setMemoryAlarm(fb.instance, false);
    if (nodeRed) await nodeRed.stop();
    if (side) await side.close();
  });

  async function counts(query = '') {
    const response = await fetch(`${nodeRed.url}/counts${query}`);
    return response.json();
  }
  // Another process's state: polled over HTTP, as a dashboard would.
  async function poll(predicate, what, timeoutMs = 300000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await counts();
      if (predicate(c)) return c;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...c, deliveredSeqs: undefined })}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it(`${TOTAL} messages injected while blocked: RSS stays under ${RSS_LIMIT_MB} MB, ${MAX_WAITING} held and then delivered, the rest failed with "broker is not keeping up"`, async () => {
    const queue = await side.queue('faults-memory');
    await side.channel.purgeQueue(queue);
    // Node-RED's advice for small devices: cap V8's heap (`node-red --max-old-space-size=...`).
    // Uncapped, V8 on a machine with gigabytes free lets garbage (every injected
    // payload, every Catch clone) pile up before collecting it, so RSS then
    // says more about V8's laziness than about what the pack holds. With the
    // cap, an unbounded buffer would end in "heap out of memory" instead.
    const nodeOptions = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${nodeOptions || ''} --max-old-space-size=${HEAP_MB}`.trim();
    try {
      nodeRed = await startNodeRed(memoryFlow(queue, fb.url));
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = nodeOptions;
    }
    const pid = pidOf(nodeRed.userDir);
    await poll((c) => c.status && c.status.fill === 'green', 'the publish node to connect');
    const idle = memoryOf(pid);

    await brokers.setMemoryAlarm(fb.instance, true);
    const t0 = Date.now();
    const response = await fetch(`${nodeRed.url}/fill`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: TOTAL, size: SIZE }),
    });
    assert.equal(response.status, 200);
    const settled = (c) => c.delivered + c.notKeepingUp + c.otherError + c.rejected;
    const blocked = await poll(
      (c) => c.generated === TOTAL && settled(c) >= TOTAL - MAX_WAITING,
      'every message beyond the bound to fail',
    );
    const injectedSec = (Date.now() - t0) / 1000;
    assert.equal(TOTAL - settled(blocked), MAX_WAITING, 'exactly "max waiting" messages are held');
    assert.equal(
      blocked.otherError + blocked.rejected,
      0,
      `errors other than "not keeping up": ${JSON.stringify(blocked.errors)}`,
    );
    // The few written before the broker said "blocked" may be confirmed; nothing else is.
    assert.ok(blocked.delivered < 1000, `${blocked.delivered} delivered while the broker was blocking publishers`);
    const shown = await poll(
      (c) => c.status && /blocked/.test(c.status.text) && c.status.text.includes(`(${MAX_WAITING} waiting)`),
      'the status to show the held messages',
    );
    assert.equal(shown.status.fill, 'yellow');
    const whileBlocked = memoryOf(pid);

    const unblockedAt = Date.now();
    await brokers.setMemoryAlarm(fb.instance, false);
    const done = await poll((c) => settled(c) >= TOTAL, 'the held messages to be delivered');
    const drainSec = (Date.now() - unblockedAt) / 1000;
    const after = memoryOf(pid);
    assert.equal(
      done.delivered - blocked.delivered,
      MAX_WAITING,
      'every held message is delivered after the alarm clears',
    );
    assert.equal(
      done.delivered + done.notKeepingUp,
      TOTAL,
      'every message is delivered or failed with "broker is not keeping up"',
    );
    assert.equal(done.otherError + done.rejected, 0, JSON.stringify(done.errors));
    assert.equal(done.twice, 0, 'a message had two outcomes');
    assert.ok(after.peak < RSS_LIMIT_MB, `peak RSS ${after.peak.toFixed(0)} MB`);

    const { deliveredSeqs } = await counts('?delivered=1');
    const stored = (await side.drain(queue)).map((m) => JSON.parse(m.content.toString()).seq);
    assert.equal(stored.length, done.delivered, 'the queue holds exactly the delivered messages');
    assert.deepEqual(
      [...new Set(stored)].sort((a, b) => a - b),
      deliveredSeqs,
    );
    console.log(
      `      [figures] bounded memory: ${TOTAL} x ${SIZE} B injected in ${injectedSec.toFixed(1)} s while blocked: ${MAX_WAITING} held ` +
        `(+${blocked.delivered} confirmed before the block), ${done.notKeepingUp} failed "broker is not keeping up", 0 lost, 0 twice; all held delivered ${drainSec.toFixed(1)} s after the unblock; ` +
        `RSS idle ${idle.rss.toFixed(0)} MB, blocked ${whileBlocked.rss.toFixed(0)} MB, peak ${after.peak.toFixed(0)} MB (limit ${RSS_LIMIT_MB}; heap cap ${HEAP_MB} MB)`,
    );
  });
});
