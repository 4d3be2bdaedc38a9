// The life of one AMQP channel on the broker node's shared connection, for the
// one user it serves (a publisher, a consumer): opened when the connection is
// up (a confirm channel or a plain one), set up by its user, reopened after the
// backoff when the broker closes or refuses it, opened again when a lost
// connection is back, and closed with a handshake a stalled socket cannot hold
// up. The user keeps what is its own: confirms and their bookkeeping, consume
// and ack handles.

import { type FaultSink, contained, toError } from '../base/contained';
import type * as amqp from 'amqplib';
import { Backoff, type BackoffSettings } from './backoff';
import { type BrokerConnection, closeHandshake } from './broker-connection';

/**
 * What a failure on a channel meant. 'connection': the connection went with it;
 * the keeper opens a channel again once the connection is back. 'channel': the
 * broker closed or refused this channel on a live connection (a 404, a 406);
 * the keeper opens another after the backoff.
 */
export type LossCause = 'connection' | 'channel';

export interface ChannelLoss {
  cause: LossCause;
  /** The channel that closed, or null when an open failed. */
  channel: amqp.Channel | null;
  /** Why, in the broker's words (redacted), when it said. */
  error: string | null;
}

export interface ChannelKeeperSettings {
  /** A confirm channel (publish takes a callback) or a plain one. */
  confirm: boolean;
  /** The wait before reopening a channel the broker closed or refused. */
  backoff: BackoffSettings;
}

export interface ChannelUser {
  /** Sets a fresh channel up before it is handed over (declares a queue, sets a prefetch); a throw fails the open. */
  prepare(channel: amqp.Channel): Promise<void>;
  /** `channel` is the current one now; `previous`, the one replace() took over from, is the user's to close. */
  opened(channel: amqp.Channel, previous: amqp.Channel | null): void;
  /** The current channel closed, or an open failed; what happens next depends on the cause (see LossCause). */
  lost(loss: ChannelLoss): void;
}

export class ChannelKeeper {
  private current: amqp.Channel | null = null;
  private openingNow = false;
  private stopped = false;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  /** The connection each channel was opened on, to tell a lost connection from a closed channel. */
  private readonly modelOf = new WeakMap<amqp.Channel, amqp.ChannelModel>();

  private readonly onConnected = () => {
    // A new connection: the channel failures of the last one say nothing about it.
    this.backoff.reset();
    this.open();
  };

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: ChannelKeeperSettings,
    private readonly user: ChannelUser,
    private readonly fault: () => FaultSink,
  ) {
    this.backoff = new Backoff(settings.backoff);
  }

  /** Registers with the connection (a user of it), and opens a channel whenever it is up. */
  start(): void {
    this.connection.on('connected', this.onConnected);
    this.connection.register(this);
    if (this.connection.channelModel) this.open();
  }

  /** The open channel, or null. */
  get channel(): amqp.Channel | null {
    return this.current;
  }

  /** An open (or a replace) is under way. */
  get opening(): boolean {
    return this.openingNow;
  }

  /** The broker's last words on a channel (redacted), until a channel opens again. */
  get error(): string | null {
    return this.lastError;
  }

  /** The channel works: the next failure waits the initial delay again. */
  working(): void {
    this.backoff.reset();
  }

  /** Opens a new channel although one is open, and hands it over (with the old one) once it is set up. */
  replace(): void {
    this.open(true);
  }

  /** Tells `then` whether a failure seen on `channel` (a confirm failed with "channel closed") was its connection's. */
  diagnose(channel: amqp.Channel | null, then: (cause: LossCause) => void): void {
    this.afterTurn(channel ? this.modelOf.get(channel) : undefined, then);
  }

  /** Opens no further channel; the current one stays open until close(). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connection.removeListener('connected', this.onConnected);
  }

  /** Closes the channel, waiting for the broker's CloseOk at most the handshake's limit, and lets go of the connection. */
  async close(): Promise<void> {
    this.stop();
    const channel = this.current;
    this.current = null;
    if (channel) await closeHandshake(channel.close());
    await this.connection.deregister(this);
  }

  /**
   * Calls `then` with the cause of a failure on a channel opened on `model`.
   * amqplib closes a lost connection's channels (failing their confirms with a
   * bare "channel closed") just before the connection emits 'close', in the same
   * turn: a microtask later the connection says which it was.
   */
  private afterTurn(model: amqp.ChannelModel | undefined, then: (cause: LossCause) => void): void {
    queueMicrotask(
      this.guard(() => {
        const gone = !this.connection.connected || (model !== undefined && model !== this.connection.channelModel);
        then(gone ? 'connection' : 'channel');
      }),
    );
  }

  private guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return contained(this.fault, fn);
  }

  private open(replace = false): void {
    const model = this.connection.channelModel;
    if (!model || (this.current && !replace) || this.openingNow || this.stopped) return;
    this.openingNow = true;
    let created: amqp.Channel | null = null;
    const creating = this.settings.confirm ? model.createConfirmChannel() : model.createChannel();
    creating
      .then(async (channel) => {
        created = channel;
        this.modelOf.set(channel, model);
        channel.on(
          'error',
          this.guard((err: Error) => {
            this.lastError = this.connection.redact(err.message);
          }),
        );
        channel.on(
          'close',
          this.guard(() => this.onClosed(channel)),
        );
        if (!this.stopped) await this.user.prepare(channel);
        return channel;
      })
      .then(
        this.guard((channel: amqp.Channel) => {
          this.openingNow = false;
          if (this.stopped) {
            void closeHandshake(channel.close());
            return;
          }
          const previous = this.current;
          this.current = channel;
          this.lastError = null;
          this.user.opened(channel, previous);
        }),
        this.guard((err: unknown) => {
          this.openingNow = false;
          // A setup that failed on our side (not the broker's refusal, which closes it) leaves the channel open.
          if (created) void closeHandshake(created.close());
          if (this.stopped) return;
          this.lastError = this.connection.redact(this.lastError ?? toError(err).message);
          this.afterTurn(model, (cause) => this.afterLoss(null, cause));
        }),
      );
  }

  private onClosed(channel: amqp.Channel): void {
    // A replaced channel is its user's now; only the current one is reopened.
    if (this.current !== channel) return;
    this.current = null;
    this.diagnose(channel, (cause) => this.afterLoss(channel, cause));
  }

  private afterLoss(channel: amqp.Channel | null, cause: LossCause): void {
    if (this.stopped || this.current) return;
    this.user.lost({ cause, channel, error: this.lastError });
    if (cause === 'channel') this.scheduleReopen();
    // The connection may already be back (its 'connected' came while an open was
    // under way on the old one): open on it now rather than wait for another.
    else this.open();
  }

  private scheduleReopen(): void {
    if (this.stopped || this.timer || this.openingNow) return;
    this.timer = setTimeout(
      this.guard(() => {
        this.timer = null;
        this.open();
      }),
      this.backoff.next(),
    );
  }
}
