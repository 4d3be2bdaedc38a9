// The consumer of a queue on the broker node's shared connection: a channel of
// its own with a prefetch window, re-consumed after every reconnect, with the
// deliveries the flow has not settled kept in an AckChannel (see
// consumer-handles.ts). At least once in manual mode: a delivery is acked only
// when the flow says so; when the channel goes (redeploy, lost connection) the
// broker returns what was not acked to the queue, marked redelivered.

import { ContainedEmitter, contained } from '../base/contained';
import type * as amqp from 'amqplib';
import type { BrokerConnection } from './broker-connection';
import { settleWithin } from './confirm-publisher';
import { AckChannel, type HeldDelivery } from './consumer-handles';
import { declareQueue, type QueueDeclaration } from './consumer-queue';
import type { MessageParam } from '../text/messages';

export type AckMode = 'manual' | 'auto';
export const ACK_MODES: readonly AckMode[] = ['manual', 'auto'];

/**
 * - connecting: no channel yet, the connection is being made
 * - consuming: deliveries flow
 * - cancelled: the broker cancelled the consumer (its queue was deleted); polling until the queue is back
 * - waiting: the broker refused the channel's setup (e.g. 404 no such queue); trying again with backoff
 * - disconnected: the connection is down; the broker node reconnects
 * - closed: close() was called
 */
export type ConsumerState = 'connecting' | 'consuming' | 'cancelled' | 'waiting' | 'disconnected' | 'closed';

export interface RetryBackoff {
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface ConsumerSettings {
  queue: string;
  /** Declared (with its exchange and binding) before each consume; null consumes the queue as it is. */
  declaration: QueueDeclaration | null;
  /** At most this many deliveries unacknowledged at once (basic.qos). */
  prefetch: number;
  ackMode: AckMode;
  /** Delay before a channel is opened again after the broker refused it, and between polls for a cancelled queue. */
  retry?: RetryBackoff;
  /**
   * How long a delivery may stay unacknowledged in the flow (manual mode) before the
   * consumer settles it itself with `unackedAction`: a msg the flow dropped would
   * otherwise hold a prefetch slot until RabbitMQ's consumer_timeout closes the channel.
   * 0: no limit.
   */
  unackedTimeoutMs?: number;
  unackedAction?: 'requeue' | 'reject';
}

export interface Delivery {
  message: amqp.Message;
  /** What amqp ack settles it with; null in auto mode (acknowledged on receipt). */
  handle: string | null;
}

export const DEFAULT_RETRY: RetryBackoff = { initialDelayMs: 200, maxDelayMs: 5000 };

// Closing a channel waits for the broker's CloseOk, which a stalled socket never sends.
const CLOSE_HANDSHAKE_MS = 1000;

function isPreconditionFailed(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 406 || /PRECONDITION[-_]FAILED/.test(String((err as Error)?.message));
}

export declare interface Consumer {
  /** The state, the problem or the count of unacknowledged deliveries changed. */
  on(event: 'change', listener: () => void): this;
  /** Deliveries held longer than unackedTimeoutMs, now requeued or rejected as set. */
  on(event: 'unacked-expired', listener: (expired: HeldDelivery[], action: 'requeue' | 'reject') => void): this;
  /** The queue exists with other arguments than the declaration's: it is consumed as it is, undeclared. */
  on(event: 'declare-refused', listener: (error: string) => void): this;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only types the events this class emits
export class Consumer extends ContainedEmitter {
  private stateValue: ConsumerState = 'connecting';
  private problemValue: MessageParam | null = null;
  private channel: amqp.Channel | null = null;
  private acks: AckChannel | null = null;
  private opening = false;
  private closing = false;
  private declareRefused = false;
  private channelError: string | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private unackedTimer: NodeJS.Timeout | null = null;
  private readonly retry: RetryBackoff;

  private readonly onConnected = () => {
    this.failures = 0;
    this.open();
  };
  private readonly onStatus = () => {
    const status = this.connection.status;
    if (status.state === 'connected' || this.closing) return;
    this.setState(
      status.state === 'connecting' && !status.error ? 'connecting' : 'disconnected',
      status.error ?? this.problemValue,
    );
  };
  private readonly onSettled = () => this.emit('change');

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: ConsumerSettings,
    private readonly deliver: (delivery: Delivery) => void,
  ) {
    super();
    this.retry = settings.retry ?? DEFAULT_RETRY;
    connection.on('connected', this.onConnected);
    connection.on('status', this.onStatus);
    connection.register(this);
    if (connection.channelModel) this.open();
  }

