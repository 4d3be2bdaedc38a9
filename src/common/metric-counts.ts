// What each node counts for the metrics endpoint (common/metrics.ts): plain numbers the
// node owns and adds to where the event happens. A Prometheus client's labelled child
// still hashes its labels on every increment; a field of an object the node already
// holds costs nothing, and the registry reads these at scrape time.

import { type ConfirmResult, PublishError } from '../core/amqp/confirm-publisher';
import type { Published } from '../core/publish/message-publisher';
import type { ElementResult } from '../core/publish/publish-outcome';

/** A histogram's counts: one per upper bound (not cumulative), plus those above the last. */
export class BucketCounts {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** Prometheus's `le` buckets: how many observations were at most each bound. */
  cumulative(): number[] {
    const out: number[] = [];
    let total = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      total += this.counts[i];
      out.push(total);
    }
    return out;
  }
}

/** Counts by a label value that is known only when it happens (an error code, an HTTP status). */
export class CountsBy {
  private readonly values = new Map<string, number>();

  constructor(initial: readonly string[] = []) {
    for (const key of initial) this.values.set(key, 0);
  }

  add(key: string): void {
    this.values.set(key, (this.values.get(key) ?? 0) + 1);
  }

  get(key: string): number {
    return this.values.get(key) ?? 0;
  }

  entries(): IterableIterator<[string, number]> {
    return this.values.entries();
  }
}

/** The `code` of an error a flow branches on (err.code), or `fallback` for one without. */
export function errorCode(err: unknown, fallback: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : fallback;
}

export class CustomProtocolCounts {
  /** Taken into the queue (and written to the spool, when it is on). */
  accepted = 0;
  delivered = 0;
  bounced = 0;
  expired = 0;
  /** Transient failures that were scheduled to be tried again. */
  retries = 0;
  /** Messages the node did not take, by err.code. */
  readonly failed = new CountsBy();
}

/** Seconds from a publish to its confirm: a loopback broker answers in about a millisecond. */
const CONFIRM_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How an AMQP message that amqp publish offered ended. */
const PUBLISH_RESULTS = ['Ack', 'NotRequested', 'Nack', 'returned', 'timeout', 'refused', 'error'] as const;
export type PublishResult = (typeof PUBLISH_RESULTS)[number];

export class PublishCounts {
  readonly results = new CountsBy(PUBLISH_RESULTS);
  readonly confirmSeconds = new BucketCounts(CONFIRM_SECONDS);

  /**
   * How one msg ended: each AMQP message it published (every element of an array), and
   * the seconds from its publish to its last confirm when it got confirm results.
   */
  ended(published: Published, seconds: number): void {
    const amqp = published.amqp;
    if (amqp === undefined) {
      this.results.add(failureResult(published.error));
      return;
    }
    if ('results' in amqp) {
      for (const element of amqp.results) this.results.add(elementResult(element));
    } else {
      this.results.add(amqp.reply_code === null ? amqp.status : 'returned');
    }
    if (published.error === null) this.confirmSeconds.observe(seconds);
  }
}

function elementResult(element: ElementResult): PublishResult {
  if (element.status === 'Error') return 'error';
  return (element as ConfirmResult).reply_code === null ? element.status : 'returned';
}

/** A msg that failed as a whole: no confirm came (timeout), it was never written (refused), or its channel went. */
export function failureResult(err: Error | null): PublishResult {
  if (err instanceof PublishError) {
    if (err.kind === 'timeout') return 'timeout';
    if (err.kind === 'connection-lost' || err.kind === 'channel-closed') return 'error';
  }
  return 'refused';
}

export class BrokerCounts {
  /** Connections regained after one was lost. */
  reconnects = 0;
  /** Seconds of blocked periods that have ended; the current one is added at scrape time. */
  blockedSeconds = 0;
}

/** x-delivery-count: 0 first time; a quorum queue dead-letters (or drops) past 20 by default since RabbitMQ 4.0. */
const DELIVERY_COUNTS = [0, 1, 2, 3, 5, 10, 20, 50];

export class ConsumeCounts {
  delivered = 0;
  /** Deliveries held past the node's limit, by what was done with them ('requeue' or 'reject'). */
  readonly timedOut = new CountsBy(['requeue', 'requeue-failed', 'reject']);
  readonly deliveryCount = new BucketCounts(DELIVERY_COUNTS);
}

export class AckCounts {
  acked = 0;
  /** By how: 'nack' (basic.nack, requeue) or 'reject' (basic.reject, requeue: counts toward a quorum queue's limit). */
  readonly requeued = new CountsBy(['nack', 'reject']);
  rejected = 0;
}

/** Records in one request: KumoMTA's log hooks post one, or a batch of up to their batch_size. */
const RECORDS_PER_REQUEST = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

export class LogHookCounts {
  /** Requests by the status code they were answered with. */
  readonly answers = new CountsBy();
  readonly records = new BucketCounts(RECORDS_PER_REQUEST);
}
