// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and each setting's rule
// (its default, its bounds): the runtime and the editor both read this file, so the form
// refuses exactly what a deploy would.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { isBlank, oneOf } from '../../common/setting-values';
import { isNackedAs, isReturnedAs, type NackedAs, type ReturnedAs } from '../../core/publish/publish-outcome';

export const TYPE = 'amqp-publish';

export type RoutingKeyType = 'str' | 'msg' | 'env' | 'jsonata';
export const ROUTING_KEY_TYPES: readonly RoutingKeyType[] = ['str', 'msg', 'env', 'jsonata'];

/** 'json': an array is one JSON message; 'elements': each element its own message. */
export type ArrayPayload = 'json' | 'elements';

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
  /** An ArrayPayload; a flow file may hold anything. */
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

/** Where the routing key comes from; unset: the key itself. Null when the setting names no source. */
export const routingKeyTypeOf = (value: unknown): RoutingKeyType | null =>
  oneOf(value, ROUTING_KEY_TYPES, DEFAULTS.routingKeyType);

/** What a message the broker returned counts as; unset: transient. Null when the setting names none. */
export function returnedAsOf(value: unknown): ReturnedAs | null {
  if (!value) return DEFAULTS.returnedAs;
  return isReturnedAs(value) ? value : null;
}

/** What a Nack counts as; missing (a flow saved before the setting): KumoMTA's permanent 500. */
export function nackedAsOf(value: unknown): NackedAs | null {
  if (value === undefined) return DEFAULTS.nackedAs;
  return isNackedAs(value) ? value : null;
}

/** How an array payload is published; missing (a flow saved before the setting): one JSON message. */
export function arrayPayloadOf(value: unknown): ArrayPayload | null {
  if (value === undefined) return DEFAULTS.arrayPayload;
  return value === 'json' || value === 'elements' ? value : null;
}

/** A day: a confirm that has not come by then is not coming (and Node's timers fire at once past 2^31-1 ms). */
export const CONFIRM_TIMEOUT_MAX_S = 86400;

/** Seconds to wait for a confirm: a number above 0, at most CONFIRM_TIMEOUT_MAX_S; else what is wrong with it. */
export function confirmTimeoutOf(value: unknown): number | 'invalid' | 'too-long' {
  const n = isBlank(value) ? DEFAULTS.confirmTimeout : Number(value);
  if (!Number.isFinite(n) || n <= 0) return 'invalid';
  return n > CONFIRM_TIMEOUT_MAX_S ? 'too-long' : n;
}

/**
 * How many messages may wait for their confirm: its whole part, which must be 1 or more (0 would
 * refuse every message as overloaded); null when invalid.
 */
export function maxWaitingOf(value: unknown): number | null {
  const n = Math.floor(isBlank(value) ? DEFAULTS.maxWaiting : Number(value));
  return Number.isFinite(n) && n >= 1 ? n : null;
}
