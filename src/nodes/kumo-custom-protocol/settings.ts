// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

export const TYPE = 'kumo-custom-protocol';

export interface CustomProtocolSettings {
  name: string;
  eventName: string;
  /** Seconds an attempt may take. */
  timeout: number | string;
  maxInFlight: number | string;
  /** Blank: the default. */
  maxQueued?: number | string;
  /** Blank: the default. */
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
