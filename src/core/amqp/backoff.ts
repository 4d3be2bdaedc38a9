// How long to wait before trying the broker again: capped, jittered exponential
// backoff, as amqplib's own reconnection computes it. Redialling the broker and
// reopening a channel use it, each with numbers of its own.

export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  /**
   * Spread of each delay, ± this fraction of it, so that many clients failing
   * together do not retry together. 0 (the default) keeps every delay exact.
   */
  jitter?: number;
}

/** The delay before the `attempt`-th retry (attempt 1 waits initialDelayMs; 0 counts as 1). */
export function backoffDelayMs(attempt: number, backoff: BackoffSettings, random: () => number = Math.random): number {
  const jitter = backoff.jitter ?? 0;
  // Capping the base at max/(1+jitter) keeps the jittered value under the cap
  // without piling every late attempt onto exactly maxDelayMs.
  const base = Math.min(backoff.maxDelayMs / (1 + jitter), backoff.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + jitter * (2 * random() - 1)));
}

/** Counts the failures in a row; each asks for a longer wait, until a success starts afresh. */
export class Backoff {
  private failures = 0;

  constructor(readonly settings: BackoffSettings) {}

  /** Counts one more failure and says how long to wait before the next try. */
  next(): number {
    return backoffDelayMs(++this.failures, this.settings);
  }

  /** The last try worked: the next failure waits initialDelayMs again. */
  reset(): void {
    this.failures = 0;
  }
}
