// The consumer of a queue on the broker node's shared connection: a channel of
// its own with a prefetch window, re-consumed after every reconnect, with the
// deliveries the flow has not acknowledged kept in an AckChannel (see
// consumer-handles.ts). At least once in manual mode: a delivery is acked only
// when the flow says so; when the channel goes (redeploy, lost connection) the
// broker returns what was not acked to the queue, marked redelivered.

import { ContainedEmitter, contained, toError } from '../base/contained';
import type * as amqp from 'amqplib';
import { Backoff, type BackoffSettings } from './backoff';
import { type BrokerConnection, closeHandshake } from './broker-connection';
import { ChannelKeeper, type ChannelLoss } from './channel';
import type { AckMode, UnackedAction } from './consumer-ack';
import { AckChannel, type HeldDelivery } from './consumer-handles';
import { declareQueue, type QueueDeclaration } from './consumer-queue';
import type { MessageParam } from '../text/messages';

/**
 * - connecting: no channel yet, the connection is being made
 * - consuming: deliveries flow
 * - cancelled: the broker cancelled the consumer (its queue was deleted); polling until the queue is back
 * - waiting: the broker refused the channel's setup (e.g. 404 no such queue); trying again with backoff
 * - disconnected: the connection is down; the broker node reconnects
 * - closed: close() was called
 */
export type ConsumerState = 'connecting' | 'consuming' | 'cancelled' | 'waiting' | 'disconnected' | 'closed';

export interface ConsumerSettings {
  queue: string;
  /** Declared (with its exchange and binding) before each consume; null consumes the queue as it is. */
  declaration: QueueDeclaration | null;
  /** At most this many deliveries unacknowledged at once (basic.qos). */
  prefetch: number;
  ackMode: AckMode;
  /** Delay before a channel is opened again after the broker refused it, and between polls for a cancelled queue. */
  retry?: BackoffSettings;
  /**
   * How long a delivery may stay unacknowledged in the flow (manual mode) before the
   * consumer acknowledges it itself with `unackedAction`: a msg the flow dropped would
   * otherwise hold a prefetch slot until RabbitMQ's consumer_timeout closes the channel.
   * 0: no limit.
   */
  unackedTimeoutMs?: number;
  unackedAction?: UnackedAction;
}

export interface Delivery {
  message: amqp.Message;
  /** What amqp ack acknowledges it with; null in auto mode (acknowledged on receipt). */
  handle: string | null;
}

/** Without jitter: one consumer's channel, reopened on its own schedule, herds with nobody. */
const DEFAULT_RETRY: BackoffSettings = { initialDelayMs: 200, maxDelayMs: 5000 };

function isPreconditionFailed(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 406 || /PRECONDITION[-_]FAILED/.test(String((err as Error)?.message));
}

export declare interface Consumer {
  /** The state, the problem or the count of unacknowledged deliveries changed. */
  on(event: 'change', listener: () => void): this;
  /** Deliveries held longer than unackedTimeoutMs, now requeued or rejected as set. */
  on(event: 'unacked-expired', listener: (expired: HeldDelivery[], action: UnackedAction) => void): this;
  /** The queue exists with other arguments than the declaration's: it is consumed as it is, undeclared. */
  on(event: 'declare-refused', listener: (error: string) => void): this;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only types the events this class emits
export class Consumer extends ContainedEmitter {
  private stateValue: ConsumerState = 'connecting';
  private problemValue: MessageParam | null = null;
  private acks: AckChannel | null = null;
  private closing = false;
  private declareRefused = false;
  /** Polls for a cancelled consumer's queue. */
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly polls: Backoff;
  private unackedTimer: NodeJS.Timeout | null = null;
  private readonly keeper: ChannelKeeper;

  private readonly onStatus = () => {
    const status = this.connection.status;
    if (status.state === 'connected' || this.closing) return;
    this.setState(
      status.state === 'connecting' && !status.error ? 'connecting' : 'disconnected',
      status.error ?? this.problemValue,
    );
  };
  private readonly onAcknowledged = () => this.emit('change');

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: ConsumerSettings,
    private readonly deliver: (delivery: Delivery) => void,
  ) {
    super();
    const retry = settings.retry ?? DEFAULT_RETRY;
    this.polls = new Backoff(retry);
    this.keeper = new ChannelKeeper(
      connection,
      { confirm: false, backoff: retry },
      {
        prepare: (channel) => this.prepare(channel),
        opened: (channel) => this.onOpened(channel),
        lost: (loss) => this.onLost(loss),
      },
      () => this.fault,
    );
    connection.on('status', this.onStatus);
    this.keeper.start();
  }

