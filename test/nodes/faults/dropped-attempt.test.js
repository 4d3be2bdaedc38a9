'use strict';
// A flow that drops an attempt (a function returning null for it) must not pin
// the deliveries that finish after it until that attempt's timeout. A real
// Node-RED process with a capped heap runs queue config ⇒ custom protocol
// (timeout 60 s) → a function that drops the first message → amqp publish,
// fed 30 000 messages of 8 KiB at most WINDOW at a time (each Delivery record
// lets one more in). Held for the 60 s timeout, those messages would need
// ~240 MB of heap; the process has 128 MB.

const assert = require('node:assert/strict');
const { startNodeRed } = require('../../helpers/node-red-process');
const { SideChannel, uniqueName, AMQP_URL } = require('../../helpers/amqp');

const TOTAL = process.env.SOAK ? 60000 : 30000;
const WINDOW = 1000;
const SIZE = 8192;
const HEAP_MB = 128;

// One unique 8 KiB string per message (a shared string would cost nothing to keep).
const FEED = `
const n = msg.payload.n;
const state = { n, sent: 0, delivered: 0, other: 0 };
global.set('feed', state);
const pad = 'x'.repeat(${SIZE});
global.set('next', () => {
  if (state.sent >= n) return null;
  const seq = state.sent++;
  return { payload: JSON.stringify({ seq, pad }), queue: 'amqp', seq };
});
const first = [];
for (let i = 0; i < ${WINDOW}; i++) { const m = global.get('next')(); if (m) first.push(m); }
msg.payload = { started: n };
return [msg, first];`;

const DROP_FIRST = `
if (!context.get('dropped')) { context.set('dropped', true); return null; }
return msg;`;

const ON_RECORD = `
const state = global.get('feed');
if (msg.payload.type === 'Delivery') state.delivered++;
else state.other++;
if (state.delivered === state.n - 1) node.warn('delivered ' + state.delivered + ' of ' + state.n + ', other records ' + state.other);
return global.get('next')();`;

function flow(queue) {
  const z = 'tab';
  return [
    { id: z, type: 'tab', label: 'dropped attempt' },
    {
      id: 'broker',
      type: 'amqp-broker',
      name: 'test broker',
      url: AMQP_URL,
      heartbeat: 10,
      connectionName: 'dropped-attempt',
    },
    { id: 'in', type: 'http in', z, url: '/feed', method: 'post', wires: [['feed']] },
    { id: 'feed', type: 'function', z, func: FEED, outputs: 2, wires: [['answer'], ['qc']] },
    { id: 'answer', type: 'http response', z, wires: [] },
    {
      id: 'qc',
      type: 'kumo-queue-config',
      z,
      queue: 'queue',
      queueType: 'msg',
      wires: [[]],
      rules: [
        {
          match: { domain: { op: 'eq', value: 'amqp' } },
          protocol: 'custom_lua',
          constructor: 'make.dropped',
          retry_interval: '20 minutes',
          max_retry_interval: '',
          max_age: '7 days',
        },
      ],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      z,
      eventName: 'make.dropped',
      timeout: 60,
      maxInFlight: 128,
      maxQueued: 10000,
      wires: [['drop'], ['next']],
    },
    { id: 'drop', type: 'function', z, func: DROP_FIRST, outputs: 1, wires: [['pub']] },
    {
      id: 'pub',
      type: 'amqp-publish',
      z,
      broker: 'broker',
      exchange: '',
      routingKey: queue,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: 30,
      declareQueue: queue,
      wires: [[], []],
    },
    { id: 'next', type: 'function', z, func: ON_RECORD, outputs: 1, wires: [['qc']] },
  ];
}

describe('faults: a flow that drops an attempt', function () {
  this.timeout(180000);
  let nodeRed = null;
  let side = null;
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    if (side) await side.close();
    side = null;
  });

  it(`does not hold the ${TOTAL} deliveries that finish after it: all but the dropped one are delivered with a ${HEAP_MB} MB heap`, async () => {
    side = await SideChannel.open();
    const queue = uniqueName('dropped-attempt');
    side.queues.push(queue);
    nodeRed = await startNodeRed(flow(queue), { nodeArgs: [`--max-old-space-size=${HEAP_MB}`] });
    const started = await fetch(`${nodeRed.url}/feed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: TOTAL }),
    });
    assert.equal(started.status, 200);
    // A process that runs out of heap exits, and the wait fails with its log.
    await nodeRed.waitForLog(new RegExp(`delivered ${TOTAL - 1} of ${TOTAL}, other records 0`), 150000);
    assert.equal(await side.count(queue), TOTAL - 1);
  });
});
