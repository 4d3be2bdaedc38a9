'use strict';

const assert = require('node:assert/strict');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { settle } = require('../../nodes/lib/core/kumo/delivery-outcomes');
const { systemClock } = require('../../nodes/lib/core/base/clock');

// The lifecycle of a custom protocol delivery, without Node-RED or a broker:
// io.send stands for output 1, io.log for output 2, and the tests report
// outcomes the way the amqp publish and reject nodes do.

const { QUEUE, CONFIG, TIMINGS } = require('../helpers/kumo-queue');
// A retry after 10 ms, so a test can see the second attempt happen.
const FAST_RETRY = { retryIntervalSec: 0.01, maxRetryIntervalSec: null, maxAgeSec: 604800 };
const NO_JITTER = () => 0.5;
/** The system's timers, with a current time the test sets. */
const timeAt = (now) => ({ clock: { now, setTimer: systemClock.setTimer } });

const queues = [];

/** A DeliveryQueue whose outputs are recorded; nextSend/nextLog resolve when the n-th one happens. */
function harness(settings = {}, ioExtra = {}) {
  const sent = [];
  const logged = [];
  const waiters = [];
  let changes = 0;
  function wake() {
    for (const w of waiters.splice(0)) {
      if (!w.check()) waiters.push(w);
    }
  }
  function until(check) {
    return new Promise((resolve) => {
      const w = {
        check: () => {
          if (!check()) return false;
          resolve();
          return true;
        },
      };
      if (!w.check()) waiters.push(w);
    });
  }
  const io = {
    send(delivery, kumo) {
      sent.push({ delivery, kumo });
      wake();
    },
    log(delivery, record, kumo) {
      logged.push({ delivery, record, kumo });
      wake();
    },
    changed() {
      changes++;
    },
    // The size a log record gives: the payload's length (these tests' payloads are ASCII strings).
    measure: (delivery) => String(delivery.msg.payload ?? '').length,
    random: NO_JITTER,
    ...ioExtra,
  };
  const queue = new DeliveryQueue(
    { constructorName: 'make.amqp', attemptTimeoutMs: 60000, maxInFlight: 128, ...settings },
    io,
  );
  queues.push(queue);
  return {
    queue,
    sent,
    logged,
    get changes() {
      return changes;
    },
    nextSend: (n) => until(() => sent.length >= n),
    nextLog: (n) => until(() => logged.length >= n),
    submit: (timings = TIMINGS, msg = { payload: 'hello' }) => queue.submit(msg, QUEUE, CONFIG, timings),
  };
}

afterEach(async function () {
  // clears the attempt timeout and retry timers of every queue a test made
  for (const queue of queues.splice(0)) await queue.close(0);
});

function types(logged) {
  return logged.map((l) => l.record.type);
}

describe('delivery: a submitted message goes out of output 1 with msg.kumo', function () {
  it('sends attempt 1 with a 32-hex id, the constructor and the queue parts', function () {
    const h = harness();
    const msg = { payload: 'hello' };
    const delivery = h.queue.submit(msg, QUEUE, CONFIG, TIMINGS);
    assert.equal(h.sent.length, 1);
    const { delivery: sentDelivery, kumo } = h.sent[0];
    assert.equal(sentDelivery, delivery);
    assert.equal(sentDelivery.msg, msg);
    assert.match(kumo.id, /^[0-9a-f]{32}$/);
    assert.deepEqual(kumo, {
      id: delivery.id,
      queue: 'amqp',
      domain: 'amqp',
      tenant: null,
      campaign: null,
      routing_domain: null,
      constructor: 'make.amqp',
      attempt: 1,
    });
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 1, waiting: 0 });
    assert.ok(h.changes > 0, 'status was not told about the new delivery');
  });

  it('gives every message its own id', function () {
    const h = harness();
    const ids = new Set([h.submit(), h.submit(), h.submit()].map((d) => d.id));
    assert.equal(ids.size, 3);
  });

  it('carries the queue parts of a tenant/campaign/routing queue', function () {
    const h = harness();
    const queue = {
      name: 'spring:acme@example.com!relay.example.net',
      domain: 'example.com',
      tenant: 'acme',
      campaign: 'spring',
      routing_domain: 'relay.example.net',
    };
    h.queue.submit({}, queue, CONFIG, TIMINGS);
    const { kumo } = h.sent[0];
    assert.deepEqual(
      [kumo.queue, kumo.domain, kumo.tenant, kumo.campaign, kumo.routing_domain],
      [queue.name, 'example.com', 'acme', 'spring', 'relay.example.net'],
    );
  });
});

