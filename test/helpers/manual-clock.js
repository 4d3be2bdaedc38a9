// @ts-check
'use strict';
// A clock for the state machines (core/base/clock.ts's Clock) that moves only when a
// test says so: timers run in due order as the test advances time.

/** @typedef {import('../../nodes/lib/core/base/clock').Clock} Clock */
/** @typedef {import('../../nodes/lib/core/base/clock').TimerHandle} TimerHandle */
/** @typedef {{ due: number, seq: number, fn: () => void, cancelled: boolean }} ManualTimer */

/**
 * Timers run only when the test advances time, in due order.
 * @implements {Clock}
 */
class ManualClock {
  constructor() {
    this.time = 1700000000000;
    /** @type {ManualTimer[]} */
    this.timers = [];
    this.seq = 0;
  }

  /** @returns {number} */
  now() {
    return this.time;
  }

  /**
   * @param {() => void} fn
   * @param {number} delayMs
   * @returns {TimerHandle}
   */
  setTimer(fn, delayMs) {
    const timer = { due: this.time + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /**
   * Moves time on by `ms`, running the timers due by then.
   * @param {number} ms
   */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const live = this.timers.filter((t) => !t.cancelled && t.due <= end);
      if (live.length === 0) break;
      live.sort((x, y) => x.due - y.due || x.seq - y.seq);
      const next = live[0];
      this.timers.splice(this.timers.indexOf(next), 1);
      this.time = Math.max(this.time, next.due);
      next.fn();
    }
    this.time = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }
}

module.exports = { ManualClock };
