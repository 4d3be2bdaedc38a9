'use strict';

const assert = require('node:assert/strict');
const { retryDelaySeconds, nextRetry } = require('../../nodes/lib/core/kumo/retry-schedule');

// KumoMTA's defaults: retry_interval 20 minutes, no max_retry_interval, max_age 7 days.
const DEFAULTS = { retryIntervalSec: 1200, maxRetryIntervalSec: null, maxAgeSec: 7 * 86400 };
const MIDDLE = () => 0.5; // jitter of exactly zero
const LOWEST = () => 0;
const HIGHEST = () => 0.999999; // Math.random() is always < 1

/** The range the jitter spreads a delay over: random() = 0 gives `min`; `max` is approached as random() → 1. */
function delayBounds(attempt, timings) {
  return { min: retryDelaySeconds(attempt, timings, () => 0), max: retryDelaySeconds(attempt, timings, () => 1) };
}

describe('retry schedule: the delay starts at retry_interval and doubles', function () {
  it('waits retry_interval after the first failed attempt', function () {
    assert.equal(retryDelaySeconds(1, DEFAULTS, MIDDLE), 1200);
  });

  it('doubles with each further attempt', function () {
    const delays = [1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, DEFAULTS, MIDDLE));
    assert.deepEqual(delays, [1200, 2400, 4800, 9600, 19200]);
  });

  it('refuses an attempt count below 1 or not a whole number', function () {
    assert.throws(() => retryDelaySeconds(0, DEFAULTS), /attempt must be an integer >= 1/);
    assert.throws(() => retryDelaySeconds(1.5, DEFAULTS), /attempt must be an integer >= 1/);
  });
});

describe('retry schedule: max_retry_interval caps the delay', function () {
  it('stops doubling at the cap', function () {
    const timings = { ...DEFAULTS, maxRetryIntervalSec: 3600 };
    const delays = [1, 2, 3, 4, 20].map((n) => retryDelaySeconds(n, timings, MIDDLE));
    assert.deepEqual(delays, [1200, 2400, 3600, 3600, 3600]);
  });

  it('gives the log hook schedule: every minute, at most every 20 minutes', function () {
    const timings = { retryIntervalSec: 60, maxRetryIntervalSec: 1200, maxAgeSec: 7 * 86400 };
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => retryDelaySeconds(n, timings, MIDDLE));
    assert.deepEqual(delays, [60, 120, 240, 480, 960, 1200, 1200]);
  });

  it('with max_retry_interval equal to retry_interval, never backs off', function () {
    const timings = { retryIntervalSec: 10, maxRetryIntervalSec: 10, maxAgeSec: 60 };
    assert.deepEqual(
      [1, 2, 3].map((n) => retryDelaySeconds(n, timings, MIDDLE)),
      [10, 10, 10],
    );
  });

  it('stays finite for very high attempt counts when capped', function () {
    assert.equal(retryDelaySeconds(5000, { ...DEFAULTS, maxRetryIntervalSec: 3600 }, MIDDLE), 3600);
  });
});