describe('delivery: a delivered attempt logs one Delivery record', function () {
  it('logs code 200 with the disposition as content and num_attempts 0, then nothing more', function () {
    const h = harness();
    h.submit();
    const disposition = '250 {"status":"Ack","reply_code":0,"reply_text":"","exchange":"","routing_key":"logging"}';
    assert.equal(settle(h.sent[0].kumo, { kind: 'delivered', disposition }), true);
    assert.deepEqual(types(h.logged), ['Delivery']);
    const { record, kumo } = h.logged[0];
    assert.equal(record.id, h.sent[0].kumo.id);
    assert.equal(record.queue, 'amqp');
    assert.equal(record.site, 'unspecified->amqp@lua:make.amqp');
    assert.equal(record.size, 5);
    assert.deepEqual(record.response, { code: 200, enhanced_code: null, content: disposition, command: null });
    assert.equal(record.num_attempts, 0);
    assert.equal(record.delivery_protocol, 'Lua');
    assert.equal(kumo.attempt, 1);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.equal(h.sent.length, 1);
    assert.equal(record.sender, null, 'a message without an envelope logs sender null');
    assert.equal(record.recipient, null);
  });

  it('measures a message of unknown size once, when its first log record is built, and never without log records', function () {
    const measured = [];
    const measure = (delivery) => {
      measured.push(delivery.id);
      return 1234;
    };
    const h = harness({}, { measure });
    h.queue.submit({ payload: { an: 'object' } }, QUEUE, CONFIG, TIMINGS);
    assert.deepEqual(measured, [], 'measured before any record was needed');
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'later' });
    assert.equal(h.logged[0].record.size, 1234);
    assert.equal(measured.length, 1);

    const quiet = harness({ logRecords: false }, { measure });
    quiet.queue.submit({ payload: { an: 'object' } }, QUEUE, CONFIG, TIMINGS);
    settle(quiet.sent[0].kumo, { kind: 'delivered', disposition: '250 ok' });
    assert.equal(measured.length, 1, 'measured although output 2 is unwired');
  });

  it('carries the envelope the message was submitted with into every record, retries included', function () {
    const h = harness();
    const envelope = { sender: 'bounce@example.com', recipient: 'user@example.net' };
    h.queue.submit({ payload: 'hello' }, QUEUE, CONFIG, TIMINGS, envelope);
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'later' });
    assert.deepEqual(types(h.logged), ['TransientFailure']);
    assert.equal(h.logged[0].record.sender, 'bounce@example.com');
    assert.equal(h.logged[0].record.recipient, 'user@example.net');
  });
});

describe('delivery: a 4xx reject is a transient failure, retried on schedule', function () {
  it('logs TransientFailure and sends attempt 2 after retry_interval', async function () {
    const h = harness();
    const delivery = h.submit(FAST_RETRY);
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: '451 4.4.1 broker busy' });
    assert.deepEqual(types(h.logged), ['TransientFailure']);
    // KumoMTA's Lua dispatcher parses no enhanced code out of a reject (lua_deliver.rs).
    assert.deepEqual(h.logged[0].record.response, {
      code: 451,
      enhanced_code: null,
      content: '451 4.4.1 broker busy',
      command: null,
    });
    assert.equal(h.logged[0].record.num_attempts, 0);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 1 });
    assert.deepEqual(h.queue.retryingDeliveries, [delivery]);

    await h.nextSend(2);
    assert.equal(h.sent[1].kumo.id, h.sent[0].kumo.id);
    assert.equal(h.sent[1].kumo.attempt, 2);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 1, waiting: 0 });

    settle(h.sent[1].kumo, { kind: 'delivered', disposition: '250 ok' });
    assert.deepEqual(types(h.logged), ['TransientFailure', 'Delivery']);
    assert.equal(h.logged[1].record.num_attempts, 1);
    assert.deepEqual(h.queue.retryingDeliveries, []);
  });

  it('waits retry_interval (20 minutes by default) rather than retrying at once', function () {
    const start = 1_700_000_000_000;
    const h = harness(
      {},
      timeAt(() => start),
    );
    h.submit();
    settle(h.sent[0].kumo, { kind: 'rejected', code: 421, message: 'try later' });
    const [waiting] = h.queue.retryingDeliveries;
    assert.equal(waiting.state, 'waiting');
    assert.equal(waiting.dueMs, start + 1200 * 1000);
    assert.equal(h.sent.length, 1);
  });
});

