// client:publish{...} + confirm:wait() from KumoMTA's seed, pipelined: many
// messages in flight on one confirm channel, each finished exactly once as
// Ack / NotRequested / Nack or with an error. Memory is bounded by maxWaiting:
// past it a message fails at once instead of queueing without limit; a finished
// message is let go at once, whatever its neighbours still wait for.

import { ContainedEmitter, contained, reportFault, toError } from '../base/contained';
import type * as amqp from 'amqplib';
import type { BackoffSettings } from './backoff';
import type { BrokerConnection } from './broker-connection';
import { ChannelKeeper, type ChannelLoss, type LossCause } from './channel';
import { type QueueDeclaration, declareQueue } from './consumer-queue';
import { ERROR_CODES, type ErrorCode, KumoError } from '../text/errors';
import { Fifo } from '../base/fifo';
import { type Message, type MessageParam, say } from '../text/messages';

export type ConfirmStatus = 'Ack' | 'NotRequested' | 'Nack';

/** The seed's `result`, plus where the message went: becomes msg.amqp. */
export interface ConfirmResult {
  status: ConfirmStatus;
  reply_code: number | null;
  reply_text: string | null;
  exchange: string;
  routing_key: string;
}

export interface PublishRequest {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: amqp.Options.Publish;
  mandatory: boolean;
}

/** `returned` is true when a mandatory message came back unroutable (basic.return). */
export type PublishCallback = (err: PublishError | null, result: ConfirmResult | null, returned: boolean) => void;

export type PublishErrorKind =
  | 'overloaded'
  | 'not-connected'
  | 'channel-closed'
  | 'connection-lost'
  | 'timeout'
  | 'closing'
  | 'invalid';

/** The code a flow branches on: only bad input is the message's fault; the rest is worth another try later. */
export function publishErrorCode(kind: PublishErrorKind): ErrorCode {
  switch (kind) {
    case 'overloaded':
      return ERROR_CODES.overloaded;
    case 'closing':
      return ERROR_CODES.closing;
    case 'invalid':
      return ERROR_CODES.badInput;
    default:
      return ERROR_CODES.brokerUnavailable;
  }
}

export class PublishError extends KumoError {
  override name = 'PublishError';
  constructor(
    readonly kind: PublishErrorKind,
    said: Message,
  ) {
    super(publishErrorCode(kind), said);
  }
}

export interface PublisherSettings {
  confirm: boolean;
  confirmTimeoutMs: number;
  maxWaiting: number;
  /** A queue declared on every new channel before publishing (amqp publish's Declare queue). */
  declare?: QueueDeclaration | null;
}

interface Entry {
  /** Null once finished: a finished message's body must not outlive it (amqplib may keep the entry until its channel closes). */
  request: PublishRequest | null;
  deadline: number;
  finished: boolean;
  written: boolean;
  returned: { code: number; text: string } | null;
  callback: PublishCallback;
  /** The channel it was written on, to tell which channel a Nack came from. */
  channel: amqp.Channel | null;
}

// RabbitMQ 3.10 quirk, seen in the cluster failover test: a channel opened
// while a quorum queue's leader node is shutting down Nacks every publish to
// that queue for seconds, while a channel opened a moment later is accepted at
// once (the queue's new leader is known to channels opened after the election,
// which takes a moment). So a Nack replaces the channel, at most this often: a
// full reject-publish queue Nacks every message, and must not churn channels.
const REPLACE_AFTER_NACK_MS = 250;

// A channel the broker keeps closing (a missing exchange closes it at the first
// publish) is reopened after a delay that doubles up to the cap, until a publish
// succeeds. Without jitter: one publisher's channel herds with nobody.
const REOPEN: BackoffSettings = { initialDelayMs: 50, maxDelayMs: 5000 };

// RabbitMQ's words when a message exceeds max_message_size (406 PRECONDITION_FAILED).
const TOO_LARGE = /is larger than configured max size (\d+)/;

