// One AMQP connection per broker node, shared by every node that uses it
// (Node-RED's MQTT broker node is the model: users register, the first one
// connects, the last one out disconnects).
//
// Reconnection is ours rather than amqplib's `recovery` option because that
// option re-dials a single URL, while a cluster URL list must be tried in turn.
// The delay between rounds is backoff.ts's, with the connection's own numbers.

import { ContainedEmitter, contained } from '../base/contained';
import * as amqp from 'amqplib';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { type BrokerEndpoint, type BrokerCredentials, redact } from './broker-url';
import { type MessageParam, say } from '../text/messages';
import { Backoff, type BackoffSettings } from './backoff';
import { batchSocketWrites } from './socket-writes';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface BrokerSettings {
  endpoints: BrokerEndpoint[];
  credentials: BrokerCredentials;
  /** Strings that must never appear in a message (see broker-url secretsOf). */
  secrets: string[];
  connectionName?: string;
  tls?: TlsOptions;
  connectTimeoutMs?: number;
  backoff?: BackoffSettings;
}

/** Jittered: the Node-REDs of a broker that restarts must not all redial at once. */
export const DEFAULT_BACKOFF: BackoffSettings = { initialDelayMs: 200, maxDelayMs: 15000, jitter: 0.2 };

/** Failures that another attempt will not mend until someone changes a setting. */
export function isConfigurationFailure(err: Error): boolean {
  // 403 and 530 only as AMQP reply codes ("403 (ACCESS-REFUSED)"), not digits of an address or port.
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|\b(?:403|530) \(|Expected amqp: or amqps:|certificate|self[- ]signed|CERT_|ERR_TLS|wrong version number/i.test(
    err.message,
  );
}

// Node's codes for a server certificate it could not verify against the CA it was given.
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/**
 * What a failed dial means, in words a user can act on. Some failures arrive
 * with little text: amqplib reports the broker refusing connection.open (the
 * vhost does not exist, or the user may not use it) only as "Expected
 * ConnectionOpenOk; got <ConnectionClose channel:0>", and TLS failures as
 * OpenSSL's own wording.
 */
export function describeFailure(err: Error & { code?: unknown }, endpoint: BrokerEndpoint): MessageParam {
  const code = typeof err.code === 'string' ? err.code : '';
  const error = err.message || err.name;
  // amqplib's wording: matched, never shown.
  if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(error)) {
    let vhost = '/';
    try {
      vhost = decodeURIComponent(new URL(endpoint.url).pathname.slice(1)) || '/';
    } catch {
      // the URL was parsed before; keep the default vhost
    }
    return say('broker-connection.vhost-refused', { vhost });
  }
  if (TLS_VERIFY_CODES.has(code)) {
    return say('broker-connection.tls-untrusted', { error, code });
  }
  if (/ALERT_CERTIFICATE_REQUIRED/.test(code) || /alert certificate required/i.test(error)) {
    return say('broker-connection.tls-certificate-required');
  }
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/.test(code)) {
    return say('broker-connection.tls-certificate-refused', { code });
  }
  return error;
}

// Closing a connection or a channel waits for the broker's CloseOk, which a
// stalled socket never sends; a redeploy must not wait for it.
const CLOSE_HANDSHAKE_MS = 1000;

/**
 * Waits for a connection's or a channel's close, at most CLOSE_HANDSHAKE_MS;
 * true when it ended in time. How it ended is not ours to report: we are letting go.
 */
export function closeHandshake(closing: Promise<unknown>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CLOSE_HANDSHAKE_MS);
    const ended = () => {
      clearTimeout(timer);
      resolve(true);
    };
    closing.then(ended, ended);
  });
}

