'use strict';
// Batches end to end against the real broker: a queue config rule whose
// custom_lua sets batch_size hands the custom protocol's send_batch equivalent
// (one msg per batch) to amqp publish, which publishes every element as its own
// AMQP message and reports each message's own outcome.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector, until } = require('../helpers/node-red');
const { SideChannel, uniqueName } = require('../helpers/amqp');

function flow({ queue, lua = {}, publish = {}, retry = '20 minutes' }) {
  return [
    brokerConfig(),
    {
      id: 'qc',
      type: 'kumo-queue-config',
      queue: 'queue',
      queueType: 'msg',
      wires: [[]],
      rules: [
        {
          match: { domain: { op: 'eq', value: 'amqp' } },
          protocol: 'custom_lua',
          constructor: 'make.batched',
          retry_interval: retry,
          max_retry_interval: '',
          max_age: '1h',
          ...lua,
        },
      ],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      eventName: 'make.batched',
      timeout: 30,
      maxInFlight: 128,
      wires: [['sent', 'pub'], ['records']],
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      broker: 'broker',
      exchange: '',
      routingKey: queue,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: 10,
      wires: [['delivered'], ['rejected']],
      ...publish,
    },
    { id: 'sent', type: 'helper' },
    { id: 'records', type: 'helper' },
    { id: 'delivered', type: 'helper' },
    { id: 'rejected', type: 'helper' },
  ];
}

async function start(options) {
  await load(flow(options));
  const n = { qc: helper.getNode('qc') };
  for (const id of ['sent', 'records', 'delivered', 'rejected']) n[id] = collector(helper.getNode(id));
  return n;
}

describe('batches: queue config ⇒ custom protocol (batch_size) → amqp publish', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it('sends batches of batch_size as one msg each, publishes every element as its own message, and logs a Delivery per message', async function () {
    const queue = await side.queue(uniqueName('batched'));
    const n = await start({ queue, lua: { batch_size: '10' } });
    const payloads = Array.from({ length: 25 }, (_, i) => ({ record: i }));
    for (const payload of payloads) n.qc.receive({ payload, queue: 'amqp' });
    const records = await n.records.next(25);
    assert.deepEqual(
      records.map((r) => r.payload.type),
      Array(25).fill('Delivery'),
    );
    const batches = n.sent.messages;
    assert.deepEqual(
      batches.map((m) => m.payload.length),
      [10, 10, 5],
    );
    for (const batch of batches) {
      assert.equal(batch.kumo.batch.length, batch.payload.length, 'one msg.kumo per payload');
      assert.equal(batch.kumo.constructor, 'make.batched');
      assert.deepEqual(batch.queueConfig.protocol, { custom_lua: { constructor: 'make.batched', batch_size: 10 } });
    }
    const delivered = await n.delivered.next(3);
    assert.equal(n.rejected.messages.length, 0);
    for (const msg of delivered) {
      assert.equal(msg.amqp.status, 'Ack');
      assert.equal(msg.amqp.results.length, msg.payload.length);
      assert.ok(msg.amqp.results.every((r) => r.status === 'Ack'));
    }
    // Each record's disposition is its own element's confirm, as the seed's sender returns it.
    assert.ok(records.every((r) => /^250 \{"status":"Ack"/.test(r.payload.response.content)));
    const stored = (await side.drain(queue)).map((m) => JSON.parse(m.content.toString()).record).sort((a, b) => a - b);
    assert.deepEqual(
      stored,
      payloads.map((p) => p.record),
    );
  });

  it('a batch with one element refused by a full reject-publish queue: the others are Deliveries, the refused one is retried on its own', async function () {
    this.timeout(30000);
    const queue = await side.queue(uniqueName('batched-full'), {
      arguments: { 'x-max-length': 3, 'x-overflow': 'reject-publish' },
    });
    const n = await start({
      queue,
      lua: { batch_size: '4', min_batch_size: '4', max_batch_latency: '1s' },
      publish: { nackedAs: 'transient' },
      retry: '1s',
    });
    for (let i = 0; i < 4; i++) n.qc.receive({ payload: `m${i}`, queue: 'amqp' });
    const first = await n.records.next(4);
    const types = first.map((r) => r.payload.type).sort();
    assert.deepEqual(types, ['Delivery', 'Delivery', 'Delivery', 'TransientFailure']);
    const [rejectedMsg] = await n.rejected.next(1);
    assert.equal(rejectedMsg.amqp.status, 'Nack');
    assert.deepEqual(rejectedMsg.amqp.results.map((r) => r.status).sort(), ['Ack', 'Ack', 'Ack', 'Nack']);
    assert.equal(rejectedMsg.reject.code, 451);
    const refused = first.find((r) => r.payload.type === 'TransientFailure');
    assert.equal(refused.payload.response.code, 451);
    // Room in the queue again: the retry (alone, after the 1 s latency) is delivered.
    const drained = await side.drain(queue);
    assert.equal(drained.length, 3);
    const retried = await until(n.records, (r) => r.payload.type === 'Delivery' && r.payload.id === refused.payload.id);
    assert.equal(retried.kumo.attempt, 2);
    assert.equal(n.sent.messages.length, 2);
    const firstBatch = n.sent.messages[0];
    const index = firstBatch.kumo.batch.findIndex((k) => k.id === refused.payload.id);
    assert.deepEqual(n.sent.messages[1].payload, [firstBatch.payload[index]], 'only the refused message is sent again');
    assert.equal((await side.drain(queue)).length, 1);
  });

  it('amqp publish alone: an array is one JSON message by default, and each element its own message with "array payload: elements"', async function () {
    const queue = await side.queue(uniqueName('arrays'));
    await load([
      brokerConfig(),
      {
        id: 'pubJson',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: queue,
        routingKeyType: 'str',
        waitForConfirm: true,
        wires: [['out'], []],
      },
      {
        id: 'pubElements',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: queue,
        routingKeyType: 'str',
        waitForConfirm: true,
        arrayPayload: 'elements',
        wires: [['out'], []],
      },
      { id: 'out', type: 'helper' },
    ]);
    const out = collector(helper.getNode('out'));
    helper.getNode('pubJson').receive({ payload: [1, 2, 3] });
    await out.next(1);
    assert.equal(out.messages[0].amqp.status, 'Ack');
    assert.equal(out.messages[0].amqp.results, undefined);
    helper.getNode('pubElements').receive({ payload: ['a', { b: 2 }, Buffer.from('c')] });
    await out.next(2);
    assert.deepEqual(
      out.messages[1].amqp.results.map((r) => r.status),
      ['Ack', 'Ack', 'Ack'],
    );
    const bodies = (await side.drain(queue)).map((m) => m.content.toString());
    assert.deepEqual(bodies, ['[1,2,3]', 'a', '{"b":2}', 'c']);
  });
});