export declare interface ConfirmPublisher {
  on(event: 'change', listener: () => void): this;
  on(event: 'warning', listener: (said: Message) => void): this;
}

/** What a status shows: writing (with how many wait), held by the broker, dialling, or why it cannot write. */
export type PublisherHealth =
  | { state: 'ok'; outstanding: number }
  | { state: 'blocked'; outstanding: number }
  | { state: 'connecting' }
  | { state: 'problem'; reason: MessageParam };

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only types the events this class emits
export class ConfirmPublisher extends ContainedEmitter {
  private readonly keeper: ChannelKeeper;
  private readonly declaration: QueueDeclaration | null;
  private channelOpenedAt = 0;
  /** A declaration the broker refused (e.g. the queue exists with other arguments) is not retried. */
  private declareRefused = false;
  private writable = true;
  private closing = false;
  private outstandingCount = 0;
  private lastReplacedMs = 0;
  /** Confirms each channel still owes us. */
  private readonly unconfirmed = new Map<amqp.Channel, number>();
  /** Replaced channels still owed confirms: each is closed when its last one arrives. */
  private readonly retiring = new Set<amqp.Channel>();
  private deadlineTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  /** Not yet written to the channel, oldest first. */
  private readonly pending = new Fifo<Entry>();
  /**
   * Every unfinished entry in publish order (a Set iterates in insertion order):
   * the oldest expires first, and a finished one leaves at once, so one message
   * waiting for its confirm does not hold every later one.
   */
  private readonly timeline = new Set<Entry>();
  /** Mandatory messages awaiting their confirm, to match a basic.return against. */
  private readonly mandatoryInFlight: Entry[] = [];

