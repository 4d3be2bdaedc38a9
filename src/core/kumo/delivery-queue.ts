// The scheduled and ready queues behind one custom protocol (KumoMTA's
// `<source>-><domain>@lua:<constructor>`): it starts attempts up to a limit,
// in batches where the queue config asks for them (one ready queue per site,
// as KumoMTA forms batches), waits for each message's reported outcome (or
// its attempt's timeout), retries transient failures on KumoMTA's schedule,
// each message on its own, and logs one record per outcome. This is the one
// place that decides what an outcome means.

import { randomBytes, randomUUID } from 'node:crypto';
import { Fifo } from '../base/fifo';
import {
  buildLogRecord,
  expirationResponse,
  internalErrorResponse,
  type Envelope,
  type LogRecord,
  NO_ENVELOPE,
  type RecordType,
  type ResponseInput,
} from './log-record';
import type { QueueConfig, ResolvedTimings } from './queue-config';
import type { QueueName } from './queue-name';
import { nextRetry } from './retry-schedule';
import { expectOutcome, forgetOutcome, type ReportedOutcome } from './delivery-outcomes';
import { render, say } from '../text/messages';
import { type Clock, systemClock, type TimerHandle } from '../base/clock';
import { ERROR_CODES, KumoError } from '../text/errors';
import { isTransientCode } from './reject-code';
import { BATCH_DEFAULTS, type BatchSettings, batchSettings } from './batching';

export interface DeliverySettings {
  constructorName: string;
  /** How long an attempt may take before it counts as a transient failure. */
  attemptTimeoutMs: number;
  /** Attempts in flight at once; the rest wait in the ready queue. */
  maxInFlight: number;
  /** Unfinished deliveries (queued, in flight, waiting to retry) at most: memory stays bounded when the broker is down. */
  maxQueued?: number;
  /** The bytes of unfinished deliveries' data at most (as submit() was told them), for the same reason. */
  maxQueuedBytes?: number;
  egressSource?: string;
  nodeId?: string;
  /** False when nothing listens to the log records (output 2 unwired): they are not built. */
  logRecords?: boolean;
  /** Batching for messages whose queue config does not set it (custom_lua batch_size, ...). */
  batch?: BatchSettings;
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
  /** What the delivery counts against maxQueuedBytes while unfinished. */
  readonly heldBytes: number;
  /** Sender and recipient for the log records. */
  readonly envelope: Envelope;
  /** Attempts started so far; the current attempt's number while in flight. */
  attempts: number;
  /** The current (or last) attempt's UUID, its records' session_id; '' before the first. */
  sessionId: string;
  state: DeliveryState;
  deadline: number;
  /** When a waiting delivery's next attempt is due (epoch ms). */
  dueMs: number;
  retryTimer: TimerHandle | null;
  /** How the delivery's site batches (its queue config's custom_lua, else the node's settings). */
  readonly batch: BatchSettings;
}

/** One ready queue: the messages of one site waiting for their attempt, and its batch latency timer. */
interface ReadyQueue<M> {
  readonly site: string;
  readonly deliveries: Fifo<Delivery<M>>;
  /** When the batch being formed got its first message; a partial batch goes once max_batch_latency has passed. */
  formingSinceMs: number | null;
  /** True until the turn in which the forming batch began is over: messages of that turn join it first. */
  sameTurn: boolean;
  latencyTimer: TimerHandle | null;
  /** When latencyTimer fires (epoch ms). */
  latencyDueMs: number;
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
  /**
   * Hands a batch to the flow (KumoMTA's send_batch), for a site whose batch size is above 1,
   * even when fewer messages were ready: one output message, each message reported on its own.
   */
  sendBatch?(deliveries: Delivery<M>[], kumos: KumoDeliveryInfo[]): void;
  /** One log record per outcome (custom protocol output 2). */
  log(delivery: Delivery<M>, record: LogRecord, kumo: KumoDeliveryInfo): void;
  /**
   * A delivery ended for good (Delivery, Bounce or Expiration), told whether or not log
   * records are built: for whoever waits on the message itself (log hook in's request).
   */
  ended?(delivery: Delivery<M>, type: FinalType, response: ResponseInput): void;
  /**
   * The size of a delivery's data, asked only when a log record is built: measuring an
   * object payload means serialising it, which the hot path should not do for nothing.
   */
  measure?(delivery: Delivery<M>): number;
  /** Counts changed: for the node's status. */
  changed(): void;
  /**
   * An error thrown inside a callback the queue scheduled itself (a retry, a batch's
   * latency, an attempt's timeout) that no delivery could take: reported here, never
   * thrown into the event loop, where it would stop Node-RED.
   */
  fault?(err: Error): void;
  /**
   * A delivery that failed at least once changed, for the durable store: 'kept' when it
   * first failed, 'rescheduled' when it failed again (attempts and dueMs changed),
   * 'finished' when it ended (Delivery, Bounce, Expiration) and need not be kept.
   */
  retrying?(delivery: Delivery<M>, change: RetryingChange): void;
  /** Timers and the current time; the system clock unless a test drives its own. */
  clock?: Clock;
  random?: () => number;
}