  get state(): ConsumerState {
    return this.stateValue;
  }

  /** Why the consumer is not consuming (the broker's or the connection's words), or null. */
  get problem(): MessageParam | null {
    return this.problemValue;
  }

  /** Deliveries handed to the flow and not yet acknowledged (manual mode). */
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
    this.keeper.stop();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.unackedTimer) clearTimeout(this.unackedTimer);
    this.unackedTimer = null;
    this.connection.removeListener('status', this.onStatus);
    this.acks?.release();
    this.acks = null;
    this.setState('closed', null);
    await this.keeper.close();
  }

  private setState(state: ConsumerState, problem: MessageParam | null): void {
    if (this.stateValue === 'closed') return;
    if (state === this.stateValue && problem === this.problemValue) return;
    this.stateValue = state;
    this.problemValue = problem;
    this.emit('change');
  }

  private async prepare(channel: amqp.Channel): Promise<void> {
    const declaration = this.settings.declaration;
    if (declaration && !this.declareRefused) {
      try {
        await declareQueue(channel, declaration);
      } catch (err) {
        // The queue exists with other arguments: consume it as it is rather than not at all.
        if (isPreconditionFailed(err)) {
          this.declareRefused = true;
          this.emit('declare-refused', this.connection.redact(this.keeper.error ?? (err as Error).message));
        }
        throw err;
      }
    }
    // Per consumer (global = false): RabbitMQ 4 quorum queues do not support global QoS.
    await channel.prefetch(this.settings.prefetch, false);
  }

  private onOpened(channel: amqp.Channel): void {
    const acks = new AckChannel(channel, this.onAcknowledged);
    this.acks = acks;
    channel.on(
      'close',
      contained(
        () => this.fault,
        () => {
          acks.release();
          if (this.acks === acks) this.acks = null;
        },
      ),
    );
    this.consume(channel, acks).catch((err: unknown) => {
      // Refused by the broker (404 no such queue, 403), the channel is closed by now and the
      // keeper reopens it; refused before it was sent, the channel stays: the state says why.
      if (!this.closing && this.keeper.channel === channel)
        this.setState('waiting', this.connection.redact(toError(err).message));
    });
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
          if (this.closing || this.keeper.channel !== channel) return;
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
            if (manual) acks.acknowledge(message.fields.deliveryTag, 'requeue');
            throw err;
          }
          if (manual) this.emit('change');
        },
      ),
      { noAck: false },
    );
    if (this.keeper.channel !== channel) return;
    this.keeper.working();
    this.polls.reset();
    this.setState('consuming', null);
  }

  private onLost(loss: ChannelLoss): void {
    if (this.closing) return;
    // The unacknowledged count is now 0; for a lost connection, onStatus names the state.
    if (loss.cause === 'connection') this.emit('change');
    else this.setState('waiting', loss.error ? this.connection.redact(loss.error) : null);
  }

  /** The broker cancelled the consumer (its queue was deleted): wait for the queue, then consume again. */
  private onCancelled(channel: amqp.Channel): void {
    if (this.keeper.channel !== channel || this.closing) return;
    this.setState('cancelled', null);
    this.schedulePoll(channel);
  }

  // Polling uses a channel of its own: checkQueue of a missing queue closes the channel it is asked on,
  // and the consumer's channel still holds deliveries the flow may acknowledge.
  private pollQueue(channel: amqp.Channel): void {
    const model = this.connection.channelModel;
    if (this.keeper.channel !== channel || this.closing || !model) return;
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
      await closeHandshake(probe.close());
      return true;
    };
    check()
      .catch(() => false)
      .then(async (back) => {
        if (this.keeper.channel !== channel || this.closing) return;
        if (!back) {
          this.schedulePoll(channel);
          return;
        }
        await this.consume(channel, this.acks as AckChannel);
      })
      .catch(() => {
        // consume failed: the broker closes the channel and the keeper reopens it
      });
  }

  private schedulePoll(channel: amqp.Channel): void {
    if (this.closing || this.pollTimer) return;
    this.pollTimer = setTimeout(
      contained(
        () => this.fault,
        () => {
          this.pollTimer = null;
          this.pollQueue(channel);
        },
      ),
      this.polls.next(),
    );
  }
}
