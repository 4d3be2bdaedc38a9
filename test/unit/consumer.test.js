'use strict';
// The Consumer state machine driven at its edges against the real broker:
// the prefetch window, acknowledging by handle (once), a close and a dropped
// connection returning what was not acknowledged, the broker cancelling the
// consumer when its queue is deleted, a queue that does not exist yet, and
// a declaration the broker refuses.

const assert = require('node:assert/strict');
const { Consumer } = require('../../nodes/lib/core/amqp/consumer');
const { acknowledge } = require('../../nodes/lib/core/amqp/consumer-handles');
const { queueDeclaration } = require('../../nodes/lib/core/amqp/consumer-queue');
const { BrokerConnection } = require('../../nodes/lib/core/amqp/broker-connection');
const { parseBrokerUrls } = require('../../nodes/lib/core/amqp/broker-url');
const { BROKER_URL, CREDENTIALS, SideChannel, uniqueName } = require('../helpers/amqp');
const { TcpProxy } = require('../helpers/tcp-proxy');

const FAST = { initialDelayMs: 50, maxDelayMs: 300 };

function connectionTo(url) {
  return new BrokerConnection({
    endpoints: parseBrokerUrls(url, 5),
    credentials: CREDENTIALS,
    secrets: [CREDENTIALS.password],
    connectionName: 'unit consumer',
    connectTimeoutMs: 5000,
    backoff: { initialDelayMs: 50, maxDelayMs: 500, jitter: 0 },
  });
}

/** A consumer whose deliveries are kept in `got`; `next(n)` resolves once n have arrived. */
function consumerOn(connection, settings) {
  const got = [];
  const waiters = [];
  const consumer = new Consumer(connection, { declaration: null, ackMode: 'manual', retry: FAST, ...settings }, (d) => {
    got.push(d);
    for (const w of waiters.slice())
      if (got.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(got);
      }
  });
  return {
    consumer,
    got,
    next: (n) => (got.length >= n ? Promise.resolve(got) : new Promise((resolve) => waiters.push({ n, resolve }))),
    state: (wanted) =>
      consumer.state === wanted
        ? Promise.resolve()
        : new Promise((resolve) => {
            const check = () => {
              if (consumer.state !== wanted) return;
              consumer.removeListener('change', check);
              resolve();
            };
            consumer.on('change', check);
          }),
  };
}

function publish(side, queue, n, from = 0) {
  for (let i = from; i < from + n; i++) side.channel.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
}

/** Ready messages in the queue, once the broker has settled what it was told (basic.get-free, no consumer needed). */
async function readyCount(side, queue, expected) {
  // Acks and requeues are asynchronous at the broker: ask until it says what we wait for, or say what it said.
  const deadline = Date.now() + 5000;
  let count;
  do {
    count = await side.count(queue);
    if (count === expected) return count;
    await new Promise((r) => setImmediate(r));
  } while (Date.now() < deadline);
  return count;
}