  get state(): ConsumerState {
    return this.stateValue;
  }

  /** Why the consumer is not consuming (the broker's or the connection's words), or null. */
  get problem(): MessageParam | null {
    return this.problemValue;
  }

  /** Deliveries handed to the flow and not yet settled (manual mode). */
  get unacknowledged(): number {
    return this.acks ? this.acks.unacknowledged : 0;
  }

  /** How long the oldest unacknowledged delivery has been in the flow (ms), or 0. */
  get oldestUnackedMs(): number {
    const oldest = this.acks?.oldest;
    return oldest ? Math.max(0, Date.now() - oldest.sinceMs) : 0;
  }

  /** Arms the timer for the oldest held delivery's deadline, if there is a limit and none is armed. */
  private watchUnacked(): void {
    const limit = this.settings.unackedTimeoutMs ?? 0;
    const oldest = this.acks?.oldest;
    if (limit <= 0 || !oldest || this.unackedTimer || this.closing) return;
    const delay = Math.max(0, oldest.sinceMs + limit - Date.now());
    this.unackedTimer = setTimeout(
      contained(
        () => this.fault,
        () => {
          this.unackedTimer = null;
          const acks = this.acks;
          if (!acks || this.closing) return;
          const action = this.settings.unackedAction ?? 'requeue';
          const expired = acks.expire(Date.now() - limit, action);
          if (expired.length > 0) this.emit('unacked-expired', expired, action);
          this.watchUnacked();
        },
      ),
      delay,
    );
  }

  /**
   * Stops consuming and closes the channel: the broker returns every delivery
   * not yet acknowledged to the queue. Handles of this channel fail from now on.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.unackedTimer) clearTimeout(this.unackedTimer);
    this.unackedTimer = null;
    this.connection.removeListener('connected', this.onConnected);
    this.connection.removeListener('status', this.onStatus);
    this.acks?.release();
    this.acks = null;
    const channel = this.channel;
    this.channel = null;
    this.setState('closed', null);
    if (channel) await settleWithin(channel.close(), CLOSE_HANDSHAKE_MS);
    await this.connection.deregister(this);
  }

  private setState(state: ConsumerState, problem: MessageParam | null): void {
    if (this.stateValue === 'closed') return;
    if (state === this.stateValue && problem === this.problemValue) return;
    this.stateValue = state;
    this.problemValue = problem;
    this.emit('change');
  }

  private open(): void {
    const model = this.connection.channelModel;
    if (!model || this.channel || this.opening || this.closing) return;
    this.opening = true;
    this.channelError = null;
    this.setup(model).then(
      () => {
        this.opening = false;
      },
      (err: unknown) => {
        this.opening = false;
        if (this.closing) return;
        const reason = this.connection.redact(this.channelError ?? (err instanceof Error ? err.message : String(err)));
        if (!this.connection.connected) return; // onStatus says why
        this.setState('waiting', reason);
        this.schedule(() => this.open());
      },
    );
  }

  private async setup(model: amqp.ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on(
      'error',
      contained(
        () => this.fault,
        (err: Error) => {
          this.channelError = err.message;
        },
      ),
    );
    if (this.closing) {
      await settleWithin(channel.close(), CLOSE_HANDSHAKE_MS);
      return;
    }
    const declaration = this.settings.declaration;
    if (declaration && !this.declareRefused) {
      try {
        await declareQueue(channel, declaration);
      } catch (err) {
        // The queue exists with other arguments: consume it as it is rather than not at all.
        if (isPreconditionFailed(err)) {
          this.declareRefused = true;
          this.emit('declare-refused', this.connection.redact(this.channelError ?? (err as Error).message));
        }
        throw err;
      }
    }
    // Per consumer (global = false): RabbitMQ 4 quorum queues do not support global QoS.
    await channel.prefetch(this.settings.prefetch, false);
    if (this.closing) {
      await settleWithin(channel.close(), CLOSE_HANDSHAKE_MS);
      return;
    }
    const acks = new AckChannel(channel, this.onSettled);
    this.channel = channel;
    this.acks = acks;
    channel.on(
      'close',
      contained(
        () => this.fault,
        () => this.onChannelClosed(channel, acks),
      ),
    );
    try {
      await this.consume(channel, acks);
    } catch (err) {
      // The channel is closing (404 no such queue, 403): its close handler takes over.
      this.onChannelClosed(channel, acks);
      throw err;
    }
  }

  private async consume(channel: amqp.Channel, acks: AckChannel): Promise<void> {
    const manual = this.settings.ackMode === 'manual';
    const queue = this.settings.queue;
    await channel.consume(
      queue,
      contained(
        () => this.fault,
        (message: amqp.ConsumeMessage | null) => {
          if (message === null) {
            this.onCancelled(channel);
            return;
          }
          // A delivery that arrives while closing is not handed out: the close returns it to the queue.
          if (this.channel !== channel) return;
          let handle: string | null = null;
          if (manual) {
            const messageId = message.properties.messageId;
            handle = acks.track(message.fields.deliveryTag, {
              sinceMs: Date.now(),
              routingKey: message.fields.routingKey,
              messageId: typeof messageId === 'string' ? messageId : null,
            });
            this.watchUnacked();
          } else channel.ack(message);
          try {
            this.deliver({ message, handle });
          } catch (err) {
            // Not handed to the flow: back to the queue for another try, and the fault is reported.
            if (manual) acks.settle(message.fields.deliveryTag, 'requeue');
            throw err;
          }
          if (manual) this.emit('change');
        },
      ),
      { noAck: false },
    );
    if (this.channel !== channel) return;
    this.failures = 0;
    this.setState('consuming', null);
  }

  private onChannelClosed(channel: amqp.Channel, acks: AckChannel): void {
    acks.release();
    if (this.channel !== channel) return;
    this.channel = null;
    this.acks = null;
    if (this.closing) return;
    // amqplib closes a lost connection's channels just before the connection emits
    // 'close', in the same turn: a microtask later the connection says which it was.
    queueMicrotask(
      contained(
        () => this.fault,
        () => this.afterChannelClosed(),
      ),
    );
  }

  private afterChannelClosed(): void {
    if (this.closing || this.channel) return;
    if (!this.connection.connected) {
      this.emit('change'); // the unacknowledged count is now 0; onStatus names the state
      return;
    }
    const reason = this.connection.redact(this.channelError ?? '');
    this.setState('waiting', reason || null);
    if (!this.opening) this.schedule(() => this.open());
  }

  /** The broker cancelled the consumer (its queue was deleted): wait for the queue, then consume again. */
  private onCancelled(channel: amqp.Channel): void {
    if (this.channel !== channel || this.closing) return;
    this.setState('cancelled', null);
    this.schedule(() => this.pollQueue(channel));
  }