export type RetryingChange = 'kept' | 'rescheduled' | 'finished';

/** The record types that end a delivery. */
export type FinalType = 'Delivery' | 'Bounce' | 'Expiration';

export interface DeliveryCounts {
  queued: number;
  inFlight: number;
  waiting: number;
}

export class DeliveryQueue<M> {
  /** Ready queues by site; a site without ready messages has none. */
  private readonly ready = new Map<string, ReadyQueue<M>>();
  private readyCount = 0;
  /** Submitted with `hold`, not yet released: queued, but not in a ready queue. */
  private readonly unkept = new Set<Delivery<M>>();
  /** The heldBytes of every unfinished delivery. */
  private bytesHeld = 0;
  /** Messages of each batch in flight still without an outcome. */
  private readonly batchLeft = new Map<Delivery<M>, { left: number }>();
  private batchesInFlight = 0;
  private readonly waiting = new Set<Delivery<M>>();
  /** Unfinished deliveries that failed at least once: what the durable store keeps. */
  private readonly retrying = new Set<Delivery<M>>();
  /**
   * Attempts in flight, in start order (a Set iterates in insertion order, and a
   * delivery is re-added when its next attempt starts). All attempts share one
   * timeout, so the oldest expires first; a finished attempt leaves at once, so an
   * attempt that never reports holds nothing but itself.
   */
  private readonly inFlight = new Set<Delivery<M>>();
  private timeoutTimer: TimerHandle | null = null;
  /** True while expireAttempts runs: it arms the next timeout itself, for the oldest attempt. */
  private expiring = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly clock: Clock;
  /**
   * The batch settings of each rule, resolved once: a rule hands every message the
   * same timings object with its config, so it keys the rule (a config given on the
   * msg itself gets timings of its own, and is resolved for that message).
   */
  private readonly batchByTimings = new WeakMap<ResolvedTimings, BatchSettings>();

