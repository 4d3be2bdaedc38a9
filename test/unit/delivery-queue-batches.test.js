'use strict';
// KumoMTA's batched delivery (custom_lua batch_size, min_batch_size,
// max_batch_latency) in the delivery queue, on a hand-driven clock: how batches
// form per site, that each message of a batch has its own outcome, and that
// a partly failed batch retries only what failed, each on its own schedule.

const assert = require('node:assert/strict');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { settle } = require('../../nodes/lib/core/kumo/delivery-outcomes');
const { compileRules, makeQueueConfig, ruleProblems, timingsOf } = require('../../nodes/lib/core/kumo/queue-config');
const { customLuaBatch, nodeBatchSettings } = require('../../nodes/lib/core/kumo/batching');
const { ManualClock } = require('../helpers/manual-clock');

const queueOf = (domain) => ({ name: domain, domain, tenant: null, campaign: null, routing_domain: null });

function config(batch) {
  return makeQueueConfig({
    protocol: { custom_lua: { constructor: 'make.batch', ...batch } },
    retry_interval: '10s',
    max_age: '1h',
  });
}

function harness(settings = {}) {
  const clock = new ManualClock();
  const singles = [];
  const batches = [];
  const records = [];
  const queue = new DeliveryQueue(
    { constructorName: 'make.batch', attemptTimeoutMs: 60000, maxInFlight: 1000, ...settings },
    {
      send: (delivery, kumo) => singles.push({ delivery, kumo }),
      sendBatch: (deliveries, kumos) => batches.push({ deliveries, kumos }),
      log: (_delivery, record) => records.push(record),
      changed() {},
      clock,
      random: () => 0.5,
    },
  );
  const submit = (payload, cfg, domain = 'amqp') => {
    const c = cfg ?? config({ batch_size: 10 });
    return queue.submit({ payload }, queueOf(domain), c, timingsOf(c));
  };
  return { queue, clock, singles, batches, records, submit };
}

const harnesses = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    const closed = h.queue.close(0);
    h.clock.advance(0);
    await closed;
  }
});

describe('batches: the custom_lua batch fields', function () {
  it('are validated as KumoMTA documents them: whole numbers from 1, min not above the batch size, latency a duration', function () {
    assert.deepEqual(customLuaBatch({ batch_size: '100', min_batch_size: 10, max_batch_latency: '5s' }), {
      batch_size: 100,
      min_batch_size: 10,
      max_batch_latency: '5s',
    });
    assert.deepEqual(customLuaBatch({ max_batch_latency: 2 }), { max_batch_latency: '2s' });
    assert.deepEqual(customLuaBatch({ batch_size: '', min_batch_size: null }), {});
    assert.throws(() => customLuaBatch({ batch_size: 0 }), /batch_size must be a whole number, 1 or more, not 0/);
    assert.throws(() => customLuaBatch({ batch_size: 2.5 }), /batch_size must be a whole number/);
    assert.throws(() => customLuaBatch({ min_batch_size: 'many' }), /min_batch_size must be a whole number/);
    assert.throws(
      () => customLuaBatch({ batch_size: 5, min_batch_size: 6 }),
      /min_batch_size \(6\) must not be more than batch_size \(5\)/,
    );
    assert.throws(() => customLuaBatch({ max_batch_latency: 'soon' }), /max_batch_latency/);
  });

  it('appear in msg.queueConfig KumoMTA-shaped, and only when set', function () {
    assert.deepEqual(config({ batch_size: '50', max_batch_latency: '1s' }).protocol, {
      custom_lua: { constructor: 'make.batch', batch_size: 50, max_batch_latency: '1s' },
    });
    assert.deepEqual(config({}).protocol, { custom_lua: { constructor: 'make.batch' } });
    assert.throws(() => config({ batch_size: -1 }), /batch_size/);
  });

  it('are checked per field in a queue config rule, so the editor marks the right input', function () {
    const rule = (fields) => ({ match: {}, protocol: 'custom_lua', constructor: 'make.batch', ...fields });
    assert.deepEqual(
      ruleProblems(rule({ batch_size: '0' })).map((p) => p.field),
      ['batch_size'],
    );
    assert.deepEqual(
      ruleProblems(rule({ batch_size: '10', min_batch_size: '20' })).map((p) => p.field),
      ['min_batch_size'],
    );
    assert.deepEqual(
      ruleProblems(rule({ max_batch_latency: 'soon' })).map((p) => p.field),
      ['max_batch_latency'],
    );
    assert.deepEqual(ruleProblems(rule({ batch_size: '10', min_batch_size: '5', max_batch_latency: '250ms' })), []);
    assert.throws(
      () => compileRules([rule({ batch_size: '10', min_batch_size: '20' })]),
      /rule 1: min_batch_size \(20\)/,
    );
  });

  it("default to KumoMTA's 1, 1 and 0 s on the node", function () {
    assert.deepEqual(nodeBatchSettings({}), { batchSize: 1, minBatchSize: 1, maxBatchLatencySec: 0 });
  });
});

