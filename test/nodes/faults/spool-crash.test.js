'use strict';
// Accepted means kept: with the custom protocol's spool on, a message whose
// acceptance was answered (queue config called done(), a Complete node answered
// the HTTP request) survives Node-RED being killed with SIGKILL at any moment:
// while accepting, mid-append, mid-compaction, while the broker blocks
// publishing, with retries waiting. After a restart it is published: 0 lost;
// duplicates (published, not yet marked done in the journal) allowed.

const assert = require('node:assert/strict');
const { startNodeRed } = require('../../helpers/node-red-process');
const { startFaultBroker, Side, brokers } = require('./support/faults');
const { eventually } = require('../../helpers/eventually');

const CREDENTIALS = { broker: { username: 'guest', password: 'guest' } };
const ROUNDS = process.env.SOAK ? 25 : 4;
// The custom protocol's Max in flight: at most that many were published and not yet marked done at a kill.
const MAX_IN_FLIGHT = 128;

/**
 * POST /send {id} → queue config ⇒ custom protocol (spool on) → amqp publish to `queue`. The answer
 * (202) comes from a Complete node watching queue config: only once done() was called, i.e. once the
 * spool has the message on disk. Ids whose number ends in 7 are rejected with 451 on their first
 * attempt, so some deliveries wait to retry at every moment.
 */
function flow(url, queue) {
  return [
    { id: 'tab', type: 'tab', label: 'spool' },
    { id: 'broker', type: 'amqp-broker', name: 'spool broker', url, heartbeat: '10' },
    {
      id: 'in',
      type: 'http in',
      z: 'tab',
      url: '/send',
      method: 'post',
      upload: false,
      skipBodyParsing: false,
      swaggerDoc: '',
      wires: [['qc']],
    },
    {
      id: 'qc',
      type: 'kumo-queue-config',
      z: 'tab',
      queue: 'amqp',
      queueType: 'str',
      wires: [[]],
      rules: [
        {
          match: { domain: { op: 'eq', value: 'amqp' } },
          protocol: 'custom_lua',
          constructor: 'make.spool',
          retry_interval: '1s',
          max_retry_interval: '2s',
          max_age: '1h',
        },
      ],
    },
    { id: 'accepted', type: 'complete', z: 'tab', scope: ['qc'], uncaught: false, wires: [['ok']] },
    { id: 'ok', type: 'http response', z: 'tab', statusCode: '202', headers: {}, wires: [] },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      z: 'tab',
      eventName: 'make.spool',
      timeout: '10',
      maxInFlight: String(MAX_IN_FLIGHT),
      maxQueued: '20000',
      spool: true,
      wires: [['firstRejected'], []],
    },
    {
      id: 'firstRejected',
      type: 'function',
      z: 'tab',
      func: 'return [msg.kumo.attempt === 1 && /7$/.test(msg.payload.id) ? null : msg, msg.kumo.attempt === 1 && /7$/.test(msg.payload.id) ? msg : null];',
      outputs: 2,
      wires: [['pub'], ['later']],
    },
    {
      id: 'later',
      type: 'kumo-reject',
      z: 'tab',
      code: '451',
      codeType: 'num',
      message: 'try again',
      messageType: 'str',
      wires: [[]],
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      z: 'tab',
      broker: 'broker',
      routingKey: queue,
      routingKeyType: 'str',
      waitForConfirm: true,
      confirmTimeout: '30',
      maxWaiting: '20000',
      wires: [[], []],
    },
  ];
}

/** Posts ids as fast as `concurrency` clients can; resolves each accepted (202) id into `accepted`. */
function client(nodeRed, prefix, accepted, concurrency = 16) {
  let n = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const id = `${prefix}-${n++}`;
      try {
        const res = await fetch(`${nodeRed.url}/send`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id }),
          signal: AbortSignal.timeout(10000),
        });
        if (res.status === 202) accepted.add(id);
        await res.arrayBuffer();
      } catch {
        return; // the process was killed under the request: not accepted
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stop() {
      stopped = true;
      return Promise.all(workers);
    },
  };
}