  private readonly onStatus = () => {
    const status = this.connection.status;
    if (status.state !== 'connected' && status.misconfigured)
      this.failUnwritten(new PublishError('not-connected', this.problem ?? say('confirm-publisher.not-connected')));
    else if (!status.blocked) this.flush();
    // A close waiting for confirms stops waiting once the connection is gone: none can come.
    if (status.state !== 'connected' && this.closing) this.wakeIdleWaiters();
    this.emit('change');
  };

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: PublisherSettings,
  ) {
    super();
    this.declaration = settings.declare ?? null;
    this.keeper = new ChannelKeeper(
      connection,
      { confirm: settings.confirm, backoff: REOPEN },
      {
        prepare: (channel) => this.prepare(channel),
        opened: (channel, previous) => this.onOpened(channel, previous),
        lost: (loss) => this.onLost(loss),
      },
      () => this.fault,
    );
    connection.on('status', this.onStatus);
    this.keeper.start();
  }

  get outstanding(): number {
    return this.outstandingCount;
  }

  /** Why the publisher cannot write now, or null; used for status and errors. */
  get problem(): Message | null {
    const channel = this.keeper.channel;
    if (channel && this.connection.connected && this.connection.blockedReason === null) return null; // the per-message case
    const status = this.connection.status;
    if (status.state !== 'connected') {
      return status.error
        ? say('confirm-publisher.not-connected-because', { error: status.error })
        : say('confirm-publisher.not-connected');
    }
    if (status.blocked) return say('confirm-publisher.blocking', { reason: status.blocked });
    if (!channel) {
      const error = this.keeper.error;
      return error ? say('confirm-publisher.channel-closed', { error }) : say('confirm-publisher.opening-channel');
    }
    return null;
  }

  /**
   * The state a status shows. Not connected, the connection's own reason is shown
   * (a status has room for one reason); otherwise the publisher's problem.
   */
  get health(): PublisherHealth {
    const problem = this.problem;
    if (!problem) return { state: 'ok', outstanding: this.outstandingCount };
    const connection = this.connection.status;
    if (connection.blocked) return { state: 'blocked', outstanding: this.outstandingCount };
    if (connection.state === 'connecting' && !connection.error) return { state: 'connecting' };
    const reason = connection.state !== 'connected' && connection.error ? connection.error : problem;
    return { state: 'problem', reason };
  }

  /**
   * Why a message offered now would be refused at once, or null. Callers ask before
   * they encode a payload: under overload most messages are refused, and encoding
   * each of them first is the garbage that grows the heap.
   */
  refusal(): PublishError | null {
    if (this.closing) return new PublishError('closing', say('confirm-publisher.closing'));
    if (this.outstandingCount >= this.settings.maxWaiting) {
      return new PublishError(
        'overloaded',
        say('confirm-publisher.overloaded', { count: this.outstandingCount, limit: this.settings.maxWaiting }),
      );
    }
    // Waiting cannot help when the broker refused our settings.
    if (this.connection.refusedSettings)
      return new PublishError('not-connected', this.problem ?? say('confirm-publisher.not-connected'));
    return null;
  }

  publish(request: PublishRequest, callback: PublishCallback): void {
    const refused = this.refusal();
    if (refused) {
      callback(refused, null, false);
      return;
    }
    const entry: Entry = {
      request,
      deadline: Date.now() + this.settings.confirmTimeoutMs,
      finished: false,
      written: false,
      returned: null,
      callback,
      channel: null,
    };
    this.outstandingCount++;
    this.timeline.add(entry);
    if (!this.deadlineTimer) this.armDeadline(entry.deadline);
    if (this.pending.length === 0 && this.canWrite()) this.write(entry);
    else this.pending.push(entry);
  }

  /**
   * Fails at once what was never written (it can only be written after the
   * close), waits up to graceMs for the confirms of what was written on a live
   * connection, fails the rest and lets go of the connection.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.keeper.stop();
    this.failUnwritten(new PublishError('closing', say('confirm-publisher.closing')));
    if (this.outstandingCount > 0 && this.connection.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const entry of this.timeline) {
      this.finish(entry, new PublishError('closing', say('confirm-publisher.closed-unconfirmed')), null);
    }
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.connection.removeListener('status', this.onStatus);
    for (const retired of this.retiring) void retired.close().catch(() => undefined);
    this.retiring.clear();
    this.unconfirmed.clear();
    await this.keeper.close();
  }

  // Messages not yet written when the broker refused our settings (credentials,
  // vhost, TLS), or when the node closes, would otherwise wait out the confirm
  // timeout for nothing: new ones fail at once in publish(), so these do too.
  private failUnwritten(error: PublishError): void {
    for (const entry of this.pending.drain()) {
      if (!entry.finished) this.finish(entry, error, null);
    }
  }

  private wakeIdleWaiters(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private canWrite(): boolean {
    return this.keeper.channel !== null && this.writable && this.connection.blockedReason === null;
  }

  private flush(): void {
    while (this.pending.length > 0 && this.canWrite()) {
      const entry = this.pending.shift() as Entry;
      if (!entry.finished) this.write(entry);
    }
  }

  private write(entry: Entry): void {
    const channel = this.keeper.channel as amqp.Channel;
    const { exchange, routingKey, content, options, mandatory } = entry.request as PublishRequest;
    const publishOptions = mandatory ? { ...options, mandatory: true } : options;
    let accepted: boolean;
    try {
      if (this.settings.confirm) {
        accepted = (channel as amqp.ConfirmChannel).publish(
          exchange,
          routingKey,
          content,
          publishOptions,
          // One closure per message, containing its own errors (see contained()).
          (err: Error | null) => {
            try {
              this.onConfirm(entry, err);
            } catch (thrown) {
              reportFault(this.fault, thrown);
            }
          },
        );
      } else {
        accepted = channel.publish(exchange, routingKey, content, publishOptions);
      }
    } catch (err) {
      // amqplib refuses a write to a channel that is closing: broker trouble, not the message's fault.
      if (err instanceof Error && err.name === 'IllegalOperationError') {
        const error = this.connection.redact(this.keeper.error ?? err.message);
        this.finish(
          entry,
          new PublishError('channel-closed', say('confirm-publisher.channel-closed', { error })),
          null,
        );
        return;
      }
      // Encoding errors (e.g. a header table over 64 KiB, or nested too deep to encode) throw before anything is sent.
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.finish(entry, new PublishError('invalid', say('confirm-publisher.not-encoded', { error })), null);
      return;
    }
    entry.written = true;
    if (this.settings.confirm) {
      entry.channel = channel;
      this.unconfirmed.set(channel, (this.unconfirmed.get(channel) ?? 0) + 1);
    }
    if (!accepted) this.writable = false; // wait for 'drain' before writing more
    if (!this.settings.confirm) {
      this.finish(entry, null, this.result(entry, 'NotRequested'));
    } else if (mandatory) {
      this.mandatoryInFlight.push(entry);
    }
  }

  private onConfirm(entry: Entry, err: Error | null): void {
    const channel = entry.channel;
    if (channel) {
      const left = (this.unconfirmed.get(channel) ?? 1) - 1;
      if (left > 0) {
        this.unconfirmed.set(channel, left);
      } else {
        this.unconfirmed.delete(channel);
        if (this.retiring.delete(channel)) void channel.close().catch(() => undefined);
      }
    }
    if (entry.finished) return;
    if (err === null) {
      this.keeper.working(); // a later failure starts the backoff afresh
      this.finish(entry, null, this.result(entry, 'Ack'));
    } else if (err.message === 'message nacked') {
      // amqplib's wording for a Nack
      this.finish(entry, null, this.result(entry, 'Nack'));
      if (entry.channel) this.replaceAfterNack(entry.channel);
    } else {
      // A bare "channel closed": the channel's, or its connection's with it.
      this.keeper.diagnose(channel, (cause) => this.onConfirmLost(entry, cause, err));
    }
  }

  private onConfirmLost(entry: Entry, cause: LossCause, err: Error): void {
    if (entry.finished) return;
    if (cause === 'connection') {
      const error = this.connection.status.error ?? say('confirm-publisher.closed');
      this.finish(
        entry,
        new PublishError('connection-lost', say('confirm-publisher.connection-lost', { error })),
        null,
      );
    } else {
      const error = this.keeper.error ?? err.message;
      // The broker closes the channel for a message over its max_message_size (16 MiB by default since
      // RabbitMQ 4.0): that message can never be delivered (bad input); the others on the channel can.
      const tooLarge = TOO_LARGE.exec(error);
      const kind =
        tooLarge && (entry.request?.content.length ?? 0) > Number(tooLarge[1]) ? 'invalid' : 'channel-closed';
      this.finish(entry, new PublishError(kind, say('confirm-publisher.channel-closed', { error })), null);
    }
  }

  private result(entry: Entry, status: ConfirmStatus): ConfirmResult {
    const request = entry.request as PublishRequest;
    return {
      status,
      reply_code: entry.returned ? entry.returned.code : null,
      reply_text: entry.returned ? entry.returned.text : null,
      exchange: request.exchange,
      routing_key: request.routingKey,
    };
  }

  private finish(entry: Entry, err: PublishError | null, result: ConfirmResult | null): void {
    if (entry.finished) return;
    entry.finished = true;
    this.outstandingCount--;
    this.timeline.delete(entry);
    if (entry.request?.mandatory) {
      const index = this.mandatoryInFlight.indexOf(entry);
      if (index >= 0) this.mandatoryInFlight.splice(index, 1);
    }
    entry.request = null;
    // Unwritten entries expire oldest first, so the finished ones in pending are at its head.
    for (let head = this.pending.peek(); head?.finished; head = this.pending.peek()) this.pending.shift();
    try {
      entry.callback(err, result, entry.returned !== null);
    } catch (thrown) {
      // Finishing runs inside amqplib's frame handling or a timer: what a caller's callback throws stops here.
      this.fault(toError(thrown));
    }
    if (this.outstandingCount === 0) this.wakeIdleWaiters();
  }

  // basic.return carries no delivery tag, so the returned message is matched to
  // the oldest unconfirmed mandatory one with the same exchange, key and body
  // (identical messages route identically, so which one of them it is does not matter).
  private onReturn(message: amqp.Message): void {
    const { exchange, routingKey, replyCode, replyText } = message.fields as amqp.Message['fields'] & {
      replyCode: number;
      replyText: string;
    };
    const entry = this.mandatoryInFlight.find((e) => {
      const request = e.request as PublishRequest;
      return (
        !e.returned &&
        request.exchange === exchange &&
        request.routingKey === routingKey &&
        request.content.equals(message.content)
      );
    });
    if (entry) entry.returned = { code: replyCode, text: replyText };
    else this.emit('warning', say('confirm-publisher.returned-settled', { code: replyCode, text: replyText }));
  }

  /** Opens a fresh channel for new messages; the Nacking one finishes its confirms, then closes. */
  private replaceAfterNack(nacking: amqp.Channel): void {
    const now = Date.now();
    if (
      this.keeper.channel !== nacking ||
      this.keeper.opening ||
      this.closing ||
      now - this.lastReplacedMs < REPLACE_AFTER_NACK_MS
    )
      return;
    this.lastReplacedMs = now;
    this.keeper.replace();
  }

  private async prepare(channel: amqp.Channel): Promise<void> {
    const declaration = this.declaration;
    if (!declaration || this.declareRefused) return;
    try {
      await declareQueue(channel, declaration);
    } catch (err) {
      // Publishing must not depend on a convenience: warn once, then go on without it.
      this.declareRefused = true;
      const error = this.connection.redact((err as Error).message);
      this.emit('warning', say('confirm-publisher.declare-failed', { queue: declaration.queue, error }));
      throw err;
    }
  }

  private onOpened(channel: amqp.Channel, previous: amqp.Channel | null): void {
    this.writable = true;
    this.channelOpenedAt = Date.now();
    if (previous) this.retire(previous);
    const guard = <A extends unknown[]>(fn: (...args: A) => void) => contained(() => this.fault, fn);
    channel.on(
      'drain',
      guard(() => {
        if (this.keeper.channel !== channel) return; // a replaced channel's buffer says nothing about the new one
        this.writable = true;
        this.flush();
      }),
    );
    channel.on(
      'return',
      guard((message: amqp.Message) => this.onReturn(message)),
    );
    channel.on(
      'close',
      guard(() => {
        this.unconfirmed.delete(channel);
        this.retiring.delete(channel);
      }),
    );
    this.emit('change');
    this.flush();
  }

  // A replaced channel's messages still get their confirms (their callbacks are
  // on it), so it closes only once none is owed; its close is no longer ours to handle.
  private retire(channel: amqp.Channel): void {
    if (this.unconfirmed.has(channel)) this.retiring.add(channel);
    else void channel.close().catch(() => undefined);
  }

  private onLost(loss: ChannelLoss): void {
    // Without confirms no publish ever reports success: a channel that lived
    // through the longest delay counts as a working one.
    if (!this.settings.confirm && loss.channel && Date.now() - this.channelOpenedAt >= REOPEN.maxDelayMs)
      this.keeper.working();
    if (loss.channel) this.mandatoryInFlight.length = 0;
    this.emit('change');
  }

  private armDeadline(at: number): void {
    this.deadlineTimer = setTimeout(
      contained(
        () => this.fault,
        () => this.expire(),
      ),
      Math.max(0, at - Date.now()),
    );
  }

  private expire(): void {
    this.deadlineTimer = null;
    const now = Date.now();
    for (const entry of this.timeline) {
      if (entry.deadline > now) {
        this.armDeadline(entry.deadline);
        return;
      }
      const seconds = this.settings.confirmTimeoutMs / 1000;
      const why = entry.written
        ? say('confirm-publisher.confirm-timeout', { seconds })
        : say('confirm-publisher.publish-timeout', {
            seconds,
            reason: this.problem ?? say('confirm-publisher.not-accepting'),
          });
      this.finish(entry, new PublishError('timeout', why), null); // leaves the timeline
    }
  }
}
