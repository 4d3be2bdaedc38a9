'use strict';
// A message's data, whole, through a real Node-RED process and the real broker:
// what reaches RabbitMQ after a restart with retries waiting, and from a batch,
// is what the flow gave (msg.properties with a Date timestamp, headers holding a
// number and a Buffer, its own messageId and routing key).

const assert = require('node:assert/strict');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed, freePort } = require('../helpers/node-red-process');
const { eventually } = require('../helpers/eventually');

const TIMESTAMP_MS = 1733400000000;

/**
 * Each posted {id, topic} becomes a msg with its own routing key (msg.topic) and AMQP
 * properties. The answer leaves by the second output, after the message (Node-RED
 * delivers one send's messages in order): once it comes, queue config has taken it.
 */
const WITH_PROPERTIES = `
const { id, topic, n } = msg.payload;
const answer = { res: msg.res, payload: 'accepted' };
msg.payload = 'body of ' + id;
msg.topic = topic;
msg.properties = {
  messageId: id,
  timestamp: new Date(${TIMESTAMP_MS} + n * 1000),
  headers: { attempt: n, blob: Buffer.from([1, 2, n]) },
};
delete msg.res;
delete msg.req;
return [msg, answer];`;

function flow({ url, lua = {} }) {
  return [
    { id: 'tab', type: 'tab', label: 'paths' },
    { id: 'b1', type: 'amqp-broker', url, heartbeat: '10' },
    {
      id: 'in',
      type: 'http in',
      z: 'tab',
      url: '/send',
      method: 'post',
      upload: false,
      skipBodyParsing: false,
      swaggerDoc: '',
      wires: [['props']],
    },
    { id: 'ok', type: 'http response', z: 'tab', statusCode: '202', headers: {}, wires: [] },
    { id: 'props', type: 'function', z: 'tab', func: WITH_PROPERTIES, outputs: 2, wires: [['qc'], ['ok']] },
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
          constructor: 'make.paths',
          retry_interval: '1s',
          max_retry_interval: '',
          max_age: '1h',
          ...lua,
        },
      ],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      z: 'tab',
      eventName: 'make.paths',
      timeout: '10',
      maxInFlight: '64',
      wires: [['pub'], []],
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      z: 'tab',
      broker: 'b1',
      routingKey: 'topic',
      routingKeyType: 'msg',
      waitForConfirm: true,
      confirmTimeout: '10',
      wires: [[], []],
    },
  ];
}

async function post(nodeRed, body) {
  const res = await fetch(`${nodeRed.url}/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202);
}

/** Asserts each message arrived once, exactly as the function built it. */
function assertWhole(messages, expected) {
  assert.deepEqual(messages.map((m) => m.properties.messageId).sort(), expected.map((e) => e.id).sort());
  for (const m of messages) {
    const e = expected.find((x) => x.id === m.properties.messageId);
    assert.equal(m.content.toString(), `body of ${e.id}`);
    assert.equal(m.properties.timestamp, Math.floor((TIMESTAMP_MS + e.n * 1000) / 1000));
    assert.equal(m.properties.headers.attempt, e.n);
    assert.deepEqual(m.properties.headers.blob, Buffer.from([1, 2, e.n]));
  }
}

describe("a message's data, whole, through a real Node-RED", function () {
  this.timeout(90000);
  let side;
  let nodeRed;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async function () {
    if (this.currentTest.state === 'failed' && nodeRed) process.stderr.write(nodeRed.logTail(80));
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  it('a restart with retries waiting publishes every message as it was: a Date timestamp, a Buffer and a number in headers', async function () {
    const queue = await side.queue(uniqueName('restart-props'));
    const expected = Array.from({ length: 20 }, (_, n) => ({ id: `restart-${n}`, topic: queue, n }));
    // Run 1: the broker is down (nothing listens on the port): every delivery is unfinished at the stop.
    const down = `amqp://127.0.0.1:${await freePort()}`;
    nodeRed = await startNodeRed(flow({ url: down }));
    for (const body of expected) await post(nodeRed, body);
    const userDir = nodeRed.userDir;
    const stopping = nodeRed.waitForLog(/20 message\(s\) of "make\.paths" were not delivered before the flow stopped/);
    await nodeRed.stop({ keep: true });
    await stopping;
    nodeRed = null;

    // Run 2: the broker is back.
    nodeRed = await startNodeRed(flow({ url: AMQP_URL }), { userDir });
    await nodeRed.waitForLog(/restored 20 delivery/);
    let got = [];
    await eventually('every message in the queue', async () => {
      got = got.concat(await side.drain(queue));
      return got.length >= expected.length;
    });
    assertWhole(got, expected);
  });

  it('with batch_size 10, each of 30 messages is published with its own routing key, messageId, timestamp and headers', async function () {
    const queues = [await side.queue(uniqueName('batch-a')), await side.queue(uniqueName('batch-b'))];
    const expected = Array.from({ length: 30 }, (_, n) => ({ id: `batch-${n}`, topic: queues[n % 2], n }));
    nodeRed = await startNodeRed(flow({ url: AMQP_URL, lua: { batch_size: '10', max_batch_latency: '100ms' } }));
    await Promise.all(expected.map((body) => post(nodeRed, body)));
    const got = [[], []];
    await eventually('every message in its queue', async () => {
      for (const i of [0, 1]) got[i] = got[i].concat(await side.drain(queues[i]));
      return got[0].length + got[1].length >= expected.length;
    });
    assertWhole(
      got[0],
      expected.filter((e) => e.n % 2 === 0),
    );
    assertWhole(
      got[1],
      expected.filter((e) => e.n % 2 === 1),
    );
  });
});
