// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and each setting's rule
// (its default, its bounds): the runtime and the editor both read this file, so the form
// refuses exactly what a deploy would.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { isBlank, oneOf } from '../../common/setting-values';
import { ACK_MODES, type AckMode, UNACKED_ACTIONS, type UnackedAction } from '../../core/amqp/consumer-ack';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../../core/amqp/consumer-message';

export const TYPE = 'amqp-consume';

export interface AmqpConsumeSettings {
  name: string;
  broker: string;
  queue: string;
  declare: boolean;
  durable: boolean;
  queueType: string;
  deadLetterExchange: string;
  deadLetterRoutingKey: string;
  messageTtl: string | number;
  queueArguments: string;
  exchange: string;
  exchangeType: string;
  routingKey: string;
  prefetch: string | number;
  /** 'manual' or 'auto' (core/amqp/consumer.ts AckMode). */
  ackMode: string;
  /** Seconds; blank: the default. */
  unackedTimeout?: string | number;
  /** 'requeue' or 'reject'. */
  unackedAction?: string;
  /** A PayloadFormat (core/amqp/consumer-message.ts). */
  output: string;
  version?: number;
}

export const DEFAULTS = {
  name: '',
  broker: '',
  queue: 'logging',
  declare: true,
  durable: true,
  queueType: 'classic',
  deadLetterExchange: '',
  deadLetterRoutingKey: '',
  messageTtl: '',
  queueArguments: '',
  exchange: '',
  exchangeType: '',
  routingKey: '',
  prefetch: 100,
  ackMode: 'manual',
  unackedTimeout: 300,
  unackedAction: 'requeue',
  output: 'auto',
} as const;

/** Version 1: *Held at most* came after the node's first release; missing, it was the default (300 s, requeue). */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, { unackedTimeout: '', unackedAction: 'requeue' })];
export const VERSION = currentVersion(MIGRATIONS);

/** basic.qos prefetch-count is an AMQP short (0 would mean no limit). */
export const PREFETCH_MAX = 65535;

/** How many deliveries may be unacknowledged at once: a whole number from 1 to PREFETCH_MAX; null when invalid. */
export function prefetchOf(value: unknown): number | null {
  const n = isBlank(value) ? DEFAULTS.prefetch : Number(value);
  return Number.isInteger(n) && n >= 1 && n <= PREFETCH_MAX ? n : null;
}

/** Seconds a delivery may stay unacknowledged in the flow, 0 for no limit; null when invalid. */
export function unackedTimeoutOf(value: unknown): number | null {
  const n = isBlank(value) ? DEFAULTS.unackedTimeout : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** The acknowledgement mode; unset: manual. Null when the setting names none. */
export const ackModeOf = (value: unknown): AckMode | null => oneOf(value, ACK_MODES, DEFAULTS.ackMode);

/** What is done with a delivery held past the limit; unset: requeue. Null when the setting names none. */
export const unackedActionOf = (value: unknown): UnackedAction | null =>
  oneOf(value, UNACKED_ACTIONS, DEFAULTS.unackedAction);

/** How a body becomes msg.payload; unset: by content type. Null when the setting names none. */
export const outputOf = (value: unknown): PayloadFormat | null => oneOf(value, PAYLOAD_FORMATS, DEFAULTS.output);
