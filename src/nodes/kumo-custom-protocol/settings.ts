// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and each setting's rule
// (its default, its bounds): the runtime and the editor both read this file, so the form
// refuses exactly what a deploy would. The batch settings' rule is the core's (core/kumo/batching.ts).

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { positiveOf } from '../../common/setting-values';

export const TYPE = 'kumo-custom-protocol';

export interface CustomProtocolSettings {
  name: string;
  eventName: string;
  /** Seconds an attempt may take. */
  timeout: number | string;
  maxInFlight: number | string;
  /** Blank: the default. */
  maxQueued?: number | string;
  /** Blank: MAX_QUEUED_MB_DEFAULT. */
  maxQueuedMB?: number | string;
  /** Write each message to the journal when it is accepted, not only when it first fails. */
  spool?: boolean;
  /** KumoMTA's custom_lua batch settings, for messages whose queue config does not set them; blank: KumoMTA's defaults. */
  batchSize?: number | string;
  minBatchSize?: number | string;
  maxBatchLatency?: number | string;
  version?: number;
}

export const DEFAULTS = {
  name: '',
  eventName: 'make.amqp',
  timeout: 60,
  maxInFlight: 128,
  maxQueued: 10000,
  maxQueuedMB: '',
  spool: true,
  batchSize: '',
  minBatchSize: '',
  maxBatchLatency: '',
} as const;

/**
 * Version 1: since 0.1.0 the queue bounds, the spool (on unless turned off) and KumoMTA's
 * batch settings were added; missing, each is what the runtime took for a missing one.
 */
export const MIGRATIONS: readonly Migration[] = [
  fillMissing(1, { maxQueued: '', maxQueuedMB: '', spool: true, batchSize: '', minBatchSize: '', maxBatchLatency: '' }),
];
export const VERSION = currentVersion(MIGRATIONS);

/** The queue's size bound in MiB when the setting is blank. */
export const MAX_QUEUED_MB_DEFAULT = 256;

/** Seconds an attempt may take. */
export const timeoutOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.timeout, false);
/** Attempts at once. */
export const maxInFlightOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.maxInFlight, true);
/** Messages waiting for an attempt. */
export const maxQueuedOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.maxQueued, true);
/** MiB of messages waiting for an attempt. */
export const maxQueuedMBOf = (value: unknown): number | null => positiveOf(value, MAX_QUEUED_MB_DEFAULT, false);
