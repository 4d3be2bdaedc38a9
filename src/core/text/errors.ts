// Errors the core throws say what went wrong as a Message (a catalogue key and
// its parameters), so the glue can say it in Node-RED's language; `message` is
// the English. Errors a flow can branch on also carry a code: Node-RED copies an
// error's own `code` property into the Catch node's msg.error.code, so an HTTP
// flow can answer 400 for a body that can never be delivered and 503 for the
// pack's own trouble (which KumoMTA's log hook policy retries). Only BAD_INPUT is
// the message's fault.

import { type Message, type MessageParam, render } from './messages';

export const ERROR_CODES = {
  /** The message itself is wrong (queue name, payload, properties, routing key): sending it again will not help. */
  badInput: 'KUMO_BAD_INPUT',
  /** A limit was reached (max queued, max waiting): try again later. */
  overloaded: 'KUMO_OVERLOADED',
  /** The node is closing (redeploy, shutdown): try again later. */
  closing: 'KUMO_CLOSING',
  /** No custom protocol node is bound to the constructor (being redeployed, or missing). */
  notBound: 'KUMO_NOT_BOUND',
  /** The broker cannot take the message now: not connected, channel closed, connection lost, no confirm in time. */
  brokerUnavailable: 'KUMO_BROKER_UNAVAILABLE',
  /** The node's own settings are wrong: an operator must fix the flow. */
  notConfigured: 'KUMO_NOT_CONFIGURED',
  /** A delivery failed for good (a Bounce): told to Catch nodes when no log record output is wired. */
  bounced: 'KUMO_BOUNCED',
  /** A delivery was not delivered within max_age (an Expiration): likewise. */
  expired: 'KUMO_EXPIRED',
  /** Accepted, but the spool could not write it: delivered if Node-RED lives, lost if it crashes first. */
  notKept: 'KUMO_NOT_KEPT',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** An error of the core: its English `message`, and the key and parameters it was said with. */
export class CoreError extends Error {
  override name = 'CoreError';
  /** The catalogue key of what went wrong, e.g. 'queue-name.empty'. */
  readonly key: string;
  readonly params: Readonly<Record<string, MessageParam>>;

  constructor(said: Message) {
    super(render(said));
    this.key = said.key;
    this.params = said.params;
  }

  /** What went wrong, to say again in another language or inside another message. */
  get said(): Message {
    return { key: this.key, params: this.params };
  }
}

/** A core error with a code a flow can branch on. */
export class KumoError extends CoreError {
  override name = 'KumoError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, said: Message) {
    super(said);
    this.code = code;
  }
}

/** The error, with a code when it has none yet. */
export function withCode<E extends Error>(err: E, code: ErrorCode): E & { code: string } {
  const coded = err as E & { code?: unknown };
  if (typeof coded.code !== 'string' || !coded.code.startsWith('KUMO_')) {
    Object.defineProperty(coded, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  }
  return coded as E & { code: string };
}
