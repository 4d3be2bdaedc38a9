// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

export const TYPE = 'amqp-publish';

export type RoutingKeyType = 'str' | 'msg' | 'env' | 'jsonata';

export interface AmqpPublishSettings {
  name: string;
  broker: string;
  exchange: string;
  routingKey: string;
  routingKeyType: RoutingKeyType;
  persistent: boolean;
  mandatory: boolean;
  /** 'transient' | 'permanent' | 'delivered' (core/publish/publish-outcome.ts ReturnedAs). */
  returnedAs: string;
  /** 'permanent' | 'transient' (NackedAs). */
  nackedAs?: string;
  waitForConfirm: boolean;
  confirmTimeout: number | string;
  maxWaiting: number | string;
  declareQueue: string;
  /** JSON of the declared queue's x-arguments, as amqp consume declares them. */
  declareArguments?: string;
  /** 'json': an array is one JSON message; 'elements': each element its own message. */
  arrayPayload?: string;
  version?: number;
}

export const DEFAULTS = {
  name: '',
  broker: '',
  exchange: '',
  routingKey: 'logging',
  routingKeyType: 'str',
  persistent: true,
  mandatory: false,
  returnedAs: 'transient',
  arrayPayload: 'json',
  nackedAs: 'permanent',
  waitForConfirm: true,
  confirmTimeout: 30,
  maxWaiting: 10000,
  declareArguments: '',
  declareQueue: '',
} as const;

/**
 * Version 1: since 0.1.0 a Nack's outcome, the declared queue's arguments and the array
 * payload choice were added; missing, each behaves as 0.1.0 did.
 */
export const MIGRATIONS: readonly Migration[] = [
  fillMissing(1, { nackedAs: 'permanent', declareArguments: '', arrayPayload: 'json' }),
];
export const VERSION = currentVersion(MIGRATIONS);