describe('delivery: a 5xx reject bounces the message', function () {
  it('logs Bounce with the code and message and does not retry', function () {
    const h = harness();
    h.submit(FAST_RETRY);
    settle(h.sent[0].kumo, { kind: 'rejected', code: 550, message: '550 5.7.1 not allowed' });
    assert.deepEqual(types(h.logged), ['Bounce']);
    assert.equal(h.logged[0].record.response.code, 550);
    assert.equal(h.logged[0].record.response.content, '550 5.7.1 not allowed');
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.deepEqual(h.queue.retryingDeliveries, []);
  });

  it('bounces a Nack, reported as code 500', function () {
    const h = harness();
    h.submit();
    settle(h.sent[0].kumo, { kind: 'rejected', code: 500, message: '{"status":"Nack"}' });
    assert.deepEqual(types(h.logged), ['Bounce']);
    assert.equal(h.logged[0].record.response.code, 500);
  });
});

describe('delivery: an error other than a reject is a transient failure', function () {
  it('logs TransientFailure 400 "KumoMTA internal: error in deliver_message: ..."', function () {
    const h = harness();
    h.submit();
    settle(h.sent[0].kumo, { kind: 'failed', error: 'connection lost' });
    assert.deepEqual(types(h.logged), ['TransientFailure']);
    assert.equal(h.logged[0].record.response.code, 400);
    // anyhow's chain, with lua_deliver.rs's context for the send method.
    assert.equal(
      h.logged[0].record.response.content,
      'KumoMTA internal: error in deliver_message: sender:send method failed: connection lost',
    );
    assert.equal(h.logged[0].record.peer_address, null, 'an internal error has no peer (ready_queue.rs)');
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 1 });
  });
});

describe('delivery: the first outcome of an attempt stands', function () {
  it('ignores a second report for the same attempt (a fork with two publish nodes)', function () {
    const h = harness();
    h.submit();
    const { kumo } = h.sent[0];
    settle(kumo, { kind: 'delivered', disposition: '250 first' });
    assert.equal(settle(kumo, { kind: 'delivered', disposition: '250 second' }), false);
    assert.equal(settle(kumo, { kind: 'rejected', code: 550, message: 'late' }), false);
    assert.deepEqual(types(h.logged), ['Delivery']);
    assert.equal(h.logged[0].record.response.content, '250 first');
  });

  it('ignores a late report for an earlier attempt', async function () {
    const h = harness();
    h.submit(FAST_RETRY);
    const first = h.sent[0].kumo;
    settle(first, { kind: 'rejected', code: 451, message: 'busy' });
    await h.nextSend(2);
    settle(first, { kind: 'delivered', disposition: '250 stale' });
    assert.deepEqual(types(h.logged), ['TransientFailure']);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 1, waiting: 0 });
    settle(h.sent[1].kumo, { kind: 'delivered', disposition: '250 current' });
    assert.deepEqual(types(h.logged), ['TransientFailure', 'Delivery']);
    assert.equal(h.logged[1].record.response.content, '250 current');
  });

  it('does not take a report for a message that is not a delivery', function () {
    assert.equal(settle(undefined, { kind: 'delivered', disposition: '250' }), false);
    assert.equal(settle({ id: 'nobody', attempt: 1 }, { kind: 'delivered', disposition: '250' }), false);
    assert.equal(settle({ id: 42, attempt: 1 }, { kind: 'delivered', disposition: '250' }), false);
  });
});