describe('Consumer (core) against the real broker', function () {
  this.timeout(20000);
  let side;
  let connection;
  const consumers = [];

  beforeEach(async () => {
    side = await SideChannel.open();
    connection = connectionTo(BROKER_URL);
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    await connection.close();
    await side.close();
  });

  function track(c) {
    consumers.push(c.consumer);
    return c;
  }

  it('hands over at most prefetch deliveries until the flow acknowledges some', async () => {
    const queue = await side.queue(uniqueName('unit-prefetch'));
    publish(side, queue, 20);
    const c = track(consumerOn(connection, { queue, prefetch: 5 }));
    await c.next(5);
    await c.state('consuming');
    // Nothing to await for an absence: a sixth delivery would arrive within this window if the broker sent it.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.got.length, 5);
    assert.equal(c.consumer.unacknowledged, 5);
    for (const d of c.got.slice(0, 3)) assert.deepEqual(acknowledge(d.handle, 'ack'), { outcome: 'acknowledged' });
    await c.next(8);
    assert.equal(c.consumer.unacknowledged, 5);
  });

  it('settles each delivery once: ack removes, requeue redelivers, reject drops; a second settle is refused', async () => {
    const queue = await side.queue(uniqueName('unit-acknowledge'));
    publish(side, queue, 3);
    const c = track(consumerOn(connection, { queue, prefetch: 3 }));
    const [a, b, r] = await c.next(3);
    assert.deepEqual(acknowledge(a.handle, 'ack'), { outcome: 'acknowledged' });
    assert.deepEqual(acknowledge(a.handle, 'ack'), { outcome: 'already-acknowledged' });
    assert.deepEqual(acknowledge(r.handle, 'reject'), { outcome: 'acknowledged' });
    assert.deepEqual(acknowledge(b.handle, 'requeue'), { outcome: 'acknowledged' });
    const [again] = (await c.next(4)).slice(3);
    assert.equal(again.message.content.toString(), b.message.content.toString());
    assert.equal(again.message.fields.redelivered, true);
    assert.equal(a.message.fields.redelivered, false);
    // The refused second ack never reached the broker: the channel still works.
    assert.deepEqual(acknowledge(again.handle, 'ack'), { outcome: 'acknowledged' });
    assert.equal(await readyCount(side, queue, 0), 0);
  });

  it('acknowledges on receipt in auto mode: nothing for the flow to acknowledge, nothing returns on close', async () => {
    const queue = await side.queue(uniqueName('unit-auto'));
    publish(side, queue, 10);
    const c = consumerOn(connection, { queue, prefetch: 3, ackMode: 'auto' });
    await c.next(10);
    assert.ok(c.got.every((d) => d.handle === null));
    await c.consumer.close();
    assert.equal(await readyCount(side, queue, 0), 0);
  });

  it('returns unacknowledged deliveries to the queue on close (redelivered), and their handles are gone', async () => {
    const queue = await side.queue(uniqueName('unit-close'));
    publish(side, queue, 4);
    const c = consumerOn(connection, { queue, prefetch: 10 });
    const got = await c.next(4);
    acknowledge(got[0].handle, 'ack');
    await c.consumer.close();
    assert.equal(c.consumer.state, 'closed');
    assert.deepEqual(acknowledge(got[1].handle, 'ack'), { outcome: 'channel-gone' });
    assert.equal(await readyCount(side, queue, 3), 3);
    const back = await side.drain(queue);
    assert.deepEqual(
      back.map((m) => [m.content.toString(), m.fields.redelivered]),
      [
        ['1', true],
        ['2', true],
        ['3', true],
      ],
    );
  });

  it('after a dropped connection: disconnected, handles gone, consumes again with the unacknowledged redelivered', async () => {
    const url = new URL(BROKER_URL);
    const proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5672) });
    const viaProxy = connectionTo(proxy.url(BROKER_URL));
    try {
      const queue = await side.queue(uniqueName('unit-drop'));
      publish(side, queue, 6);
      const c = consumerOn(viaProxy, { queue, prefetch: 6 });
      const got = await c.next(6);
      acknowledge(got[0].handle, 'ack');
      acknowledge(got[1].handle, 'ack');
      proxy.drop(); // the two acks may or may not have reached the broker: at least once, not exactly once

      await c.state('disconnected');
      assert.ok(c.consumer.problem, 'the state names why');
      assert.deepEqual(acknowledge(got[2].handle, 'ack'), { outcome: 'channel-gone' });
      await c.state('consuming');
      // 4 come back, or 6 when the two acks were lost with the connection.
      let again = (await c.next(10)).slice(6);
      while (!['2', '3', '4', '5'].every((b) => again.some((d) => d.message.content.toString() === b)))
        again = (await c.next(c.got.length + 1)).slice(6);
      const bodies = again.map((d) => d.message.content.toString());
      assert.deepEqual(
        bodies.filter((b) => b >= '2'),
        ['2', '3', '4', '5'],
        'every unacknowledged delivery comes back',
      );
      assert.ok(
        again.every((d) => d.message.fields.redelivered),
        'flagged redelivered',
      );
      for (const d of again) assert.deepEqual(acknowledge(d.handle, 'ack'), { outcome: 'acknowledged' });
      await c.consumer.close();
      assert.equal(await readyCount(side, queue, 0), 0, 'everything was acknowledged in the end');
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('says the broker cancelled it when its queue is deleted, and consumes again once the queue is back', async () => {
    const queue = await side.queue(uniqueName('unit-cancel'), { durable: false });
    const c = track(consumerOn(connection, { queue, prefetch: 5 }));
    await c.state('consuming');
    await side.channel.deleteQueue(queue);
    await c.state('cancelled');
    await side.queue(queue, { durable: false });
    await c.state('consuming');
    publish(side, queue, 2);
    const got = await c.next(2);
    assert.deepEqual(
      got.map((d) => d.message.content.toString()),
      ['0', '1'],
    );
    for (const d of got) assert.deepEqual(acknowledge(d.handle, 'ack'), { outcome: 'acknowledged' });
  });

  it("waits for a queue that does not exist yet (the broker's 404 is the problem shown), then consumes it", async () => {
    const queue = uniqueName('unit-missing');
    const c = track(consumerOn(connection, { queue, prefetch: 5 }));
    await c.state('waiting');
    assert.match(c.consumer.problem, /404|NOT_FOUND/);
    await side.queue(queue, { durable: false });
    publish(side, queue, 1);
    await c.next(1);
    assert.equal(c.consumer.state, 'consuming');
  });

  it('declares the queue with its arguments and binding, and consumes an existing queue of other arguments as it is', async () => {
    const queue = uniqueName('unit-declare');
    const exchange = uniqueName('unit-declare-ex');
    side.queues.push(queue);
    side.exchanges.push(exchange);
    const { declaration } = queueDeclaration({
      queue,
      messageTtl: '600000',
      exchange,
      exchangeType: 'topic',
      routingKey: 'log.#',
    });
    const c = track(consumerOn(connection, { queue, prefetch: 5, declaration }));
    await c.state('consuming');
    side.channel.publish(exchange, 'log.bounce', Buffer.from('routed'));
    const [d] = await c.next(1);
    assert.equal(d.message.fields.routingKey, 'log.bounce');
    acknowledge(d.handle, 'ack');

    // Another node declaring the same queue with a dead-letter exchange: the broker refuses (406); it warns and consumes.
    const other = consumerOn(connection, {
      queue,
      prefetch: 5,
      declaration: queueDeclaration({ queue, deadLetterExchange: 'dlx' }).declaration,
    });
    track(other);
    const refused = new Promise((resolve) => other.consumer.once('declare-refused', resolve));
    assert.match(await refused, /PRECONDITION_FAILED|406/);
    await other.state('consuming');
  });
});