  constructor(
    private readonly settings: DeliverySettings,
    private readonly io: DeliveryIo<M>,
  ) {
    this.clock = io.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  get counts(): DeliveryCounts {
    return { queued: this.readyCount + this.unkept.size, inFlight: this.inFlight.size, waiting: this.waiting.size };
  }

  /** Batches in flight: a batch counts until every message of it has its outcome. */
  get batches(): number {
    return this.batchesInFlight;
  }

  /**
   * `heldBytes`: what the message's data takes while it is kept, for maxQueuedBytes.
   * `hold`: the delivery waits (counted as queued) until release(), as a spooled message
   * waits until it is on disk: its first attempt never runs ahead of the spool, which so
   * keeps what it has yet to write as small as one write's worth.
   */
  submit(
    msg: M,
    queue: QueueName,
    config: QueueConfig,
    timings: ResolvedTimings,
    envelope: Envelope = NO_ENVELOPE,
    heldBytes = 0,
    hold = false,
  ): Delivery<M> {
    const name = this.settings.constructorName;
    if (this.closed) throw new KumoError(ERROR_CODES.closing, say('delivery-queue.closing', { name }));
    const unfinished = this.readyCount + this.unkept.size + this.inFlight.size + this.waiting.size;
    if (this.settings.maxQueued !== undefined && unfinished >= this.settings.maxQueued) {
      throw new KumoError(
        ERROR_CODES.overloaded,
        say('delivery-queue.overloaded', { name, count: unfinished, limit: this.settings.maxQueued }),
      );
    }
    const limit = this.settings.maxQueuedBytes;
    // One message larger than the whole limit is still taken when nothing else is held: it could never be otherwise.
    if (limit !== undefined && this.bytesHeld > 0 && this.bytesHeld + heldBytes > limit) {
      throw new KumoError(
        ERROR_CODES.overloaded,
        say('delivery-queue.overloaded-bytes', { name, bytes: this.bytesHeld, limit }),
      );
    }
    const delivery = this.newDelivery(msg, queue, config, timings, envelope, nextId(), this.now(), 0, heldBytes);
    if (hold) {
      this.unkept.add(delivery);
    } else {
      this.enqueue(delivery);
      this.pump();
    }
    this.io.changed();
    return delivery;
  }

  /**
   * A delivery submitted with `hold` may go now. While the queue closes it joins the queued
   * ones, which close() hands back (pump() starts nothing then).
   */
  release(delivery: Delivery<M>): void {
    if (!this.unkept.delete(delivery)) return;
    this.enqueue(delivery);
    this.pump();
    this.io.changed();
  }

  /** Takes back a delivery a previous run left unfinished; its next attempt keeps its due time. */
  restore(
    msg: M,
    queue: QueueName,
    config: QueueConfig,
    timings: ResolvedTimings,
    saved: RestoredDelivery,
    envelope: Envelope = NO_ENVELOPE,
    heldBytes = 0,
  ): Delivery<M> {
    const delivery = this.newDelivery(
      msg,
      queue,
      config,
      timings,
      envelope,
      saved.id,
      saved.createdMs,
      saved.attempts,
      heldBytes,
    );
    this.retrying.add(delivery);
    this.wait(delivery, Math.max(0, saved.dueMs - this.now()));
    this.io.changed();
    return delivery;
  }

  /** Unfinished deliveries that failed at least once (due now unless waiting), for the durable store. */
  get retryingDeliveries(): Delivery<M>[] {
    return [...this.retrying];
  }

  private newDelivery(
    msg: M,
    queue: QueueName,
    config: QueueConfig,
    timings: ResolvedTimings,
    envelope: Envelope,
    id: string,
    createdMs: number,
    attempts: number,
    heldBytes: number,
  ): Delivery<M> {
    this.bytesHeld += heldBytes;
    return {
      id,
      msg,
      queue,
      config,
      timings,
      createdMs,
      size: null,
      heldBytes,
      envelope,
      attempts,
      sessionId: '',
      state: 'queued',
      deadline: 0,
      dueMs: 0,
      retryTimer: null,
      batch: this.batchOf(config, timings),
    };
  }

  private batchOf(config: QueueConfig, timings: ResolvedTimings): BatchSettings {
    let batch = this.batchByTimings.get(timings);
    if (!batch) {
      const lua = 'custom_lua' in config.protocol ? config.protocol.custom_lua : undefined;
      batch = batchSettings(lua, this.settings.batch ?? BATCH_DEFAULTS);
      this.batchByTimings.set(timings, batch);
    }
    return batch;
  }

  /** KumoMTA's ready queue name is per egress source and site; the source is the node's own. */
  private siteOf(delivery: Delivery<M>): string {
    return delivery.queue.routing_domain || delivery.queue.domain;
  }

  private enqueue(delivery: Delivery<M>): void {
    const site = this.siteOf(delivery);
    let queue = this.ready.get(site);
    if (!queue) {
      queue = {
        site,
        deliveries: new Fifo<Delivery<M>>(),
        formingSinceMs: null,
        sameTurn: false,
        latencyTimer: null,
        latencyDueMs: 0,
      };
      this.ready.set(site, queue);
    }
    queue.deliveries.push(delivery);
    this.readyCount++;
  }

  /**
   * Stops taking messages, waits up to graceMs for attempts in flight, then
   * gives back every delivery not finished (in flight, queued or waiting to retry).
   */
  async close(graceMs: number): Promise<Delivery<M>[]> {
    this.closed = true;
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimer(resolve, graceMs);
        this.idleWaiters.push(() => {
          timer.cancel();
          resolve();
        });
      });
    }
    this.timeoutTimer?.cancel();
    this.timeoutTimer = null;
    const queued: Delivery<M>[] = [];
    for (const queue of this.ready.values()) {
      queue.latencyTimer?.cancel();
      queued.push(...queue.deliveries.drain());
    }
    this.ready.clear();
    this.readyCount = 0;
    this.batchLeft.clear();
    this.batchesInFlight = 0;
    queued.push(...this.unkept);
    this.unkept.clear();
    const unfinished = [...this.inFlight, ...queued, ...this.waiting];
    for (const delivery of unfinished) {
      forgetOutcome(delivery.id);
      delivery.retryTimer?.cancel();
      delivery.retryTimer = null;
    }
    this.inFlight.clear();
    this.waiting.clear();
    this.retrying.clear();
    this.bytesHeld = 0;
    return unfinished;
  }

  /** Starts attempts while there is room in flight, taking the sites in turn. */
  private pump(): void {
    let started = true;
    while (started && this.readyCount > 0 && this.inFlight.size < this.settings.maxInFlight && !this.closed) {
      started = false;
      for (const queue of this.ready.values()) {
        if (this.inFlight.size >= this.settings.maxInFlight) break;
        if (this.startFrom(queue)) started = true;
        if (queue.deliveries.length === 0) {
          queue.latencyTimer?.cancel();
          this.ready.delete(queue.site);
        }
      }
    }
  }

  /**
   * Starts the next attempt (or batch) of one site, if it is ready to go; true when one
   * started. A batch goes at once when it is full; otherwise the messages that arrive in
   * the same turn (the records of one request, say) join it, and it goes as soon as it has
   * min_batch_size messages (looked at again on every arrival, as KumoMTA's obtain_message
   * does) or max_batch_latency has passed.
   */
  private startFrom(queue: ReadyQueue<M>): boolean {
    const head = queue.deliveries.peek();
    if (!head) return false;
    const { batchSize, minBatchSize, maxBatchLatencySec } = head.batch;
    if (batchSize === 1) {
      queue.deliveries.shift();
      this.readyCount--;
      this.start(head, randomUUID());
      this.handOut([head]);
      return true;
    }
    const room = this.settings.maxInFlight - this.inFlight.size;
    const ready = queue.deliveries.length;
    if (room <= 0) return false;
    if (!(ready >= batchSize && room >= batchSize)) {
      const now = this.now();
      if (queue.formingSinceMs === null) {
        queue.formingSinceMs = now;
        queue.sameTurn = true;
        this.wake(queue, 0);
        return false;
      }
      if (queue.sameTurn) return false;
      // A minimum the in-flight limit can never allow would stall the site.
      const enough = Math.min(minBatchSize, this.settings.maxInFlight);
      const dueMs = queue.formingSinceMs + maxBatchLatencySec * 1000;
      if (ready < enough && now < dueMs) {
        if (!queue.latencyTimer || queue.latencyDueMs !== dueMs) this.wake(queue, dueMs - now);
        return false;
      }
    }
    queue.formingSinceMs = null;
    queue.sameTurn = false;
    queue.latencyTimer?.cancel();
    queue.latencyTimer = null;
    const take = Math.min(batchSize, room, ready);
    const batch: Delivery<M>[] = [];
    for (let i = 0; i < take; i++) batch.push(queue.deliveries.shift() as Delivery<M>);
    this.readyCount -= take;
    const left = { left: batch.length };
    this.batchesInFlight++;
    // One session per batch, as KumoMTA logs every message of a send_batch with its session's id.
    const sessionId = randomUUID();
    for (const delivery of batch) {
      this.batchLeft.set(delivery, left);
      this.start(delivery, sessionId);
    }
    this.handOut(batch);
    return true;
  }

  /**
   * Hands an attempt (or a batch) to the flow. What the flow cannot be given (a payload
   * the node cannot copy, say) ends that attempt here, as its outcome: the error never
   * reaches the timer that started the attempt.
   */
  private handOut(deliveries: Delivery<M>[]): void {
    const kumos = deliveries.map((d) => this.kumoInfo(d));
    try {
      if (deliveries.length > 1 || (this.io.sendBatch && deliveries[0].batch.batchSize > 1)) {
        if (this.io.sendBatch) this.io.sendBatch(deliveries, kumos);
        else for (let i = 0; i < deliveries.length; i++) this.io.send(deliveries[i], kumos[i]);
      } else {
        this.io.send(deliveries[0], kumos[0]);
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const permanent = (error as { code?: unknown }).code === ERROR_CODES.badInput;
      for (const delivery of deliveries) {
        if (delivery.state !== 'in-flight') continue;
        this.settleAttempt(delivery, {
          kind: 'failed',
          error: render(say('delivery-queue.attempt-not-sent', { error: error.message })),
          permanent,
        });
      }
    }
  }

  /** Looks at a forming batch again after delayMs. */
  private wake(queue: ReadyQueue<M>, delayMs: number): void {
    queue.latencyTimer?.cancel();
    queue.latencyDueMs = this.now() + delayMs;
    queue.latencyTimer = this.timer(() => {
      queue.latencyTimer = null;
      queue.sameTurn = false;
      this.pump();
      this.io.changed();
    }, delayMs);
  }

  /** A timer whose callback contains its errors (see DeliveryIo.fault). */
  private timer(fn: () => void, delayMs: number): TimerHandle {
    return this.clock.setTimer(() => {
      try {
        fn();
      } catch (err) {
        this.io.fault?.(err instanceof Error ? err : new Error(String(err)));
      }
    }, delayMs);
  }

  private start(delivery: Delivery<M>, sessionId: string): void {
    delivery.attempts++;
    delivery.sessionId = sessionId;
    delivery.state = 'in-flight';
    delivery.deadline = this.now() + this.settings.attemptTimeoutMs;
    this.inFlight.add(delivery);
    if (!this.timeoutTimer && !this.expiring) this.armTimeout(delivery.deadline);
    expectOutcome(delivery.id, (attempt, outcome) => this.onOutcome(delivery, attempt, outcome));
  }

  private onOutcome(delivery: Delivery<M>, attempt: number, outcome: ReportedOutcome): void {
    // A late report for an attempt that already timed out, or a second report
    // (a fork with two publish nodes): the first outcome stands.
    if (delivery.state !== 'in-flight' || attempt !== delivery.attempts) return;
    this.settleAttempt(delivery, outcome);
    this.afterAttempt();
  }

  /** The one place an attempt's outcome is decided. */
  private settleAttempt(delivery: Delivery<M>, outcome: ReportedOutcome): void {
    this.endAttempt(delivery);
    switch (outcome.kind) {
      case 'delivered':
        this.finish(delivery, 'Delivery', { code: 200, content: outcome.disposition });
        break;
      case 'rejected':
        // kumo.reject: 4xx is transient, any other code is permanent.
        if (isTransientCode(outcome.code)) this.transient(delivery, { code: outcome.code, content: outcome.message });
        else this.finish(delivery, 'Bounce', { code: outcome.code, content: outcome.message });
        break;
      case 'failed': {
        const response = internalErrorResponse(outcome.error, delivery.batch.batchSize > 1);
        // Bad input can never be delivered: a Bounce now, not days of retries.
        if (outcome.permanent) this.finish(delivery, 'Bounce', { ...response, code: 500 });
        else this.transient(delivery, response);
        break;
      }
    }
  }

  /** The attempt is over: whatever comes next (finish or retry), it no longer counts as in flight or times out. */
  private endAttempt(delivery: Delivery<M>): void {
    this.inFlight.delete(delivery);
    forgetOutcome(delivery.id);
    delivery.state = 'done';
    const batch = this.batchLeft.get(delivery);
    if (batch) {
      this.batchLeft.delete(delivery);
      if (--batch.left === 0) this.batchesInFlight--;
    }
  }

  private finish(delivery: Delivery<M>, type: FinalType, response: ResponseInput): void {
    this.bytesHeld -= delivery.heldBytes;
    if (this.retrying.delete(delivery)) this.io.retrying?.(delivery, 'finished');
    this.log(delivery, type, response);
    this.io.ended?.(delivery, type, response);
  }

  private log(delivery: Delivery<M>, type: RecordType, response: ResponseInput): void {
    if (this.settings.logRecords === false) return;
    this.io.log(delivery, this.record(delivery, type, response), this.kumoInfo(delivery));
  }

  private transient(delivery: Delivery<M>, response: ResponseInput): void {
    this.log(delivery, 'TransientFailure', response);
    const change: RetryingChange = this.retrying.has(delivery) ? 'rescheduled' : 'kept';
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
      if (decision.kind === 'expire') {
        this.finish(delivery, 'Expiration', expirationResponse(decision.delayedAgeSec, decision.maxAgeSec));
      } else {
        delivery.state = 'waiting';
        this.waiting.add(delivery); // handed back by close()
      }
      return;
    }
    this.wait(delivery, decision.delayMs);
    this.io.retrying?.(delivery, change);
  }

  private wait(delivery: Delivery<M>, delayMs: number): void {
    delivery.state = 'waiting';
    delivery.dueMs = this.now() + delayMs;
    this.waiting.add(delivery);
    delivery.retryTimer = this.timer(() => {
      delivery.retryTimer = null;
      this.waiting.delete(delivery);
      delivery.state = 'queued';
      this.enqueue(delivery);
      this.pump();
      this.io.changed();
    }, delayMs);
  }

  private afterAttempt(): void {
    this.pump();
    this.io.changed();
    if (this.inFlight.size === 0 && this.idleWaiters.length > 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private armTimeout(at: number): void {
    this.timeoutTimer = this.timer(() => this.expireAttempts(), Math.max(0, at - this.now()));
  }

  private expireAttempts(): void {
    this.timeoutTimer = null;
    const now = this.now();
    const expired: Delivery<M>[] = [];
    for (const delivery of this.inFlight) {
      if (delivery.deadline > now) break;
      expired.push(delivery);
    }
    const seconds = this.settings.attemptTimeoutMs / 1000;
    this.expiring = true;
    try {
      for (const delivery of expired) {
        // An earlier expiry's log record may have led the flow to report this one meanwhile.
        if (delivery.state !== 'in-flight' || delivery.deadline > now) continue;
        this.endAttempt(delivery);
        this.transient(
          delivery,
          internalErrorResponse(
            render(say('delivery-queue.attempt-timeout', { seconds })),
            delivery.batch.batchSize > 1,
          ),
        );
        this.afterAttempt();
      }
    } finally {
      this.expiring = false;
    }
    const next = this.inFlight.values().next();
    if (!next.done && !this.timeoutTimer && !this.closed) this.armTimeout(next.value.deadline);
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
      size: this.sizeOf(delivery),
      createdMs: delivery.createdMs,
      nowMs: this.now(),
      // KumoMTA logs a Delivery, Bounce or TransientFailure with the attempts made before
      // this one, and an Expiration after counting it (queue.rs increments, then expires).
      numAttempts: type === 'Expiration' ? delivery.attempts : Math.max(0, delivery.attempts - 1),
      nodeId: this.settings.nodeId,
      sessionId: delivery.sessionId || undefined,
    });
  }

  /** Measured once, when the first log record needs it. */
  private sizeOf(delivery: Delivery<M>): number {
    if (delivery.size === null) delivery.size = this.io.measure ? this.io.measure(delivery) : 0;
    return delivery.size;
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