describe('faults: the spool survives SIGKILL (accepted means kept)', function () {
  this.timeout(300000);
  let fb;
  let side;
  let nodeRed = null;

  before(async function () {
    fb = await startFaultBroker();
  });
  beforeEach(async () => {
    side = await Side.open(fb.url);
  });
  afterEach(async function () {
    if (this.currentTest.state === 'failed' && nodeRed) process.stderr.write(nodeRed.logTail(60));
    await brokers.setMemoryAlarm(fb.instance, false);
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  /** Every id the broker holds in `queue`, counted. */
  async function published(queue) {
    const counts = new Map();
    for (const m of await side.drain(queue)) {
      const id = JSON.parse(m.content.toString()).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  it('2000 messages accepted while the broker blocks publishing, Node-RED killed, the alarm lifted, restarted: all 2000 published', async function () {
    const queue = await side.queue(`spool-blocked-${process.pid}-${Date.now()}`);
    nodeRed = await startNodeRed(flow(fb.plainUrl, queue), { credentials: CREDENTIALS });
    await brokers.setMemoryAlarm(fb.instance, true);
    const ids = Array.from({ length: 2000 }, (_, i) => `blocked-${i}`);
    const accepted = new Set();
    for (let i = 0; i < ids.length; i += 50) {
      const answers = await Promise.all(
        ids.slice(i, i + 50).map((id) =>
          fetch(`${nodeRed.url}/send`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ id }),
          }).then(async (res) => {
            await res.arrayBuffer();
            return res.status === 202 ? id : null;
          }),
        ),
      );
      for (const id of answers) if (id) accepted.add(id);
    }
    assert.equal(accepted.size, 2000, 'every message was accepted');
    const userDir = nodeRed.userDir;
    await nodeRed.stop({ keep: true, signal: 'SIGKILL' });
    await brokers.setMemoryAlarm(fb.instance, false);
    nodeRed = await startNodeRed(flow(fb.plainUrl, queue), { userDir, credentials: CREDENTIALS });
    const counts = new Map();
    await eventually(
      'all 2000 in the queue',
      async () => {
        for (const [id, n] of await published(queue)) counts.set(id, (counts.get(id) ?? 0) + n);
        return [...accepted].every((id) => counts.has(id));
      },
      60000,
    );
    const lost = [...accepted].filter((id) => !counts.has(id));
    assert.deepEqual(lost, []);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates, more than were in flight at the kill`);
    console.log(`      [figures] 2000 accepted while blocked, SIGKILL, restart: 0 lost, ${duplicates} duplicates`);
  });

  it(`SIGKILL at random moments under load, ${ROUNDS} rounds (accepting, appending, compacting, blocked, retries waiting): 0 lost`, async function () {
    const queue = await side.queue(`spool-rounds-${process.pid}-${Date.now()}`);
    const accepted = new Set();
    let userDir;
    for (let round = 0; round < ROUNDS; round++) {
      nodeRed = await startNodeRed(flow(fb.plainUrl, queue), { userDir, credentials: CREDENTIALS });
      userDir = nodeRed.userDir;
      const blocked = round % 2 === 1;
      if (blocked) await brokers.setMemoryAlarm(fb.instance, true);
      const load = client(nodeRed, `r${round}`, accepted);
      // A kill at a random moment of a busy second or two: accepts, appends and compactions are all going on.
      await new Promise((resolve) => setTimeout(resolve, 500 + Math.floor(Math.random() * 1500)));
      await nodeRed.stop({ keep: true, signal: 'SIGKILL' });
      await load.stop();
      nodeRed = null;
      if (blocked) await brokers.setMemoryAlarm(fb.instance, false);
    }
    // A last start, to deliver what the last kill left.
    nodeRed = await startNodeRed(flow(fb.plainUrl, queue), { userDir, credentials: CREDENTIALS });
    const counts = new Map();
    await eventually(
      'every accepted message in the queue',
      async () => {
        for (const [id, n] of await published(queue)) counts.set(id, (counts.get(id) ?? 0) + n);
        return [...accepted].every((id) => counts.has(id));
      },
      60000,
    );
    const lost = [...accepted].filter((id) => !counts.has(id));
    assert.deepEqual(lost, [], `${lost.length} accepted messages lost`);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    assert.ok(duplicates <= MAX_IN_FLIGHT * ROUNDS, `${duplicates} duplicates, more than were in flight at the kills`);
    console.log(
      `      [figures] ${ROUNDS} SIGKILLs, ${accepted.size} accepted: 0 lost, ${duplicates} duplicates, ${counts.size - accepted.size} published whose acceptance was not answered`,
    );
  });
});