describe('batches: how they form', function () {
  it('sends a full batch at once, and gathers what arrives in the same turn into the next', function () {
    const h = harness();
    harnesses.push(h);
    for (let i = 0; i < 25; i++) h.submit(`m${i}`);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.length),
      [10, 10],
      'full batches go at once',
    );
    h.clock.advance(0);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.length),
      [10, 10, 5],
      'the rest goes after the turn (min 1, latency 0)',
    );
    assert.equal(h.singles.length, 0, 'a batch size above 1 always sends batches');
    assert.equal(
      h.batches.reduce((n, b) => n + b.deliveries.length, 0),
      25,
    );
    assert.deepEqual(
      h.batches.flatMap((b) => b.kumos.map((k) => k.attempt)),
      Array(25).fill(1),
    );
  });

  it('with min_batch_size, waits for that many, and sends what it has once max_batch_latency has passed', function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({ batch_size: 10, min_batch_size: 5, max_batch_latency: '2s' });
    for (let i = 0; i < 3; i++) h.submit(`m${i}`, cfg);
    h.clock.advance(0);
    assert.equal(h.batches.length, 0, 'three of five: the batch waits');
    h.clock.advance(1999);
    assert.equal(h.batches.length, 0);
    h.clock.advance(1);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.length),
      [3],
      'the latency passed: sent as it is',
    );
    for (let i = 0; i < 5; i++) h.submit(`n${i}`, cfg);
    h.clock.advance(0);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.length),
      [3, 5],
      'five ready: sent after the turn',
    );
  });

  it('looks at min_batch_size again on every arrival, as KumoMTA does: it does not wait for the latency once the minimum is there', function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({ batch_size: 100, min_batch_size: 5, max_batch_latency: '10s' });
    // 10 messages 100 ms apart.
    for (let i = 0; i < 10; i++) {
      h.submit(`m${i}`, cfg);
      h.clock.advance(i === 9 ? 0 : 100);
    }
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.length),
      [5, 5],
      'a batch as soon as five are there, at 400 ms and at 900 ms, not one batch of ten at 10 s',
    );
    assert.equal(h.clock.now() - 1700000000000, 900);
  });

  it('forms batches per site (routing domain or domain), never mixing two', function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({ batch_size: 10, min_batch_size: 3, max_batch_latency: '1s' });
    h.submit('a1', cfg, 'a.example');
    h.submit('b1', cfg, 'b.example');
    h.submit('a2', cfg, 'a.example');
    h.submit('b2', cfg, 'b.example');
    h.submit('a3', cfg, 'a.example');
    h.clock.advance(0);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.map((d) => d.msg.payload)),
      [['a1', 'a2', 'a3']],
    );
    h.clock.advance(1000);
    assert.deepEqual(
      h.batches.map((b) => b.deliveries.map((d) => d.msg.payload)),
      [
        ['a1', 'a2', 'a3'],
        ['b1', 'b2'],
      ],
    );
  });

  it('keeps batch size 1 as single messages (send, not sendBatch)', function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({});
    h.submit('x', cfg);
    h.submit('y', cfg);
    assert.equal(h.batches.length, 0);
    assert.deepEqual(
      h.singles.map((s) => s.delivery.msg.payload),
      ['x', 'y'],
    );
  });

  it('never has more messages in flight than max in flight, batches included', function () {
    const h = harness({ maxInFlight: 15 });
    harnesses.push(h);
    for (let i = 0; i < 40; i++) h.submit(`m${i}`);
    h.clock.advance(0);
    assert.ok(h.queue.counts.inFlight <= 15, `${h.queue.counts.inFlight} in flight`);
    assert.equal(h.queue.counts.queued, 40 - h.queue.counts.inFlight);
  });
});

describe('batches: each message has its own outcome', function () {
  it('logs a Delivery for the confirmed and retries only the failed message, on its own schedule', function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({ batch_size: 4, min_batch_size: 4, max_batch_latency: '1s' });
    for (let i = 0; i < 4; i++) h.submit(`m${i}`, cfg);
    const [batch] = h.batches;
    assert.equal(batch.deliveries.length, 4, 'a full batch goes at once');
    assert.equal(h.queue.batches, 1);
    batch.kumos.forEach((kumo, i) => {
      settle(
        kumo,
        i === 2 ? { kind: 'rejected', code: 451, message: 'queue full' } : { kind: 'delivered', disposition: '250 ok' },
      );
    });
    assert.deepEqual(
      h.records.map((r) => r.type),
      ['Delivery', 'Delivery', 'TransientFailure', 'Delivery'],
    );
    assert.equal(h.queue.batches, 0, 'the batch is over once each message has its outcome');
    assert.equal(h.queue.counts.waiting, 1);
    // Its retry comes 10 s (the retry_interval) later, alone: latency 1 s, then sent as it is.
    h.clock.advance(10000);
    h.clock.advance(1000);
    assert.equal(h.batches.length, 2);
    assert.deepEqual(
      h.batches[1].deliveries.map((d) => d.msg.payload),
      ['m2'],
    );
    assert.equal(h.batches[1].kumos[0].attempt, 2);
  });

  it("a reject of the whole batch (kumo.reject in send_batch) is each message's outcome", function () {
    const h = harness();
    harnesses.push(h);
    const cfg = config({ batch_size: 3, min_batch_size: 3, max_batch_latency: '1s' });
    for (let i = 0; i < 3; i++) h.submit(`m${i}`, cfg);
    const [batch] = h.batches;
    assert.equal(
      settle({ constructor: 'make.batch', batch: batch.kumos }, { kind: 'rejected', code: 550, message: 'no' }),
      true,
    );
    assert.deepEqual(
      h.records.map((r) => [r.type, r.response.code]),
      [
        ['Bounce', 550],
        ['Bounce', 550],
        ['Bounce', 550],
      ],
    );
  });

  it('times out the messages of a batch that no one reports, each with its own TransientFailure', function () {
    const h = harness({ attemptTimeoutMs: 5000 });
    harnesses.push(h);
    const cfg = config({ batch_size: 2, min_batch_size: 2, max_batch_latency: '1s' });
    h.submit('a', cfg);
    h.submit('b', cfg);
    h.clock.advance(5000);
    assert.deepEqual(
      h.records.map((r) => r.type),
      ['TransientFailure', 'TransientFailure'],
    );
    assert.equal(h.queue.batches, 0);
  });
});