  // Polling uses a channel of its own: checkQueue of a missing queue closes the channel it is asked on,
  // and the consumer's channel still holds deliveries the flow may settle.
  private pollQueue(channel: amqp.Channel): void {
    const model = this.connection.channelModel;
    if (this.channel !== channel || this.closing || !model) return;
    const check = async (): Promise<boolean> => {
      const probe = await model.createChannel();
      probe.on('error', () => undefined); // a 404 is the answer, not a failure
      try {
        await probe.checkQueue(this.settings.queue);
      } catch {
        return false;
      }
      // Its bindings went with the queue: declare them again (a 406 means it came back with other arguments).
      const declaration = this.settings.declaration;
      if (declaration && !this.declareRefused) {
        try {
          await declareQueue(probe, declaration);
        } catch (err) {
          if (!isPreconditionFailed(err)) return false;
          this.declareRefused = true;
          this.emit('declare-refused', this.connection.redact((err as Error).message));
          return true;
        }
      }
      await settleWithin(probe.close(), CLOSE_HANDSHAKE_MS);
      return true;
    };
    check()
      .catch(() => false)
      .then(async (back) => {
        if (this.channel !== channel || this.closing) return;
        if (!back) {
          this.schedule(() => this.pollQueue(channel));
          return;
        }
        await this.consume(channel, this.acks as AckChannel);
      })
      .catch(() => {
        // consume failed: the channel closes and its handler reopens it
      });
  }

  private schedule(action: () => void): void {
    if (this.closing || this.timer) return;
    const delay = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** Math.min(this.failures++, 16));
    this.timer = setTimeout(
      contained(
        () => this.fault,
        () => {
          this.timer = null;
          action();
        },
      ),
      delay,
    );
  }
}
