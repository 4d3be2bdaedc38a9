'use strict';
// Nothing a callback throws reaches the event loop (where it would stop Node-RED)
// or amqplib's frame handling (where it would tear down the shared connection):
// the delivery queue's timers, the publisher's confirms and the consumer's
// deliveries each contain their errors and report them to the node.

const assert = require('node:assert/strict');
const { ContainedEmitter } = require('../../../nodes/lib/core/base/contained');
const { ConfirmPublisher } = require('../../../nodes/lib/core/amqp/confirm-publisher');
const { Consumer } = require('../../../nodes/lib/core/amqp/consumer');
const { DeliveryQueue } = require('../../../nodes/lib/core/kumo/delivery-queue');
const { settle } = require('../../../nodes/lib/core/kumo/delivery-outcomes');
const { KumoError, ERROR_CODES } = require('../../../nodes/lib/core/text/errors');
const { say } = require('../../../nodes/lib/core/text/messages');
const { BROKER_URL, SideChannel, uniqueName, requireBroker } = require('../../helpers/amqp');
const { ManualClock } = require('../../helpers/manual-clock');
const { QUEUE, CONFIG, TIMINGS } = require('../../helpers/kumo-queue');
const { connectionTo, next, ready } = require('./support/broker');

/** Fails the test if anything reaches the process's last-resort handler meanwhile. */
function watchUncaught() {
  const seen = [];
  const listener = (err) => seen.push(err);
  process.on('uncaughtException', listener);
  return {
    seen,
    stop() {
      process.removeListener('uncaughtException', listener);
    },
  };
}

