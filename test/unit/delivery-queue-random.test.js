'use strict';
// The delivery queue under random sequences of submits, reports (current,
// late, duplicate), timeouts, retries and closes, on a hand-driven clock.
// Whatever happens, each message gets exactly one final outcome (Delivery,
// Bounce, Expiration) or is handed back on close, never both and never two;
// the in-flight and unfinished counts stay within their limits; and the queue
// holds nothing of a message after its final outcome: its counts, the deliveries
// it keeps for the durable store, and the reports it waits for name only the
// unfinished ones.

const assert = require('node:assert/strict');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { settle } = require('../../nodes/lib/core/kumo/delivery-outcomes');
const { ManualClock } = require('../helpers/manual-clock');

const QUEUE = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
const CONFIG = {
  protocol: { custom_lua: { constructor: 'make.random' } },
  retry_interval: 1,
  max_retry_interval: 4,
  max_age: 20,
};
const TIMINGS = { retryIntervalSec: 1, maxRetryIntervalSec: 4, maxAgeSec: 20 };
const FINAL = new Set(['Delivery', 'Bounce', 'Expiration']);
const SEEDS = Number(process.env.SOAK ? 2000 : 150);
const STEPS = 400;

/**
 * Whether a report for `id` is awaited: settle() says so, and a report for attempt 0 (never an
 * attempt's number) is one the delivery ignores, so asking changes nothing.
 */
function awaited(id) {
  return settle({ id, attempt: 0 }, { kind: 'delivered', disposition: '250 probe' });
}