/** Closes a connection we are letting go of: its late events are not news, and a stalled socket is destroyed. */
async function shutdown(model: amqp.ChannelModel): Promise<void> {
  model.removeAllListeners('close');
  model.on('error', () => undefined);
  const closed = await closeHandshake(model.close());
  // amqplib has no way to abandon a close handshake; its socket is the one thing left to end.
  if (!closed)
    (model as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
}

export interface ConnectionStatus {
  state: ConnectionState;
  /** Why the broker holds our publishes (its memory or disk alarm), or null. */
  blocked: MessageParam | null;
  /** The last failure (redacted), for status and errors. */
  error: MessageParam | null;
  /** True when the last failure was a setting (credentials, vhost, TLS) rather than the network. */
  misconfigured: boolean;
  endpoint: string | null;
  /** When the next dial starts (ms since the epoch) while waiting to reconnect, else null. */
  retryAt: number | null;
}

/** Whole seconds until the next dial, or null when none is waiting (dialling now, connected, closed). */
export function retryInSeconds(status: ConnectionStatus, now: number = Date.now()): number | null {
  if (status.retryAt === null) return null;
  const seconds = Math.ceil((status.retryAt - now) / 1000);
  return seconds > 0 ? seconds : null;
}

export declare interface BrokerConnection {
  on(event: 'status', listener: (status: ConnectionStatus) => void): this;
  on(event: 'connected', listener: (model: amqp.ChannelModel) => void): this;
  on(event: 'disconnected', listener: (reason: MessageParam) => void): this;
  /** The last user deregistered. */
  on(event: 'idle', listener: () => void): this;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only types the events this class emits
export class BrokerConnection extends ContainedEmitter {
  private model: amqp.ChannelModel | null = null;
  private users = new Set<object>();
  private state: ConnectionState = 'idle';
  private blocked: MessageParam | null = null;
  private lastError: MessageParam | null = null;
  private misconfigured = false;
  private endpointIndex = 0;
  private timer: NodeJS.Timeout | null = null;
  private retryAt: number | null = null;
  /**
   * Bumped by every close. A dial belongs to the generation that started it:
   * one that finishes after a close discards its connection, so a closed
   * connection never serves a user who registered after the close.
   */
  private generation = 0;
  private connecting: { generation: number; dial: Promise<void> } | null = null;
  private readonly backoff: Backoff;

  constructor(private readonly settings: BrokerSettings) {
    super();
    this.setMaxListeners(0); // one listener per user node
    this.backoff = new Backoff(settings.backoff ?? DEFAULT_BACKOFF);
  }

  get status(): ConnectionStatus {
    return {
      state: this.state,
      blocked: this.blocked,
      error: this.lastError,
      misconfigured: this.misconfigured,
      endpoint: this.model ? this.settings.endpoints[this.endpointIndex].display : null,
      retryAt: this.retryAt,
    };
  }

  // Cheap reads for the per-message path (status builds an object).
  get connected(): boolean {
    return this.state === 'connected';
  }

  get blockedReason(): MessageParam | null {
    return this.blocked;
  }

  /** Not connected because the broker refused our settings: waiting will not help. */
  get refusedSettings(): boolean {
    return this.state !== 'connected' && this.misconfigured;
  }

  get channelModel(): amqp.ChannelModel | null {
    return this.model;
  }

  redact(message: string): string {
    return redact(message, this.settings.secrets);
  }

  register(user: object): void {
    this.users.add(user);
    if (this.state === 'idle' || this.state === 'closed') {
      // A new generation's dial: not one a close is letting go of.
      this.state = 'connecting';
      this.emitStatus();
      this.connect();
    }
  }

  async deregister(user: object): Promise<void> {
    this.users.delete(user);
    if (this.users.size === 0) {
      this.emit('idle');
      await this.close();
    }
  }

  /**
   * On redeploy the broker node closes too: give its users up to maxWaitMs to
   * finish their confirms first. Confirms come only over a live connection,
   * so without one there is nothing to wait for.
   */
  async closeWhenIdle(maxWaitMs: number): Promise<void> {
    if (this.users.size > 0 && this.state === 'connected') {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.removeListener('idle', done);
          this.removeListener('status', onStatus);
          resolve();
        };
        const onStatus = (status: ConnectionStatus) => {
          if (status.state !== 'connected') done();
        };
        const timer = setTimeout(done, maxWaitMs);
        this.on('idle', done);
        this.on('status', onStatus);
      });
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.generation++;
    this.retryAt = null;
    this.setState('closed');
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A dial in progress is not waited for: it belongs to the old generation and
    // closes what it opens (a dial to a host that does not answer takes the connect timeout).
    this.connecting = null;
    const model = this.model;
    this.model = null;
    this.blocked = null;
    if (model) await shutdown(model);
  }

  private connect(): void {
    this.retryAt = null;
    if (this.connecting && this.connecting.generation === this.generation) return;
    const generation = this.generation;
    const dial = this.dial(generation).finally(() => {
      if (this.connecting?.dial === dial) this.connecting = null;
    });
    this.connecting = { generation, dial };
  }

  private async dial(generation: number): Promise<void> {
    const endpoint = this.settings.endpoints[this.endpointIndex];
    this.setState('connecting');
    let model: amqp.ChannelModel;
    try {
      const { username, password } = this.settings.credentials;
      const socketOptions: amqp.Options.Connect & Record<string, unknown> = {
        timeout: this.settings.connectTimeoutMs ?? 10000,
        clientProperties: { connection_name: this.settings.connectionName || 'node-red-kumo-amqp' },
        ...(this.settings.tls ?? {}),
      };
      if (username || password) socketOptions.credentials = amqp.credentials.plain(username ?? '', password ?? '');
      model = await amqp.connect(endpoint.url, socketOptions);
    } catch (err) {
      if (generation === this.generation) this.onFailure(err, endpoint);
      return;
    }
    if (generation !== this.generation) {
      await shutdown(model);
      return;
    }
    this.model = model;
    batchSocketWrites(model);
    this.backoff.reset();
    this.lastError = null;
    this.misconfigured = false;
    this.blocked = null;
    // amqplib calls these from its frame handling: what they throw must stay here.
    const guard = <A extends unknown[]>(fn: (...args: A) => void) => contained(() => this.fault, fn);
    model.on(
      'error',
      guard((err: Error) => {
        if (this.model === model) this.lastError = this.redact(err.message);
      }),
    );
    model.on(
      'blocked',
      guard((reason: string) => {
        if (this.model !== model) return;
        this.blocked = reason || say('broker-connection.blocked');
        this.emitStatus();
      }),
    );
    model.on(
      'unblocked',
      guard(() => {
        if (this.model !== model) return;
        this.blocked = null;
        this.emitStatus();
      }),
    );
    model.on(
      'close',
      guard((err?: Error) => {
        if (this.model !== model) return;
        this.model = null;
        this.blocked = null;
        this.lastError = err?.message ? this.redact(err.message) : say('broker-connection.closed-by-broker');
        this.emit('disconnected', this.lastError);
        this.scheduleReconnect();
      }),
    );
    this.setState('connected');
    this.emit('connected', model);
  }

  private onFailure(err: unknown, endpoint: BrokerEndpoint): void {
    const error = err instanceof Error ? err : new Error(String(err));
    const described = describeFailure(error, endpoint);
    this.misconfigured = isConfigurationFailure(error) || described !== (error.message || error.name);
    const reason = typeof described === 'string' ? this.redact(described) : described;
    this.lastError = say('broker-connection.failed', { endpoint: endpoint.display, reason });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed') return;
    // Try the next cluster member at once; back off after a whole round failed.
    this.endpointIndex = (this.endpointIndex + 1) % this.settings.endpoints.length;
    const roundDone = this.endpointIndex === 0;
    const delay = roundDone || this.settings.endpoints.length === 1 ? this.backoff.next() : 0;
    // Known before the status goes out, so the status says when the next dial comes.
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(
      contained(
        () => this.fault,
        () => {
          this.timer = null;
          this.connect();
        },
      ),
      delay,
    );
    this.setState('disconnected');
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    if (this.state === 'closed' && state !== 'closed') return;
    this.state = state;
    this.emitStatus();
  }

  private emitStatus(): void {
    this.emit('status', this.status);
  }
}