describe('contained faults: what a callback throws never stops Node-RED', function () {
  describe('an emitter of the pack', function () {
    it('runs every listener though one throws, and hands the error to its fault sink', function () {
      const emitter = new ContainedEmitter();
      const faults = [];
      emitter.fault = (err) => faults.push(err.message);
      const heard = [];
      emitter.on('change', () => {
        throw new Error('listener broke');
      });
      emitter.on('change', () => heard.push('second'));
      emitter.once('change', () => heard.push('once'));
      assert.doesNotThrow(() => emitter.emit('change'));
      emitter.emit('change');
      assert.deepEqual(heard, ['second', 'once', 'second']);
      assert.deepEqual(faults, ['listener broke', 'listener broke']);
      // An 'error' nobody listens to is reported, not thrown.
      assert.doesNotThrow(() => emitter.emit('error', new Error('nobody listens')));
      assert.equal(faults.at(-1), 'nobody listens');
    });
  });

  describe('the delivery queue', function () {
    function queueWith(send, extra = {}) {
      const clock = new ManualClock();
      const logged = [];
      const faults = [];
      const queue = new DeliveryQueue(
        { constructorName: 'make.amqp', attemptTimeoutMs: 60000, maxInFlight: 8 },
        {
          send,
          log: (_delivery, record) => logged.push(record),
          changed() {},
          fault: (err) => faults.push(err),
          clock,
          random: () => 0.5,
          ...extra,
        },
      );
      return { clock, queue, logged, faults };
    }
    const config = { ...CONFIG, retry_interval: '1s', max_age: '1h' };
    const timings = { ...TIMINGS, retryIntervalSec: 1, maxAgeSec: 3600 };

    it('ends an attempt whose hand-out throws inside a retry timer as a transient failure, and keeps going', function () {
      let sends = 0;
      const { clock, queue, logged } = queueWith((_delivery, kumo) => {
        sends++;
        if (sends === 2) throw new Error('downstream exploded');
        if (sends === 1) setImmediate(() => settle(kumo, { kind: 'failed', error: 'broker down' }));
        if (sends === 3) settle(kumo, { kind: 'delivered', disposition: '250 ok' });
      });
      queue.submit({ payload: 'x' }, QUEUE, config, timings);
      return new Promise((resolve) => setImmediate(resolve)).then(() => {
        assert.equal(logged.length, 1);
        // The retry fires from a timer: its hand-out throws; nothing escapes, the attempt is a TransientFailure.
        assert.doesNotThrow(() => clock.advance(1000));
        assert.equal(sends, 2);
        assert.equal(logged[1].type, 'TransientFailure');
        assert.match(logged[1].response.content, /could not be handed to the flow: downstream exploded/);
        clock.advance(2000);
        assert.equal(sends, 3);
        assert.equal(logged[2].type, 'Delivery');
      });
    });

    it('bounces at once a message that can never be handed out (bad input), without a retry', function () {
      let sends = 0;
      const { clock, queue, logged } = queueWith(() => {
        sends++;
        throw new KumoError(ERROR_CODES.badInput, say('message-data.too-deep', { what: 'msg.payload', depth: 128 }));
      });
      queue.submit({ payload: 'x' }, QUEUE, config, timings);
      clock.advance(3600 * 1000);
      assert.equal(sends, 1);
      assert.deepEqual(
        logged.map((r) => r.type),
        ['Bounce'],
      );
      assert.equal(logged[0].response.code, 500);
      assert.deepEqual(queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    });

    it('reports what a log record listener throws inside the attempt timeout, and the queue goes on', function () {
      const { clock, queue, faults } = queueWith(() => undefined, {
        log() {
          throw new Error('log output broke');
        },
      });
      queue.submit({ payload: 'x' }, QUEUE, config, timings);
      assert.doesNotThrow(() => clock.advance(60000));
      assert.equal(faults.length, 1);
      assert.match(faults[0].message, /log output broke/);
    });
  });

  describe('against the real broker', function () {
    let side;
    let connection;
    before(async function () {
      requireBroker();
      side = await SideChannel.open();
    });
    after(async function () {
      await side.close();
    });
    afterEach(async function () {
      await connection?.close();
    });

    it("a publish callback that throws inside amqplib's confirm handling is reported; the connection and later publishes are unharmed", async function () {
      const uncaught = watchUncaught();
      try {
        connection = connectionTo(BROKER_URL, 'contained-faults publish');
        const queue = uniqueName('contained');
        await side.queue(queue);
        const publisher = new ConfirmPublisher(connection, { confirm: true, confirmTimeoutMs: 10000 });
        const faults = [];
        publisher.fault = (err) => faults.push(err.message);
        await ready(publisher);
        const request = (body) => ({
          exchange: '',
          routingKey: queue,
          content: Buffer.from(body),
          options: {},
          mandatory: false,
        });
        await new Promise((resolve) => {
          publisher.publish(request('first'), () => {
            setImmediate(resolve);
            throw new Error('the flow broke while settling');
          });
        });
        assert.deepEqual(faults, ['the flow broke while settling']);
        const second = await new Promise((resolve) =>
          publisher.publish(request('second'), (err, result) => resolve({ err, result })),
        );
        assert.equal(second.err, null);
        assert.equal(second.result.status, 'Ack');
        assert.equal(connection.status.state, 'connected');
        assert.equal(await side.count(queue), 2);
        await publisher.close(1000);
        assert.deepEqual(uncaught.seen, []);
      } finally {
        uncaught.stop();
      }
    });

    it('a consumer whose delivery callback throws reports it and puts the message back on the queue', async function () {
      const uncaught = watchUncaught();
      try {
        connection = connectionTo(BROKER_URL, 'contained-faults consume');
        const queue = uniqueName('contained-consume');
        await side.queue(queue);
        side.channel.sendToQueue(queue, Buffer.from('one'));
        const seen = [];
        const consumer = new Consumer(connection, { queue, prefetch: 10, ackMode: 'manual' }, (delivery) => {
          seen.push(delivery.message.fields.redelivered);
          if (seen.length === 1) throw new Error('node.send broke');
        });
        const faults = [];
        consumer.fault = (err) => faults.push(err.message);
        // The message comes back, flagged as redelivered, once the failed hand-out has put it back.
        await next(consumer, 'change', () => seen.length >= 2);
        assert.deepEqual(seen.slice(0, 2), [false, true]);
        assert.deepEqual(faults, ['node.send broke']);
        await consumer.close();
        assert.deepEqual(uncaught.seen, []);
      } finally {
        uncaught.stop();
      }
    });
  });
});