describe('delivery: backpressure', function () {
  it('keeps at most maxInFlight attempts in flight and queues the rest', function () {
    const h = harness({ maxInFlight: 2 });
    for (let i = 0; i < 5; i++) h.submit();
    assert.equal(h.sent.length, 2);
    assert.deepEqual(h.queue.counts, { queued: 3, inFlight: 2, waiting: 0 });
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    assert.equal(h.sent.length, 3);
    assert.deepEqual(h.queue.counts, { queued: 2, inFlight: 2, waiting: 0 });
    for (let i = 1; i < 5; i++) settle(h.sent[i].kumo, { kind: 'delivered', disposition: '250' });
    assert.equal(h.sent.length, 5);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.deepEqual(types(h.logged), ['Delivery', 'Delivery', 'Delivery', 'Delivery', 'Delivery']);
  });

  it('refuses a message beyond maxQueued unfinished deliveries with "not keeping up"', function () {
    const h = harness({ maxInFlight: 1, maxQueued: 2 });
    h.submit();
    h.submit();
    assert.throws(() => h.submit(), {
      message: 'custom protocol "make.amqp" is not keeping up: 2 messages unfinished (limit 2); message not accepted',
    });
    assert.equal(h.sent.length, 1);
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    h.submit(); // room again
    assert.deepEqual(h.queue.counts, { queued: 1, inFlight: 1, waiting: 0 });
  });

  it('refuses a message past maxQueuedBytes of unfinished data, and takes it again once a delivery ends', function () {
    const h = harness({ maxInFlight: 1, maxQueuedBytes: 1000 });
    const submitHolding = (bytes) => h.queue.submit({ payload: 'x' }, QUEUE, CONFIG, TIMINGS, undefined, bytes);
    submitHolding(600);
    assert.throws(() => submitHolding(600), {
      code: 'KUMO_OVERLOADED',
      message:
        'custom protocol "make.amqp" is not keeping up: 600 bytes of messages unfinished (limit 1000); message not accepted',
    });
    submitHolding(400); // fits exactly
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    submitHolding(600); // the first one's bytes are free again
    // One message larger than the whole limit is taken when nothing else is held: it could never be otherwise.
    const alone = harness({ maxQueuedBytes: 1000 });
    alone.queue.submit({ payload: 'x' }, QUEUE, CONFIG, TIMINGS, undefined, 5000);
    assert.equal(alone.sent.length, 1);
  });

  it('counts deliveries waiting to retry against maxQueued', function () {
    const h = harness({ maxQueued: 1 });
    h.submit();
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'busy' });
    assert.throws(() => h.submit(), /not keeping up: 1 messages unfinished \(limit 1\)/);
  });
});

describe('delivery: a message past max_age expires', function () {
  it('logs TransientFailure then Expiration 551 when age + next delay exceeds max_age', function () {
    let now = 1_700_000_000_000;
    const h = harness(
      {},
      timeAt(() => now),
    );
    const timings = { retryIntervalSec: 1200, maxRetryIntervalSec: null, maxAgeSec: 2000 };
    h.submit(timings);
    now += 1000 * 1000; // 1000 s old; the next attempt would be at 2200 s
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'busy' });
    assert.deepEqual(types(h.logged), ['TransientFailure', 'Expiration']);
    const expiration = h.logged[1].record;
    assert.equal(expiration.response.code, 551);
    assert.deepEqual(expiration.response.enhanced_code, { class: 5, subject: 4, detail: 7 });
    assert.match(expiration.response.content, /^Next delivery time would be .+ after creation, which exceeds max_age=/);
    assert.equal(expiration.site, '');
    // queue.rs counts the failed attempt before it expires the message; the TransientFailure came before that.
    assert.equal(h.logged[0].record.num_attempts, 0);
    assert.equal(expiration.num_attempts, 1);
    assert.equal(expiration.peer_address, null);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.deepEqual(h.queue.retryingDeliveries, []);
  });
});

describe('delivery: an attempt with no outcome times out', function () {
  it('logs TransientFailure "no outcome reported within ..." after attemptTimeoutMs', async function () {
    const h = harness({ attemptTimeoutMs: 20 });
    h.submit();
    await h.nextLog(1);
    assert.deepEqual(types(h.logged), ['TransientFailure']);
    assert.equal(h.logged[0].record.response.code, 400);
    assert.equal(
      h.logged[0].record.response.content,
      'KumoMTA internal: error in deliver_message: sender:send method failed: no outcome reported within 0.02 s (timeout)',
    );
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 1 });
    // the timed-out attempt's own report comes too late to count
    assert.equal(settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250 late' }), false);
    assert.equal(h.logged.length, 1);
  });

  it('times out each attempt of several started at different times', async function () {
    const h = harness({ attemptTimeoutMs: 20 });
    h.submit();
    h.submit();
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    await h.nextLog(2);
    assert.deepEqual(types(h.logged), ['Delivery', 'TransientFailure']);
    assert.equal(h.logged[1].record.id, h.sent[1].kumo.id);
  });

  it('does not later turn a delivered attempt into a timeout', async function () {
    const h = harness({ attemptTimeoutMs: 20 });
    h.submit();
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250 ok' });
    // An observation window, not synchronisation: nothing should happen in it,
    // so there is no event to await; 3 × the timeout lets any wrong timer fire.
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(types(h.logged), ['Delivery']);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.equal(h.sent.length, 1);
  });
});

