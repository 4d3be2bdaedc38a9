/**
 * KumoMTA's retry schedule for a message that failed transiently.
 *
 * Source: crates/kumod/src/queue/config.rs (`QueueConfig::delay_for_attempt`)
 * and crates/kumod/src/queue/queue.rs (`increment_attempts_and_update_delay`):
 *
 * - delay = retry_interval * 2^n, where n is the number of attempts made
 *   before the one that just failed (so the first retry waits retry_interval),
 *   capped at max_retry_interval when one is set;
 * - jitter: up to 1/20 of retry_interval, at most 60 s, centred on zero:
 *   `random * magnitude - magnitude / 2`, added to the capped delay (so a
 *   delay can be up to magnitude/2 over max_retry_interval, as in KumoMTA);
 * - expiry: if the message's age (since creation) plus that delay would be
 *   more than max_age, the message expires now instead of being retried.
 *
 * KumoMTA truncates the jitter to whole seconds (`jitter as i64`), so a
 * retry_interval under 40 s has none; so does this. KumoMTA also counts the
 * delay itself in whole seconds (`retry_interval.as_secs()`); here the delay
 * keeps fractions, so a test or a webhook flow may retry after 0.5 s.
 */

import { CoreError } from '../text/errors';
import { say } from '../text/messages';
import type { ResolvedTimings } from './queue-config';

export type RetryDecision =
  | { kind: 'retry'; atMs: number; delayMs: number }
  | {
      kind: 'expire';
      /** Age the message would have reached at its next attempt, in seconds. */
      delayedAgeSec: number;
      maxAgeSec: number;
    };

export interface NextRetryParams {
  /** Delivery attempts made so far, including the one that just failed (>= 1). */
  attempts: number;
  /** When the message was created (epoch ms). */
  createdMs: number;
  nowMs: number;
  timings: ResolvedTimings;
  random?: () => number;
}

const MAX_JITTER_SEC = 60;

function checkAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new CoreError(say('retry-schedule.bad-attempt', { attempt: String(attempt) }));
  }
}

/** The delay before jitter: retry_interval doubled per earlier attempt, capped. */
function baseDelaySeconds(attempt: number, timings: ResolvedTimings): number {
  checkAttempt(attempt);
  // 2 ** 1100 is Infinity: harmless, the cap or max_age deals with it.
  const doubled = timings.retryIntervalSec * 2 ** (attempt - 1);
  const cap = timings.maxRetryIntervalSec;
  return cap === null ? doubled : Math.min(doubled, cap);
}

function jitterMagnitude(timings: ResolvedTimings): number {
  return Math.min(timings.retryIntervalSec / 20, MAX_JITTER_SEC);
}

/** Seconds to wait after the `attempt`-th attempt failed transiently. */
export function retryDelaySeconds(
  attempt: number,
  timings: ResolvedTimings,
  random: () => number = Math.random,
): number {
  const base = baseDelaySeconds(attempt, timings);
  const magnitude = jitterMagnitude(timings);
  const jitter = Math.trunc(random() * magnitude - magnitude / 2);
  return Math.max(0, base + jitter);
}

export function nextRetry(params: NextRetryParams): RetryDecision {
  const { attempts, createdMs, nowMs, timings } = params;
  const delaySec = retryDelaySeconds(attempts, timings, params.random ?? Math.random);
  const ageSec = Math.max(0, (nowMs - createdMs) / 1000);
  const delayedAgeSec = ageSec + delaySec;
  if (delayedAgeSec > timings.maxAgeSec) {
    return { kind: 'expire', delayedAgeSec, maxAgeSec: timings.maxAgeSec };
  }
  const delayMs = Math.round(delaySec * 1000);
  return { kind: 'retry', atMs: nowMs + delayMs, delayMs };
}
