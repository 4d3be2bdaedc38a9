// The scheduled and ready queue behind one custom protocol (KumoMTA's
// `<source>-><domain>@lua:<constructor>`): it starts attempts up to a limit,
// waits for each attempt's reported outcome (or its timeout), retries
// transient failures on KumoMTA's schedule and logs one record per outcome.
// This is the one place that decides what an outcome means.

import { randomBytes } from 'node:crypto';
import { Fifo } from './fifo';
import { buildLogRecord, expirationResponse, internalErrorResponse, Envelope, LogRecord, NO_ENVELOPE, RecordType, ResponseInput } from './log-record';
import type { QueueConfig, ResolvedTimings } from './queue-config';
import type { QueueName } from './queue-name';
import { nextRetry } from './retry-schedule';
import { expectOutcome, forgetOutcome, ReportedOutcome } from './delivery-outcomes';
import { text } from './messages';

export interface DeliverySettings {
  constructorName: string;
  /** How long an attempt may take before it counts as a transient failure. */
  attemptTimeoutMs: number;
  /** Attempts in flight at once; the rest wait in the ready queue. */
  maxInFlight: number;
  /** Unfinished deliveries (queued, in flight, waiting to retry) at most: memory stays bounded when the broker is down. */
  maxQueued?: number;
  egressSource?: string;
  nodeId?: string;
  /** False when nothing listens to the log records (output 2 unwired): they are not built. */
  logRecords?: boolean;
}

// KumoMTA's ids are 32 hex digits: a random per-process half and a counter,
// unique without a random draw per message.
const ID_PREFIX = randomBytes(8).toString('hex');
let idCounter = 0;
function nextId(): string {
  idCounter++;
  return ID_PREFIX + idCounter.toString(16).padStart(16, '0');
}

/** msg.kumo: what a delivery attempt carries downstream. */
export interface KumoDeliveryInfo {
  id: string;
  queue: string;
  domain: string;
  tenant: string | null;
  campaign: string | null;
  routing_domain: string | null;
  constructor: string;
  attempt: number;
}

/** 'done': finished (Delivery, Bounce, Expiration) or between an attempt's end and its retry being scheduled. */
export type DeliveryState = 'queued' | 'in-flight' | 'waiting' | 'done';

export interface Delivery<M> {
  readonly id: string;
  readonly msg: M;
  readonly queue: QueueName;
  readonly config: QueueConfig;
  readonly timings: ResolvedTimings;
  readonly createdMs: number;
  /** Bytes of the message data; null until a log record needs it (see DeliveryIo.measure). */
  size: number | null;
  /** Sender and recipient for the log records. */
  readonly envelope: Envelope;
  /** Attempts started so far; the current attempt's number while in flight. */
  attempts: number;
  state: DeliveryState;
  deadline: number;
  /** When a waiting delivery's next attempt is due (epoch ms). */
  dueMs: number;
  retryTimer: NodeJS.Timeout | null;
}

/** A delivery a previous run did not finish (see retry-store.ts). */
export interface RestoredDelivery {
  id: string;
  createdMs: number;
  attempts: number;
  dueMs: number;
}

export interface DeliveryIo<M> {
  /** Hands an attempt to the flow (custom protocol output 1). */
  send(delivery: Delivery<M>, kumo: KumoDeliveryInfo): void;
  /** One log record per outcome (custom protocol output 2). */
  log(delivery: Delivery<M>, record: LogRecord, kumo: KumoDeliveryInfo): void;
  /**
   * The size of a delivery's data, asked only when a log record is built: measuring an
   * object payload means serialising it, which the hot path should not do for nothing.
   */
  measure?(delivery: Delivery<M>): number;
  /** Counts changed: for the node's status. */
  changed(): void;
  /** The set of deliveries being retried changed: for the durable store. */
  retryingChanged?(): void;
  now?: () => number;
  random?: () => number;
}

export interface DeliveryCounts {
  queued: number;
  inFlight: number;
  waiting: number;
}

