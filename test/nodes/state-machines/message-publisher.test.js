'use strict';
// MessagePublisher (amqp publish without Node-RED) against the real broker: how
// a msg ends (confirm result, msg.reject, or an error with a code), and what the
// delivery it belongs to hears, message by message for a custom protocol batch.
// ConfirmPublisher.health, which the node's status shows, at its states.

const assert = require('node:assert/strict');
const net = require('node:net');
const { ConfirmPublisher } = require('../../../nodes/lib/core/amqp/confirm-publisher');
const { expectOutcome, forgetOutcome } = require('../../../nodes/lib/core/kumo/delivery-outcomes');
const { ERROR_CODES } = require('../../../nodes/lib/core/text/errors');
const { MessagePublisher } = require('../../../nodes/lib/core/publish/message-publisher');
const { render } = require('../../../nodes/lib/core/text/messages');
const { BROKER_URL, SideChannel, uniqueName, requireBroker } = require('../../helpers/amqp');
const { channelsOpenedOn, connectionTo, next, ready } = require('./support/broker');

const RULES = { nackedAs: 'permanent', returnedAs: 'transient' };

/** `routingKey`: a fixed key, or a function giving each msg's own (as a key read from the msg does). */
function published(messages, input, routingKey) {
  const keyOf =
    typeof routingKey === 'function'
      ? (msg, callback) => {
          let key;
          try {
            key = routingKey(msg);
          } catch (err) {
            callback(err, '');
            return;
          }
          callback(null, key);
        }
      : (_msg, callback) => callback(null, routingKey);
  return new Promise((resolve) => messages.publish(input, keyOf, resolve));
}

/** A delivery waiting for its outcome, as a custom protocol node registers one; `heard` lists what it was told. */
function delivery(id) {
  const heard = [];
  expectOutcome(id, (attempt, outcome) => heard.push({ attempt, ...outcome }));
  return { kumo: { id, attempt: 1 }, heard, forget: () => forgetOutcome(id) };
}

