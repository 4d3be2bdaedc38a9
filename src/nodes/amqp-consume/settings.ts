// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

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
