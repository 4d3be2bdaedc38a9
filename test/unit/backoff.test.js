'use strict';
// The one backoff: redialling the broker and reopening a channel wait by it,
// each with numbers of its own.

const assert = require('node:assert/strict');
const fc = require('fast-check');
const { Backoff, backoffDelayMs } = require('../../nodes/lib/core/amqp/backoff');
const { DEFAULT_BACKOFF } = require('../../nodes/lib/core/amqp/broker-connection');

/** Whole milliseconds of 10 or more, as every user's settings are; jitter below 1, so no delay rounds to 0. */
const settings = fc
  .record({
    initialDelayMs: fc.integer({ min: 10, max: 10_000 }),
    extraMaxMs: fc.integer({ min: 0, max: 100_000 }),
    jitter: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.9, noNaN: true })),
  })
  .map(({ initialDelayMs, extraMaxMs, jitter }) => ({
    initialDelayMs,
    maxDelayMs: initialDelayMs + extraMaxMs,
    jitter,
  }));
const attempt = fc.integer({ min: 0, max: 5000 });
/** Math.random's range: [0, 1). */
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('backoff: the wait before the next try', function () {
  it('stays within bounds: positive, never past maxDelayMs, never below (1 - jitter) of the first delay', function () {
    fc.assert(
      fc.property(settings, attempt, random, (backoff, n, r) => {
        const delay = backoffDelayMs(n, backoff, () => r);
        const first = Math.min(backoff.initialDelayMs, backoff.maxDelayMs / (1 + backoff.jitter));
        assert.ok(Number.isInteger(delay), `${delay} is not whole milliseconds`);
        assert.ok(delay <= backoff.maxDelayMs, `${delay} ms > maxDelayMs ${backoff.maxDelayMs}`);
        assert.ok(delay >= Math.floor(first * (1 - backoff.jitter)), `${delay} ms below the first delay's band`);
        assert.ok(delay > 0, `${delay} ms`);
      }),
    );
  });

  it('never shortens from one failure to the next for the same draw of the jitter', function () {
    fc.assert(
      fc.property(settings, attempt, random, (backoff, n, r) => {
        assert.ok(backoffDelayMs(n + 1, backoff, () => r) >= backoffDelayMs(n, backoff, () => r));
      }),
    );
  });

  it('respects the cap: late failures wait maxDelayMs without jitter, and never more with it', function () {
    fc.assert(
      fc.property(settings, random, (backoff, r) => {
        // 2^40 × 1 ms is past any cap here.
        assert.equal(
          backoffDelayMs(41, { ...backoff, jitter: 0 }, () => r),
          backoff.maxDelayMs,
        );
        assert.ok(backoffDelayMs(5000, backoff, () => r) <= backoff.maxDelayMs);
      }),
    );
  });

  it('without jitter (the default), doubles exactly from initialDelayMs up to the cap', function () {
    // The channel reopen delays of amqp publish (50 ms to 5 s) and amqp consume (200 ms to 5 s).
    const publisher = { initialDelayMs: 50, maxDelayMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelayMs(n, publisher, () => 0)),
      [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000],
    );
    const consumer = { initialDelayMs: 200, maxDelayMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, consumer, () => 0.999999)),
      [200, 400, 800, 1600, 3200, 5000],
    );
  });

  it('counts failures in a row, and starts afresh after reset()', function () {
    const backoff = new Backoff({ initialDelayMs: 50, maxDelayMs: 300 });
    assert.deepEqual(
      [backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()],
      [50, 100, 200, 300, 300],
    );
    backoff.reset();
    assert.deepEqual([backoff.next(), backoff.next()], [50, 100]);
  });
});

// The broker connection redials by it, with a jitter of its own.
const BACKOFF = { initialDelayMs: 100, maxDelayMs: 10000, jitter: 0.2 };
const MIDDLE = () => 0.5; // jitter of exactly zero
const LOWEST = () => 0;
const HIGHEST = () => 0.999999; // Math.random() is always < 1

describe('reconnect: the delay doubles from initialDelayMs', function () {
  it('waits initialDelayMs before the first retry', function () {
    assert.equal(backoffDelayMs(1, BACKOFF, MIDDLE), 100);
  });

  it('doubles with each failed attempt', function () {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, BACKOFF, MIDDLE));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200]);
  });

  it('treats attempt 0 like attempt 1', function () {
    assert.equal(backoffDelayMs(0, BACKOFF, MIDDLE), 100);
  });

  it("starts at 200 ms with the broker connection's default", function () {
    assert.equal(backoffDelayMs(1, DEFAULT_BACKOFF, MIDDLE), 200);
  });
});

describe('reconnect: the delay never exceeds maxDelayMs', function () {
  it('stays at or under the cap, jitter included, however many attempts failed', function () {
    for (const attempt of [7, 8, 10, 20, 100, 2000]) {
      for (const random of [LOWEST, MIDDLE, HIGHEST]) {
        const delay = backoffDelayMs(attempt, BACKOFF, random);
        assert.ok(delay <= BACKOFF.maxDelayMs, `attempt ${attempt}: ${delay} ms > ${BACKOFF.maxDelayMs} ms`);
        assert.ok(Number.isFinite(delay) && delay > 0, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it('reaches close to the cap with the highest jitter', function () {
    assert.equal(backoffDelayMs(50, BACKOFF, HIGHEST), 10000);
  });

  it('does not put every late attempt on exactly maxDelayMs', function () {
    // base is capped at max/(1+jitter), so without jitter it sits below the cap
    assert.equal(backoffDelayMs(50, BACKOFF, MIDDLE), Math.round(10000 / 1.2));
    assert.equal(backoffDelayMs(50, BACKOFF, LOWEST), Math.round((10000 / 1.2) * 0.8));
  });
});

describe('reconnect: jitter spreads the delay by ±jitter', function () {
  it('gives base × (1 - jitter) for random() = 0', function () {
    assert.equal(backoffDelayMs(3, BACKOFF, LOWEST), 320);
  });

  it('approaches base × (1 + jitter) as random() → 1', function () {
    assert.equal(backoffDelayMs(3, BACKOFF, HIGHEST), 480);
  });

  it('stays inside the band for any random()', function () {
    for (let i = 0; i <= 100; i++) {
      const r = Math.min(i / 100, 0.999999);
      const delay = backoffDelayMs(4, BACKOFF, () => r);
      assert.ok(delay >= 640 && delay <= 960, `random()=${r}: ${delay}`);
    }
  });

  it('uses Math.random when no random is given', function () {
    const delay = backoffDelayMs(2, BACKOFF);
    assert.ok(delay >= 160 && delay <= 240, String(delay));
  });
});
