// KumoMTA's batched delivery (custom_lua `batch_size`, `min_batch_size`,
// `max_batch_latency`, crates/kumod/src/lua_deliver.rs): with a batch size
// above 1 the ready queue hands the connection up to batch_size messages at once
// (its send_batch), waiting up to max_batch_latency for at least min_batch_size.
// KumoMTA's defaults are 1, 1 and 0 s: one message at a time, sent at once.
// KumoMTA itself does not check the values; here a batch size of 0, or a minimum
// above the batch size, is refused where it is set rather than stalling a queue.

import { CoreError } from '../text/errors';
import { formatDuration, parseDuration } from './duration';
import { say } from '../text/messages';

export interface BatchSettings {
  batchSize: number;
  minBatchSize: number;
  maxBatchLatencySec: number;
}

export const BATCH_DEFAULTS: Readonly<BatchSettings> = Object.freeze({
  batchSize: 1,
  minBatchSize: 1,
  maxBatchLatencySec: 0,
});

/** The batch fields of a KumoMTA-shaped custom_lua table, as given (absent when not set). */
export interface CustomLuaBatch {
  batch_size?: number;
  min_batch_size?: number;
  max_batch_latency?: string;
}

export class BatchSettingError extends CoreError {
  override name = 'BatchSettingError';
}

const blank = (v: unknown): boolean => v === undefined || v === null || v === '';

function count(value: unknown, field: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new BatchSettingError(say('batching.not-a-count', { field, value: String(JSON.stringify(value)) }));
  }
  return n;
}

/** Checks one batch field on its own (blank = not set); customLuaBatch also checks them together. */
export function checkBatchField(field: keyof CustomLuaBatch, value: unknown): void {
  if (blank(value)) return;
  if (field === 'max_batch_latency') parseDuration(value, 'max_batch_latency');
  else count(value, field);
}

/**
 * Validates the batch fields of a custom_lua table (a queue config rule, or
 * msg.queueConfig) and returns them KumoMTA-shaped: counts as numbers, the
 * latency as a duration string; fields left out stay out.
 */
export function customLuaBatch(fields: Record<string, unknown>): CustomLuaBatch {
  const batch: CustomLuaBatch = {};
  if (!blank(fields.batch_size)) batch.batch_size = count(fields.batch_size, 'batch_size');
  if (!blank(fields.min_batch_size)) batch.min_batch_size = count(fields.min_batch_size, 'min_batch_size');
  if (!blank(fields.max_batch_latency)) {
    const latency = fields.max_batch_latency;
    const seconds = parseDuration(latency, 'max_batch_latency');
    batch.max_batch_latency = typeof latency === 'number' ? formatDuration(seconds) : String(latency).trim();
  }
  const size = batch.batch_size ?? BATCH_DEFAULTS.batchSize;
  if (batch.min_batch_size !== undefined && batch.min_batch_size > size) {
    throw new BatchSettingError(
      say('batching.min-above-size', { min: batch.min_batch_size, size: String(batch.batch_size ?? size) }),
    );
  }
  return batch;
}

/** The settings a delivery is batched with: its config's custom_lua fields, else the node's own. */
export function batchSettings(fields: CustomLuaBatch | undefined, fallback: BatchSettings): BatchSettings {
  if (
    !fields ||
    (fields.batch_size === undefined && fields.min_batch_size === undefined && fields.max_batch_latency === undefined)
  ) {
    return fallback;
  }
  const batchSize = fields.batch_size ?? fallback.batchSize;
  return {
    batchSize,
    minBatchSize: Math.min(fields.min_batch_size ?? fallback.minBatchSize, batchSize),
    maxBatchLatencySec:
      fields.max_batch_latency === undefined
        ? fallback.maxBatchLatencySec
        : parseDuration(fields.max_batch_latency, 'max_batch_latency'),
  };
}

/** The node's own settings (strings from the editor), validated the same way. */
export function nodeBatchSettings(fields: Record<string, unknown>): BatchSettings {
  return batchSettings(customLuaBatch(fields), BATCH_DEFAULTS);
}