describe('retry schedule: jitter of up to 1/20 of retry_interval, at most a minute', function () {
  it('spreads the default 20 minutes by ±30 s', function () {
    assert.deepEqual(delayBounds(1, DEFAULTS), { min: 1170, max: 1230 });
    assert.equal(retryDelaySeconds(1, DEFAULTS, LOWEST), 1170);
    // Whole seconds: KumoMTA truncates the jitter toward zero (`jitter as i64`, queue.rs).
    assert.equal(retryDelaySeconds(1, DEFAULTS, HIGHEST), 1229);
    assert.equal(
      retryDelaySeconds(1, DEFAULTS, () => 0.51),
      1200,
    );
  });

  it('keeps the same jitter on later, doubled delays', function () {
    assert.deepEqual(delayBounds(3, DEFAULTS), { min: 4770, max: 4830 });
  });

  it('caps the jitter at a minute for long intervals', function () {
    assert.deepEqual(delayBounds(1, { ...DEFAULTS, retryIntervalSec: 3600 }), { min: 3570, max: 3630 });
  });

  it('has none under a 40 s interval, where the truncated jitter is always 0 s, as in KumoMTA', function () {
    const short = { retryIntervalSec: 5, maxRetryIntervalSec: null, maxAgeSec: 60 };
    assert.deepEqual(delayBounds(1, short), { min: 5, max: 5 });
    assert.equal(retryDelaySeconds(1, short, LOWEST), 5);
    assert.equal(retryDelaySeconds(1, short, HIGHEST), 5);
    // log_hooks' 1 minute: a magnitude of 3 s gives -1, 0 or +1 s.
    const minute = { retryIntervalSec: 60, maxRetryIntervalSec: null, maxAgeSec: 3600 };
    assert.deepEqual(
      [LOWEST, () => 0.5, HIGHEST].map((r) => retryDelaySeconds(1, minute, r)),
      [59, 60, 61],
    );
  });

  it('adds jitter after the cap, as KumoMTA does', function () {
    assert.deepEqual(delayBounds(9, { ...DEFAULTS, maxRetryIntervalSec: 3600 }), { min: 3570, max: 3630 });
  });

  it('keeps many random draws inside the bounds, on both sides of the base delay', function () {
    const timings = { ...DEFAULTS, maxRetryIntervalSec: 7200 };
    for (const attempt of [1, 2, 3, 4]) {
      const { min, max } = delayBounds(attempt, timings);
      let below = 0;
      let above = 0;
      const base = (min + max) / 2;
      for (let i = 0; i < 2000; i++) {
        const d = retryDelaySeconds(attempt, timings);
        assert.ok(d >= min && d < max, `attempt ${attempt}: ${d} outside [${min}, ${max})`);
        if (d < base) below++;
        else above++;
      }
      assert.ok(below > 700 && above > 700, `attempt ${attempt}: ${below} below, ${above} above`);
    }
  });
});

describe('retry schedule: expiry once the next attempt would pass max_age', function () {
  const created = Date.UTC(2026, 10, 1);

  it('schedules the retry at now + delay while within max_age', function () {
    const now = created + 60_000;
    assert.deepEqual(nextRetry({ attempts: 1, createdMs: created, nowMs: now, timings: DEFAULTS, random: MIDDLE }), {
      kind: 'retry',
      atMs: now + 1_200_000,
      delayMs: 1_200_000,
    });
  });

  it('expires when age + delay would exceed max_age', function () {
    const now = created + (DEFAULTS.maxAgeSec - 1199) * 1000;
    assert.deepEqual(nextRetry({ attempts: 1, createdMs: created, nowMs: now, timings: DEFAULTS, random: MIDDLE }), {
      kind: 'expire',
      delayedAgeSec: DEFAULTS.maxAgeSec + 1,
      maxAgeSec: DEFAULTS.maxAgeSec,
    });
  });

  it('still retries when the next attempt lands exactly at max_age', function () {
    const now = created + (DEFAULTS.maxAgeSec - 1200) * 1000;
    assert.equal(
      nextRetry({ attempts: 1, createdMs: created, nowMs: now, timings: DEFAULTS, random: MIDDLE }).kind,
      'retry',
    );
  });

  it('with the defaults, retries a message that always fails 8 times over about 3.5 days, then expires it', function () {
    let now = created;
    const delaysMin = [];
    for (let attempts = 1; ; attempts++) {
      const decision = nextRetry({ attempts, createdMs: created, nowMs: now, timings: DEFAULTS, random: MIDDLE });
      if (decision.kind === 'expire') {
        assert.equal(attempts, 9);
        assert.equal(decision.delayedAgeSec, (5100 + 5120) * 60);
        break;
      }
      delaysMin.push(decision.delayMs / 60_000);
      now = decision.atMs;
    }
    assert.deepEqual(delaysMin, [20, 40, 80, 160, 320, 640, 1280, 2560]);
    assert.equal((now - created) / 3_600_000, 85);
  });

  it('expires at once when max_age is shorter than the first delay', function () {
    const timings = { retryIntervalSec: 10, maxRetryIntervalSec: null, maxAgeSec: 5 };
    assert.equal(
      nextRetry({ attempts: 1, createdMs: created, nowMs: created, timings, random: LOWEST }).kind,
      'expire',
    );
  });

  it('keeps a sub-second retry_interval (KumoMTA would round it down to whole seconds)', function () {
    const timings = { retryIntervalSec: 0.5, maxRetryIntervalSec: 5, maxAgeSec: 45 };
    const d = nextRetry({ attempts: 1, createdMs: created, nowMs: created, timings, random: LOWEST });
    assert.deepEqual(d, { kind: 'retry', atMs: created + 500, delayMs: 500 });
  });
});