/** A port nothing listens on: a dial there fails at once. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('state machines: MessagePublisher, how a msg ends and what its delivery hears', function () {
  this.timeout(30000);
  let side;
  let connection;
  let channels;
  let publisher;
  let queue;
  const deliveries = [];

  before(async function () {
    requireBroker();
    side = await SideChannel.open();
  });
  after(async function () {
    if (side) await side.close();
  });
  beforeEach(async function () {
    connection = connectionTo(BROKER_URL, 'state-machines message-publisher');
    channels = channelsOpenedOn(connection);
    queue = await side.queue(uniqueName('state-machines-messages'));
    publisher = new ConfirmPublisher(connection, { confirm: true, confirmTimeoutMs: 10000, maxWaiting: 100 });
  });
  afterEach(async function () {
    for (const d of deliveries.splice(0)) d.forget();
    await publisher.close(0);
    await connection.close();
  });

  function messagesWith(settings = {}) {
    return new MessagePublisher(publisher, {
      exchange: '',
      persistent: false,
      mandatory: false,
      rules: RULES,
      eachElement: false,
      ...settings,
    });
  }

  function track(id) {
    const d = delivery(id);
    deliveries.push(d);
    return d;
  }

  it('an Ack: the confirm result, no reject, and the delivery hears "250 " + the JSON of the result', async function () {
    await ready(publisher);
    const d = track(uniqueName('ack'));
    const end = await published(messagesWith(), { payload: { n: 1 }, kumo: d.kumo }, queue);
    assert.equal(end.error, null);
    assert.equal(end.amqp.status, 'Ack');
    assert.equal(end.reject, null);
    assert.deepEqual(d.heard, [{ attempt: 1, kind: 'delivered', disposition: `250 ${JSON.stringify(end.amqp)}` }]);
    const got = await side.drain(queue);
    assert.deepEqual(
      got.map((m) => JSON.parse(m.content.toString())),
      [{ n: 1 }],
    );
  });

  it('a returned mandatory message: msg.reject 451, and the delivery hears a reject, not a delivery', async function () {
    await ready(publisher);
    const d = track(uniqueName('returned'));
    const end = await published(
      messagesWith({ mandatory: true }),
      { payload: 'x', kumo: d.kumo },
      uniqueName('no-such-queue'),
    );
    assert.equal(end.error, null);
    assert.equal(end.reject.code, 451);
    assert.equal(d.heard.length, 1);
    assert.equal(d.heard[0].kind, 'rejected');
    assert.equal(d.heard[0].code, 451);
  });

  it('a payload that cannot be published: an error coded bad input, told to the delivery as a permanent failure', async function () {
    await ready(publisher);
    const d = track(uniqueName('bad'));
    const end = await published(messagesWith(), { payload: undefined, kumo: d.kumo }, queue);
    assert.equal(end.error.code, ERROR_CODES.badInput);
    assert.deepEqual(d.heard, [{ attempt: 1, kind: 'failed', error: end.error.message, permanent: true }]);
  });

  it('a closing publisher refuses before encoding: an error coded closing, told to the delivery', async function () {
    await ready(publisher);
    const closed = publisher.close(0);
    const d = track(uniqueName('closing'));
    const end = await published(messagesWith(), { payload: 'x', kumo: d.kumo }, queue);
    await closed;
    assert.equal(end.error.code, ERROR_CODES.closing);
    assert.equal(d.heard[0].kind, 'failed');
    assert.equal(d.heard[0].permanent, false, "the pack's own trouble is retried");
  });

  it('a write the channel refuses because it is closing is broker trouble (retried), not bad input', async function () {
    await ready(publisher);
    assert.equal(channels.length, 1, "the publisher is the connection's only channel user");
    // The channel starts closing (as a redeploy or a broker close does); its close event has not come yet.
    channels[0].close().catch(() => undefined);
    const d = track(uniqueName('closing-channel'));
    const end = await published(messagesWith(), { payload: 'x', kumo: d.kumo }, queue);
    assert.equal(end.error.code, ERROR_CODES.brokerUnavailable);
    assert.match(end.error.message, /channel/i);
    assert.equal(d.heard[0].kind, 'failed');
    assert.equal(d.heard[0].permanent, false);
  });

  it('a custom protocol batch element is a whole message: its own properties and its own routing key', async function () {
    await ready(publisher);
    const second = await side.queue(uniqueName('second-key'));
    const members = [track(uniqueName('w1')), track(uniqueName('w2')), track(uniqueName('w3'))];
    const when = new Date('2026-12-06T10:00:00Z');
    const messages = [
      { payload: 'one', topic: queue, properties: { messageId: 'm-1', timestamp: when, headers: { n: 1 } } },
      { payload: 'two', topic: second, properties: { messageId: 'm-2', headers: { blob: Buffer.from([1, 2]) } } },
      { payload: 'three', topic: 42.5 }, // a key that is not a string: bad input for this element alone
    ];
    const end = await published(
      messagesWith(),
      { payload: messages.map((m) => m.payload), kumo: { batch: members.map((m) => m.kumo) }, messages },
      (msg) => {
        if (typeof msg.topic !== 'string')
          throw Object.assign(new Error('routing key must be a string'), { code: ERROR_CODES.badInput });
        return msg.topic;
      },
    );
    assert.equal(end.error.code, ERROR_CODES.badInput);
    assert.deepEqual(
      members.map((m) => m.heard.map((h) => `${h.kind}${h.permanent ? ' (permanent)' : ''}`)),
      [['delivered'], ['delivered'], ['failed (permanent)']],
    );
    const [first] = await side.drain(queue);
    assert.equal(first.content.toString(), 'one');
    assert.equal(first.properties.messageId, 'm-1');
    assert.equal(first.properties.timestamp, Math.floor(when.getTime() / 1000));
    assert.equal(first.properties.headers.n, 1);
    const [other] = await side.drain(second);
    assert.equal(other.content.toString(), 'two');
    assert.equal(other.properties.messageId, 'm-2');
    assert.deepEqual(other.properties.headers.blob, Buffer.from([1, 2]));
  });

  it('a custom protocol batch: each element published, each message told its own outcome, the msg ends with the first error', async function () {
    await ready(publisher);
    const members = [track(uniqueName('b1')), track(uniqueName('b2')), track(uniqueName('b3'))];
    const end = await published(
      messagesWith(),
      { payload: ['one', Symbol('not publishable'), 'three'], kumo: { batch: members.map((m) => m.kumo) } },
      queue,
    );
    assert.equal(end.error.code, ERROR_CODES.badInput);
    assert.deepEqual(
      end.amqp.results.map((r) => r.status),
      ['Ack', 'Error', 'Ack'],
    );
    assert.deepEqual(
      members.map((m) => m.heard.map((h) => h.kind)),
      [['delivered'], ['failed'], ['delivered']],
    );
    assert.equal((await side.drain(queue)).length, 2);
  });

  it('a batch whose payloads and msg.kumo.batch differ in length: bad input, and every message is told so', async function () {
    await ready(publisher);
    const members = [track(uniqueName('l1')), track(uniqueName('l2'))];
    const end = await published(
      messagesWith(),
      { payload: ['only one'], kumo: { batch: members.map((m) => m.kumo) } },
      queue,
    );
    assert.equal(end.error.code, ERROR_CODES.badInput);
    assert.match(end.error.message, /1 payloads, 2 in msg\.kumo\.batch/);
    assert.deepEqual(
      members.map((m) => m.heard.map((h) => h.kind)),
      [['failed'], ['failed']],
    );
  });

  it('an array with "each element" but no batch: one outcome for the one delivery, after every element', async function () {
    await ready(publisher);
    const d = track(uniqueName('elements'));
    const end = await published(messagesWith({ eachElement: true }), { payload: [1, 2, 3], kumo: d.kumo }, queue);
    assert.equal(end.error, null);
    assert.equal(end.amqp.status, 'Ack');
    assert.equal(end.amqp.results.length, 3);
    assert.equal(d.heard.length, 1);
    assert.equal(d.heard[0].kind, 'delivered');
    assert.equal((await side.drain(queue)).length, 3);
  });
});

describe('state machines: ConfirmPublisher.health, what the status shows', function () {
  this.timeout(30000);

  before(function () {
    requireBroker();
  });

  it('ok with the count waiting once connected, and the reason when the broker cannot be reached', async function () {
    const connection = connectionTo(BROKER_URL, 'state-machines health');
    const publisher = new ConfirmPublisher(connection, { confirm: true, confirmTimeoutMs: 10000, maxWaiting: 10 });
    try {
      assert.notEqual(publisher.health.state, 'ok', 'before the channel is open');
      // Taken before the channel is open, written once it is, and confirmed: the publisher is connected.
      const request = {
        exchange: '',
        routingKey: uniqueName('health'),
        content: Buffer.from('x'),
        options: {},
        mandatory: false,
      };
      const status = await new Promise((resolve) =>
        publisher.publish(request, (err, result) => resolve(err ? err.message : result.status)),
      );
      assert.equal(status, 'Ack');
      assert.deepEqual(publisher.health, { state: 'ok', outstanding: 0 });
    } finally {
      await publisher.close(0);
      await connection.close();
    }

    const url = new URL(BROKER_URL);
    url.port = String(await closedPort());
    const unreachable = connectionTo(url.toString(), 'state-machines health unreachable');
    const stuck = new ConfirmPublisher(unreachable, { confirm: true, confirmTimeoutMs: 10000, maxWaiting: 10 });
    try {
      await next(unreachable, 'status', (status) => status.state === 'disconnected' && status.error);
      const health = stuck.health;
      assert.equal(health.state, 'problem');
      assert.match(render(health.reason), /ECONNREFUSED/);
    } finally {
      await stuck.close(0);
      await unreachable.close();
    }
  });
});