export class DeliveryQueue<M> {
  private readonly ready = new Fifo<Delivery<M>>();
  /** Attempts in start order; all share one timeout, so the oldest expires first. */
  private readonly attemptsByStart = new Fifo<{ delivery: Delivery<M>; attempt: number }>();
  private readonly waiting = new Set<Delivery<M>>();
  /** Unfinished deliveries that failed at least once: what the durable store keeps. */
  private readonly retrying = new Set<Delivery<M>>();
  private readonly inFlight = new Set<Delivery<M>>();
  private timeoutTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly settings: DeliverySettings, private readonly io: DeliveryIo<M>) {
    this.now = io.now ?? Date.now;
  }

  get counts(): DeliveryCounts {
    return { queued: this.ready.length, inFlight: this.inFlight.size, waiting: this.waiting.size };
  }

  submit(msg: M, queue: QueueName, config: QueueConfig, timings: ResolvedTimings, size: number | null, envelope: Envelope = NO_ENVELOPE): Delivery<M> {
    const name = this.settings.constructorName;
    if (this.closed) throw new Error(text('delivery-queue.closing', { name }));
    const unfinished = this.ready.length + this.inFlight.size + this.waiting.size;
    if (this.settings.maxQueued !== undefined && unfinished >= this.settings.maxQueued) {
      throw new Error(text('delivery-queue.overloaded', { name, count: unfinished, limit: this.settings.maxQueued }));
    }
    const delivery = this.newDelivery(msg, queue, config, timings, size, envelope, nextId(), this.now(), 0);
    this.ready.push(delivery);
    this.pump();
    this.io.changed();
    return delivery;
  }

  /** Takes back a delivery a previous run left unfinished; its next attempt keeps its due time. */
  restore(msg: M, queue: QueueName, config: QueueConfig, timings: ResolvedTimings, size: number | null, saved: RestoredDelivery, envelope: Envelope = NO_ENVELOPE): Delivery<M> {
    const delivery = this.newDelivery(msg, queue, config, timings, size, envelope, saved.id, saved.createdMs, saved.attempts);
    this.retrying.add(delivery);
    this.wait(delivery, Math.max(0, saved.dueMs - this.now()));
    this.io.changed();
    return delivery;
  }

  /** Unfinished deliveries that failed at least once (due now unless waiting), for the durable store. */
  get retryingDeliveries(): Delivery<M>[] {
    return [...this.retrying];
  }

  private newDelivery(msg: M, queue: QueueName, config: QueueConfig, timings: ResolvedTimings, size: number | null, envelope: Envelope, id: string, createdMs: number, attempts: number): Delivery<M> {
    return { id, msg, queue, config, timings, createdMs, size, envelope, attempts, state: 'queued', deadline: 0, dueMs: 0, retryTimer: null };
  }

  /**
   * Stops taking messages, waits up to graceMs for attempts in flight, then
   * gives back every delivery not finished (in flight, queued or waiting to retry).
   */
  async close(graceMs: number): Promise<Delivery<M>[]> {
    this.closed = true;
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = null;
    const unfinished = [...this.inFlight, ...this.ready.drain(), ...this.waiting];
    for (const delivery of unfinished) {
      forgetOutcome(delivery.id);
      if (delivery.retryTimer) clearTimeout(delivery.retryTimer);
    }
    this.inFlight.clear();
    this.waiting.clear();
    return unfinished;
  }

  private pump(): void {
    while (this.inFlight.size < this.settings.maxInFlight && this.ready.length > 0 && !this.closed) {
      this.start(this.ready.shift() as Delivery<M>);
    }
  }

  private start(delivery: Delivery<M>): void {
    delivery.attempts++;
    delivery.state = 'in-flight';
    delivery.deadline = this.now() + this.settings.attemptTimeoutMs;
    this.inFlight.add(delivery);
    this.attemptsByStart.push({ delivery, attempt: delivery.attempts });
    if (!this.timeoutTimer) this.armTimeout(delivery.deadline);
    expectOutcome(delivery.id, (attempt, outcome) => this.onOutcome(delivery, attempt, outcome));
    this.io.send(delivery, this.kumoInfo(delivery));
  }

  private onOutcome(delivery: Delivery<M>, attempt: number, outcome: ReportedOutcome): void {
    // A late report for an attempt that already timed out, or a second report
    // (a fork with two publish nodes): the first outcome stands.
    if (delivery.state !== 'in-flight' || attempt !== delivery.attempts) return;
    this.endAttempt(delivery);
    switch (outcome.kind) {
      case 'delivered':
        this.finish(delivery, 'Delivery', { code: 200, content: outcome.disposition });
        break;
      case 'rejected':
        // kumo.reject: 4xx is transient, any other code is permanent.
        if (outcome.code >= 400 && outcome.code <= 499) this.transient(delivery, { code: outcome.code, content: outcome.message });
        else this.finish(delivery, 'Bounce', { code: outcome.code, content: outcome.message });
        break;
      case 'failed':
        this.transient(delivery, internalErrorResponse(outcome.error));
        break;
    }
    this.afterAttempt();
  }

  /** The attempt is over: whatever comes next (finish or retry), it no longer counts as in flight or times out. */
  private endAttempt(delivery: Delivery<M>): void {
    this.inFlight.delete(delivery);
    forgetOutcome(delivery.id);
    delivery.state = 'done';
  }

  private finish(delivery: Delivery<M>, type: RecordType, response: ResponseInput): void {
    if (this.retrying.delete(delivery)) this.io.retryingChanged?.();
    this.log(delivery, type, response);
  }

  private log(delivery: Delivery<M>, type: RecordType, response: ResponseInput): void {
    if (this.settings.logRecords === false) return;
    this.io.log(delivery, this.record(delivery, type, response), this.kumoInfo(delivery));
  }

  private transient(delivery: Delivery<M>, response: ResponseInput): void {
    this.log(delivery, 'TransientFailure', response);
    this.retrying.add(delivery);
    const now = this.now();
    const decision = nextRetry({
      attempts: delivery.attempts,
      createdMs: delivery.createdMs,
      nowMs: now,
      timings: delivery.timings,
      random: this.io.random,
    });
    if (decision.kind === 'expire' || this.closed) {
      if (decision.kind === 'expire') this.finish(delivery, 'Expiration', expirationResponse(decision.delayedAgeSec, decision.maxAgeSec));
      else {
        delivery.state = 'waiting';
        this.waiting.add(delivery); // handed back by close()
      }
      this.io.retryingChanged?.();
      return;
    }
    this.wait(delivery, decision.delayMs);
  }

  private wait(delivery: Delivery<M>, delayMs: number): void {
    delivery.state = 'waiting';
    delivery.dueMs = this.now() + delayMs;
    this.waiting.add(delivery);
    this.io.retryingChanged?.();
    delivery.retryTimer = setTimeout(() => {
      delivery.retryTimer = null;
      this.waiting.delete(delivery);
      delivery.state = 'queued';
      this.ready.push(delivery);
      this.pump();
      this.io.changed();
    }, delayMs);
  }

  private afterAttempt(): void {
    // Finished attempts leave the timeout list now, not at their deadline, so
    // their messages are not held in memory for attemptTimeoutMs.
    for (let head = this.attemptsByStart.peek(); head && (head.delivery.state !== 'in-flight' || head.delivery.attempts !== head.attempt); head = this.attemptsByStart.peek()) {
      this.attemptsByStart.shift();
    }
    this.pump();
    this.io.changed();
    if (this.inFlight.size === 0 && this.idleWaiters.length > 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private armTimeout(at: number): void {
    this.timeoutTimer = setTimeout(() => this.expireAttempts(), Math.max(0, at - this.now()));
  }

  private expireAttempts(): void {
    this.timeoutTimer = null;
    const now = this.now();
    for (let head = this.attemptsByStart.peek(); head; head = this.attemptsByStart.peek()) {
      const { delivery, attempt } = head;
      const current = delivery.state === 'in-flight' && delivery.attempts === attempt;
      if (current && delivery.deadline > now) break;
      this.attemptsByStart.shift();
      if (current) {
        this.endAttempt(delivery);
        const seconds = this.settings.attemptTimeoutMs / 1000;
        this.transient(delivery, internalErrorResponse(text('delivery-queue.attempt-timeout', { seconds })));
        this.afterAttempt();
      }
    }
    const next = this.attemptsByStart.peek();
    if (next) this.armTimeout(next.delivery.deadline);
  }

  private record(delivery: Delivery<M>, type: RecordType, response: ResponseInput): LogRecord {
    return buildLogRecord({
      type,
      id: delivery.id,
      queue: delivery.queue,
      constructorName: this.settings.constructorName,
      egressSource: this.settings.egressSource,
      response,
      sender: delivery.envelope.sender,
      recipient: delivery.envelope.recipient,
      size: delivery.size ?? (delivery.size = this.io.measure ? this.io.measure(delivery) : 0),
      createdMs: delivery.createdMs,
      nowMs: this.now(),
      // KumoMTA counts the attempts made before the one being logged.
      numAttempts: Math.max(0, delivery.attempts - 1),
      nodeId: this.settings.nodeId,
    });
  }

  private kumoInfo(delivery: Delivery<M>): KumoDeliveryInfo {
    const q = delivery.queue;
    return {
      id: delivery.id,
      queue: q.name,
      domain: q.domain,
      tenant: q.tenant,
      campaign: q.campaign,
      routing_domain: q.routing_domain,
      constructor: this.settings.constructorName,
      attempt: delivery.attempts,
    };
  }
}