/** A small seeded generator (mulberry32): a failing seed can be run again. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function run(seed) {
  const random = prng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const clock = new ManualClock();
  const settings = {
    constructorName: 'make.random',
    attemptTimeoutMs: 5000,
    maxInFlight: 1 + Math.floor(random() * 6),
    maxQueued: 2 + Math.floor(random() * 20),
  };
  const sent = []; // every attempt's msg.kumo, in order
  const finals = new Map(); // id -> final record type
  const submitted = new Set();
  const open = new Map(); // id -> the attempt sent last and not yet logged
  let records = 0;
  const io = {
    send(_delivery, kumo) {
      assert.ok(!finals.has(kumo.id), `seed ${seed}: ${kumo.id} sent after its final outcome`);
      sent.push({ ...kumo });
      open.set(kumo.id, kumo.attempt);
    },
    log(_delivery, record) {
      assert.ok(
        !finals.has(record.id),
        `seed ${seed}: ${record.id} logged ${record.type} after its final ${finals.get(record.id)}`,
      );
      open.delete(record.id);
      records++;
      if (FINAL.has(record.type)) finals.set(record.id, record.type);
    },
    changed() {},
    clock,
    random,
  };
  const queue = new DeliveryQueue(settings, io);
  const check = (when) => {
    const { queued, inFlight, waiting } = queue.counts;
    assert.ok(
      inFlight <= settings.maxInFlight,
      `seed ${seed} ${when}: ${inFlight} in flight > ${settings.maxInFlight}`,
    );
    assert.ok(
      queued + inFlight + waiting <= settings.maxQueued,
      `seed ${seed} ${when}: ${queued + inFlight + waiting} unfinished > ${settings.maxQueued}`,
    );
    const unfinished = submitted.size - finals.size;
    assert.equal(
      queued + inFlight + waiting,
      unfinished,
      `seed ${seed} ${when}: the queue counts ${queued + inFlight + waiting} deliveries, ${unfinished} are unfinished`,
    );
    const retrying = queue.retryingDeliveries.map((d) => d.id);
    const over = retrying.filter((id) => finals.has(id) || !submitted.has(id));
    assert.deepEqual(over, [], `seed ${seed} ${when}: the queue keeps finished deliveries for the store`);
    assert.equal(new Set(retrying).size, retrying.length, `seed ${seed} ${when}: a delivery kept twice for the store`);
    assert.equal(queue.batches, 0, `seed ${seed} ${when}: a batch in flight, with no batch configured`);
    const awaitedIds = [...submitted].filter(awaited);
    assert.equal(
      awaitedIds.length,
      inFlight,
      `seed ${seed} ${when}: reports awaited for ${awaitedIds.length} deliveries, ${inFlight} in flight`,
    );
    assert.ok(
      awaitedIds.every((id) => !finals.has(id)),
      `seed ${seed} ${when}: a report awaited for a delivery after its final outcome`,
    );
  };
  const outcomes = [
    () => ({ kind: 'delivered', disposition: '250 ok' }),
    () => ({ kind: 'rejected', code: 451, message: 'later' }),
    () => ({ kind: 'rejected', code: 550, message: 'never' }),
    () => ({ kind: 'failed', error: 'broker down' }),
  ];
  let refused = 0;
  const closeAt = random() < 0.3 ? Math.floor(random() * STEPS) : STEPS;
  for (let step = 0; step < closeAt; step++) {
    const r = random();
    if (r < 0.3) {
      try {
        submitted.add(queue.submit({ payload: step }, QUEUE, CONFIG, TIMINGS).id);
      } catch (err) {
        assert.equal(err.code, 'KUMO_OVERLOADED', `seed ${seed}: ${err.message}`);
        refused++;
      }
    } else if (r < 0.7 && sent.length > 0) {
      // Mostly recent attempts, sometimes an old one (late, or a duplicate).
      const kumo =
        random() < 0.7 ? sent[sent.length - 1 - Math.floor(random() * Math.min(sent.length, 8))] : pick(sent);
      const current = open.get(kumo.id) === kumo.attempt;
      const before = records;
      settle(kumo, pick(outcomes)());
      if (!current)
        assert.equal(
          records,
          before,
          `seed ${seed}: a report for attempt ${kumo.attempt} of ${kumo.id}, which is over, changed its delivery`,
        );
      else
        assert.ok(
          records > before,
          `seed ${seed}: the report for the current attempt ${kumo.attempt} of ${kumo.id} was not taken`,
        );
    } else {
      clock.advance(Math.floor(random() * 7000));
    }
    check(`after step ${step}`);
  }
  // Close with a grace time the clock lets pass: whatever is unfinished comes back.
  const closing = queue.close(1000);
  clock.advance(1000);
  return closing.then((handedBack) => {
    const back = new Set(handedBack.map((d) => d.id));
    assert.equal(back.size, handedBack.length, `seed ${seed}: a delivery handed back twice`);
    for (const id of submitted) {
      assert.ok(
        finals.has(id) !== back.has(id),
        `seed ${seed}: ${id} has ${finals.has(id) ? `final ${finals.get(id)}` : 'no final outcome'} and was ${back.has(id) ? '' : 'not '}handed back`,
      );
    }
    assert.deepEqual(queue.counts, { queued: 0, inFlight: 0, waiting: 0 }, `seed ${seed}: the closed queue counts`);
    assert.deepEqual(queue.retryingDeliveries, [], `seed ${seed}: the closed queue still keeps deliveries`);
    assert.deepEqual([...submitted].filter(awaited), [], `seed ${seed}: reports still awaited after close`);
    assert.throws(() => queue.submit({}, QUEUE, CONFIG, TIMINGS), { code: 'KUMO_CLOSING' });
    return { submitted: submitted.size, finals: finals.size, handedBack: back.size, refused };
  });
}

describe('delivery queue: random sequences of submits, reports, timeouts and closes', function () {
  this.timeout(60000);

  it(`gives each of the messages of ${SEEDS} runs exactly one final outcome or hands it back, within its limits, holding nothing after`, async () => {
    const totals = { submitted: 0, finals: 0, handedBack: 0, refused: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await run(seed);
      for (const key of Object.keys(totals)) totals[key] += result[key];
    }
    // The runs must have walked every edge: finished, handed back and refused messages alike.
    assert.ok(totals.finals > 1000 && totals.handedBack > 100 && totals.refused > 100, JSON.stringify(totals));
  });
});
