'use strict';
// A message's data on every path it takes: a final failure is seen even with no
// log record output wired, and bad input ends at once instead of being retried.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector } = require('../helpers/node-red');
const { SideChannel, uniqueName } = require('../helpers/amqp');

const RETRY_FAST = { protocol: { custom_lua: { constructor: 'make.paths' } }, retry_interval: 0.05, max_age: 0.3 };

describe('a final failure is always seen', function () {
  afterEach(async () => {
    await helper.unload();
  });

  function flow(code) {
    return [
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        eventName: 'make.paths',
        timeout: 5,
        maxInFlight: 8,
        wires: [['reject'], []], // output 2 (log records) unwired
      },
      {
        id: 'reject',
        type: 'kumo-reject',
        code,
        codeType: 'num',
        message: 'no such user',
        messageType: 'str',
        wires: [],
      },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  it('with output 2 unwired, a Bounce reaches Catch nodes as KUMO_BOUNCED, with the message', async function () {
    await load(flow('550'));
    const caught = collector(helper.getNode('caught'));
    // Said once, at deploy.
    const warnings = helper
      .getNode('cp')
      .warn.getCalls()
      .map((call) => String(call.args[0]));
    assert.equal(warnings.filter((w) => /output 2 \(log records\) is not wired/.test(w)).length, 1);
    helper.getNode('cp').receive({ payload: 'to a gone user', topic: 'mine', queueConfig: RETRY_FAST });
    const [msg] = await caught.next(1);
    assert.equal(msg.error.code, 'KUMO_BOUNCED');
    assert.match(msg.error.message, /bounced .*550 no such user/);
    assert.equal(msg.payload, 'to a gone user');
    assert.equal(msg.topic, 'mine');
  });

  it('with output 2 unwired, an Expiration reaches Catch nodes as KUMO_EXPIRED', async function () {
    await load(flow('451'));
    const caught = collector(helper.getNode('caught'));
    helper.getNode('cp').receive({ payload: 'deferred', queueConfig: RETRY_FAST });
    const [msg] = await caught.next(1);
    assert.equal(msg.error.code, 'KUMO_EXPIRED');
    assert.match(msg.error.message, /expired/);
  });
});

describe('bad input ends at once, and amqp publish edges', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it('a message amqp publish can never send bounces at once with the reason (one attempt), instead of being retried until max_age', async function () {
    const queue = await side.queue(uniqueName('bad-input-bounce'));
    await load([
      brokerConfig(),
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        eventName: 'make.bad',
        timeout: 5,
        maxInFlight: 8,
        wires: [['pub'], ['records']],
      },
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: 'topic',
        routingKeyType: 'msg',
        waitForConfirm: true,
        confirmTimeout: 10,
        wires: [[], []],
      },
      { id: 'records', type: 'helper' },
    ]);
    const records = collector(helper.getNode('records'));
    const config = { protocol: { custom_lua: { constructor: 'make.bad' } }, retry_interval: 0.05, max_age: 3600 };
    helper.getNode('cp').receive({ payload: 'x', topic: queue, properties: { priority: 'high' }, queueConfig: config });
    helper.getNode('cp').receive({ payload: 'y', topic: { not: 'a string' }, queueConfig: config });
    helper.getNode('cp').receive({ topic: queue, queueConfig: config });
    const got = await records.next(3);
    assert.deepEqual(
      got.map((m) => m.payload.type),
      ['Bounce', 'Bounce', 'Bounce'],
    );
    for (const m of got) {
      assert.equal(m.payload.response.code, 500);
      assert.equal(m.payload.num_attempts, 0, 'the first attempt ended it');
    }
    const reasons = got.map((m) => m.payload.response.content).join('\n');
    assert.match(reasons, /msg\.properties\.priority must be an integer/);
    assert.match(reasons, /routing key must be a string/);
    assert.match(reasons, /msg\.payload is missing/);
    assert.equal(await side.count(queue), 0);
  });

  it('refuses a confirm timeout above a day at deploy (a longer Node timer would fire at once)', async function () {
    await load([
      brokerConfig(),
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: 'x',
        routingKeyType: 'str',
        confirmTimeout: 30 * 86400,
        wires: [[], []],
      },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    const caught = collector(helper.getNode('caught'));
    helper.getNode('pub').receive({ payload: 'x' });
    const [msg] = await caught.next(1);
    assert.equal(msg.error.code, 'KUMO_NOT_CONFIGURED');
    assert.match(msg.error.message, /confirm timeout must be at most 86400 seconds/);
  });

  it('with a routing key read from the msg, a declared queue is bound with its own name, not the empty key', async function () {
    const exchange = await side.exchange(uniqueName('declare-bind'), 'direct');
    const queue = uniqueName('declared-by-publish');
    side.queues.push(queue);
    await load([
      brokerConfig(),
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        exchange,
        routingKey: 'topic',
        routingKeyType: 'msg',
        declareQueue: queue,
        waitForConfirm: true,
        confirmTimeout: 10,
        wires: [['ok'], []],
      },
      { id: 'ok', type: 'helper' },
    ]);
    const ok = collector(helper.getNode('ok'));
    helper.getNode('pub').receive({ payload: 'routed by its name', topic: queue });
    await ok.next(1);
    // The empty key would not route it; the queue's own name does.
    side.channel.publish(exchange, '', Buffer.from('empty key'));
    const messages = await side.drain(queue);
    assert.deepEqual(
      messages.map((m) => m.content.toString()),
      ['routed by its name'],
    );
  });
});
