// Time for the state machines: the system clock by default, a hand-driven one
// in tests. Node's setTimeout fires at once for a delay above 2^31-1 ms (about
// 24.8 days), which a KumoMTA max_age of weeks reaches; long delays are chained.

export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  /** Calls fn once after delayMs (any non-negative delay, however long). */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
}

export const systemClock: Clock = {
  now: Date.now,
  setTimer(fn, delayMs) {
    let timer: NodeJS.Timeout | null = null;
    const due = Date.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const left = due - Date.now();
      timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
    };
    if (delayMs > MAX_TIMER_MS) arm();
    else timer = setTimeout(fn, Math.max(0, delayMs));
    return {
      cancel() {
        if (timer) clearTimeout(timer);
        timer = null;
      },
    };
  },
};
