'use strict';
// Node's setTimeout fires at once for a delay above 2^31-1 ms (~24.8 days), a
// delay a KumoMTA max_age of weeks reaches; the system clock chains such delays.

const assert = require('node:assert/strict');
const { systemClock, MAX_TIMER_MS } = require('../../nodes/lib/core/base/clock');

describe('clock: timers never overflow', function () {
  it('does not fire a delay of 50 days at once (plain setTimeout would)', async function () {
    let fired = false;
    const warnings = [];
    const onWarning = (w) => warnings.push(w.name);
    process.on('warning', onWarning);
    const timer = systemClock.setTimer(
      () => {
        fired = true;
      },
      50 * 24 * 3600 * 1000,
    );
    // Two turns of the timer phase: a overflowed setTimeout (fires after 1 ms) would have fired by then.
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.removeListener('warning', onWarning);
    timer.cancel();
    assert.equal(fired, false);
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), 'Node warned of a timeout overflow');
  });

  it('fires a short delay, and not after cancel', async function () {
    let fired = 0;
    await new Promise((resolve) =>
      systemClock.setTimer(() => {
        fired++;
        resolve();
      }, 5),
    );
    const cancelled = systemClock.setTimer(() => {
      fired++;
    }, 1);
    cancelled.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(fired, 1);
  });

  it('knows the limit', function () {
    assert.equal(MAX_TIMER_MS, 2147483647);
  });
});