describe('delivery: close hands back what is unfinished', function () {
  it('returns in-flight, queued and waiting deliveries after the grace time, and refuses new messages', async function () {
    const h = harness({ maxInFlight: 2 });
    const a = h.submit();
    const b = h.submit();
    const c = h.submit();
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'busy' }); // a waits, c starts
    const d = h.submit(); // queued
    assert.deepEqual(h.queue.counts, { queued: 1, inFlight: 2, waiting: 1 });

    const unfinished = await h.queue.close(10);
    assert.deepEqual(new Set(unfinished.map((x) => x.id)), new Set([a.id, b.id, c.id, d.id]));
    assert.equal(unfinished.length, 4);
    assert.throws(() => h.submit(), { message: 'custom protocol "make.amqp" is closing; message not accepted' });
    // reports for handed-back deliveries no longer reach the queue
    assert.equal(settle(h.sent[1].kumo, { kind: 'delivered', disposition: '250' }), false);
    assert.deepEqual(types(h.logged), ['TransientFailure']);
  });

  it('waits for attempts in flight and does not start queued ones', async function () {
    const h = harness({ maxInFlight: 1 });
    h.submit();
    const queued = h.submit();
    const closing = h.queue.close(60000);
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    const unfinished = await closing;
    assert.deepEqual(
      unfinished.map((x) => x.id),
      [queued.id],
    );
    assert.equal(h.sent.length, 1);
    assert.deepEqual(types(h.logged), ['Delivery']);
  });

  it('hands back a held delivery (spool) released while it waits for attempts in flight, without starting it', async function () {
    const h = harness();
    h.submit(); // in flight: the close waits for it
    const held = h.queue.submit({ payload: 'spooled' }, QUEUE, CONFIG, TIMINGS, undefined, 0, true);
    const closing = h.queue.close(60000);
    h.queue.release(held); // its journal write ends during the close
    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    const unfinished = await closing;
    assert.deepEqual(
      unfinished.map((x) => x.id),
      [held.id],
      'the released delivery is handed back, not dropped',
    );
    assert.equal(h.sent.length, 1, 'nothing starts while closing');
  });
});

describe('delivery: with output 2 unwired (logRecords false)', function () {
  it('never builds a log record but still settles, retries and bounces', async function () {
    const h = harness({ logRecords: false }, { log: () => assert.fail('io.log called with logRecords: false') });
    h.submit(FAST_RETRY);
    h.submit();
    settle(h.sent[0].kumo, { kind: 'rejected', code: 451, message: 'busy' });
    settle(h.sent[1].kumo, { kind: 'rejected', code: 550, message: 'no' });
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 1 });
    await h.nextSend(3);
    assert.equal(h.sent[2].kumo.attempt, 2);
    settle(h.sent[2].kumo, { kind: 'delivered', disposition: '250' });
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 0 });
    assert.deepEqual(h.queue.retryingDeliveries, []);
  });
});

describe('delivery: restore takes back a delivery a previous run left unfinished', function () {
  it('keeps its id and attempts and waits until its due time', async function () {
    const start = Date.now();
    const h = harness(
      {},
      timeAt(() => start),
    );
    const createdMs = start - 3600 * 1000;
    const saved = { id: '0123456789abcdef0123456789abcdef', createdMs, attempts: 2, dueMs: start + 20 };
    const delivery = h.queue.restore({ payload: 'again' }, QUEUE, CONFIG, TIMINGS, saved);
    assert.equal(delivery.id, saved.id);
    assert.equal(delivery.state, 'waiting');
    assert.equal(delivery.dueMs, saved.dueMs);
    assert.equal(h.sent.length, 0);
    assert.deepEqual(h.queue.counts, { queued: 0, inFlight: 0, waiting: 1 });
    assert.deepEqual(h.queue.retryingDeliveries, [delivery]);

    await h.nextSend(1);
    assert.equal(h.sent[0].kumo.id, saved.id);
    assert.equal(h.sent[0].kumo.attempt, 3);
    assert.deepEqual(h.sent[0].delivery.msg, { payload: 'again' });

    settle(h.sent[0].kumo, { kind: 'delivered', disposition: '250' });
    const { record } = h.logged[0];
    assert.equal(record.type, 'Delivery');
    assert.equal(record.id, saved.id);
    assert.equal(record.num_attempts, 2);
    assert.equal(record.created, Math.floor(createdMs / 1000));
    assert.deepEqual(h.queue.retryingDeliveries, []);
  });

  it('sends a delivery whose due time has passed straight away', async function () {
    const h = harness();
    h.queue.restore({}, QUEUE, CONFIG, TIMINGS, {
      id: 'fedcba9876543210fedcba9876543210',
      createdMs: Date.now(),
      attempts: 1,
      dueMs: 0,
    });
    await h.nextSend(1);
    assert.equal(h.sent[0].kumo.attempt, 2);
  });
});
