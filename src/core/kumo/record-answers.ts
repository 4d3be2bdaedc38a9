// How log hook in learns the final outcome of each record it handed to the flow,
// so it can answer KumoMTA's request itself. Each record's msg carries a string key
// in msg._kumoLogHook (a plain string survives Node-RED cloning the msg at a fork);
// whoever ends a record for good calls answerRecord(msg, outcome): the custom protocol
// when its delivery ends (Delivery, Bounce, Expiration), queue config or the custom
// protocol when it cannot take the record at all. A key whose request is gone (it was
// answered at its deadline, or the record was restored after a restart) is ignored.

import { randomBytes } from 'node:crypto';
import { ERROR_CODES } from '../text/errors';
import { type Message, say } from '../text/messages';

/** Where a record's msg carries its key. */
export const RECORD_KEY = '_kumoLogHook';

/** Seconds KumoMTA is asked to wait before it posts a record again (Retry-After). */
export const RETRY_AFTER_SEC = 5;

/** How one record ended, as far as its request's answer goes. */
export type RecordOutcome =
  /** Confirmed (a Delivery): the disposition, e.g. '250 {"status":"Ack",...}'. */
  | { kind: 'confirmed'; disposition: string }
  /** Refused by the broker or a reject (a Bounce): 500, KumoMTA retries. */
  | { kind: 'bounced'; content: string }
  /** Not confirmed within max_age (an Expiration): 503. */
  | { kind: 'expired'; content: string }
  /** Not taken by the pack: 503 when it may take it later (overloaded, closing, not bound), else 500. */
  | { kind: 'refused'; retry: boolean; reason: string };

type Listener = (outcome: RecordOutcome) => void;

const listeners = new Map<string, Listener>();

// Keys are unique across restarts: a restored record's key never names a new request.
const KEY_PREFIX = randomBytes(6).toString('hex');
let keyCounter = 0;

/** The record key a msg carries, or null. */
function recordKey(msg: unknown): string | null {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, RECORD_KEY)) return null;
  const key = (msg as Record<string, unknown>)[RECORD_KEY];
  return typeof key === 'string' ? key : null;
}

/** True when the msg's record still has a request waiting for it. */
export function awaitsAnswer(msg: unknown): boolean {
  const key = recordKey(msg);
  return key !== null && listeners.has(key);
}

/**
 * Tells the record's request how it ended. Returns true when a request took it
 * (the caller then need not report the failure itself), false when the msg is no
 * log hook record or its request is gone.
 */
export function answerRecord(msg: unknown, outcome: RecordOutcome): boolean {
  const key = recordKey(msg);
  if (key === null) return false;
  const listener = listeners.get(key);
  if (!listener) return false;
  listeners.delete(key);
  listener(outcome);
  return true;
}

/** A delivery's end, as the custom protocol's delivery queue tells it. */
export function finalOutcome(
  type: 'Delivery' | 'Bounce' | 'Expiration',
  response: { code: number; content: string },
): RecordOutcome {
  if (type === 'Delivery') return { kind: 'confirmed', disposition: response.content };
  if (type === 'Bounce') return { kind: 'bounced', content: response.content };
  return { kind: 'expired', content: response.content };
}

/** A record the pack could not take, from the error's code: trouble that passes is retried later. */
export function refusedOutcome(code: unknown, reason: string): RecordOutcome {
  const retry =
    code === ERROR_CODES.overloaded ||
    code === ERROR_CODES.closing ||
    code === ERROR_CODES.notBound ||
    code === ERROR_CODES.brokerUnavailable;
  return { kind: 'refused', retry, reason };
}

/** What the request is answered, and what its records came to (for the one summary line). */
export interface RecordsAnswer {
  status: 200 | 500 | 503;
  /** Seconds for Retry-After, or null. */
  retryAfterSec: number | null;
  /** The answer's text: a disposition (data, as the broker's result says it) or a message. */
  body: string | Message;
  counts: RecordCounts;
}

export interface RecordCounts {
  records: number;
  confirmed: number;
  bounced: number;
  expired: number;
  refused: number;
  /** Not settled when the request was answered (its deadline, or the node closing). */
  unsettled: number;
}

/**
 * The records of one request: each gets a key to carry; once every one has its outcome
 * (or at the deadline, or when the node closes) the request is answered, once.
 */
export class RecordsRequest {
  private readonly keys: string[] = [];
  private left = 0;
  private answered = false;
  private firstDisposition: string | null = null;
  private failure500: string | null = null;
  private failure503: string | null = null;
  private readonly counts: RecordCounts = {
    records: 0,
    confirmed: 0,
    bounced: 0,
    expired: 0,
    refused: 0,
    unsettled: 0,
  };

  constructor(private readonly onAnswer: (answer: RecordsAnswer) => void) {}

  /** A key for the next record of the request, already awaited. */
  addRecord(): string {
    keyCounter++;
    const key = `${KEY_PREFIX}${keyCounter.toString(36)}`;
    this.keys.push(key);
    this.left++;
    this.counts.records++;
    listeners.set(key, (outcome) => this.recordEnded(outcome));
    return key;
  }

  /** Answers now if every record has its outcome: call once all records have their key. */
  check(): void {
    if (!this.answered && this.left === 0) this.answer(null);
  }

  /** The deadline passed: the records without an outcome answer 503 (they may still be delivered). */
  expire(seconds: number): void {
    if (!this.answered) this.answer(say('record-answers.deadline', { count: this.left, seconds }));
  }

  /** The node is closing: 503 at once. */
  close(): void {
    if (!this.answered) this.answer(say('record-answers.closing'));
  }

  private recordEnded(outcome: RecordOutcome): void {
    if (this.answered) return;
    this.left--;
    switch (outcome.kind) {
      case 'confirmed':
        this.counts.confirmed++;
        this.firstDisposition ??= outcome.disposition;
        break;
      case 'bounced':
        this.counts.bounced++;
        this.failure500 ??= outcome.content;
        break;
      case 'expired':
        this.counts.expired++;
        this.failure503 ??= outcome.content;
        break;
      case 'refused':
        this.counts.refused++;
        if (outcome.retry) this.failure503 ??= outcome.reason;
        else this.failure500 ??= outcome.reason;
        break;
    }
    if (this.left === 0) this.answer(null);
  }

  /** `unsettledReason`: why records still open count as not taken (deadline, closing). */
  private answer(unsettledReason: Message | null): void {
    this.answered = true;
    for (const key of this.keys) listeners.delete(key);
    this.counts.unsettled = this.left;
    const { records } = this.counts;
    const failed = records - this.counts.confirmed;
    const status = this.failure500 !== null ? 500 : this.failure503 !== null || this.left > 0 ? 503 : 200;
    let body: string | Message;
    if (status === 200) {
      body =
        records === 1 && this.firstDisposition !== null
          ? this.firstDisposition
          : // `records`, not `count`: for a `count` Node-RED's i18next builds plural rules on every answer.
            say('record-answers.confirmed', { records });
    } else {
      const reason = (status === 500 ? this.failure500 : (this.failure503 ?? unsettledReason)) ?? '';
      body = records === 1 ? reason : say('record-answers.not-confirmed', { failed, records, reason });
    }
    this.onAnswer({ status, retryAfterSec: status === 503 ? RETRY_AFTER_SEC : null, body, counts: this.counts });
  }
}
