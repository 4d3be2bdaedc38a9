// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and each setting's rule
// (its default, its bounds): the runtime and the editor both read this file, so the form
// refuses exactly what a deploy would. The path's rule is the core's (core/kumo/log-hook.ts).

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { positiveOf } from '../../common/setting-values';

export const TYPE = 'kumo-log-hook';

export type QueueSource = 'str' | 'env' | 'msg' | 'jsonata';

/**
 * What output 1 carries: each record as its own msg, or one msg per request whose
 * msg.messages holds each record's msg (queue config routes each as its own message),
 * which spares every record but one Node-RED's hop to the next node.
 */
export type RecordsOutput = 'each' | 'request';
export const RECORDS_OUTPUTS: readonly RecordsOutput[] = ['each', 'request'];

export interface LogHookSettings {
  name: string;
  path: string;
  queue?: string;
  queueType?: QueueSource;
  /** MiB. */
  maxBody?: number | string;
  maxRecords?: number | string;
  /** Seconds to an answer. */
  deadline?: number | string;
  /** Seconds to receive the body. */
  bodyTimeout?: number | string;
  secretHeader?: string;
  output?: RecordsOutput;
  version?: number;
}

export const DEFAULT_QUEUE = 'webhook';

export const DEFAULTS = {
  name: '',
  path: '/kumomta/log',
  queue: DEFAULT_QUEUE,
  queueType: 'str',
  maxBody: 5,
  maxRecords: 10000,
  deadline: 50,
  bodyTimeout: 10,
  secretHeader: 'X-Kumo-Secret',
  output: 'each',
} as const;

/**
 * Version 1: the first versioned definition; nothing was added since the node's first release.
 * Version 2: output (a node saved before it sends each record as its own msg, as it did).
 */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, {}), fillMissing(2, { output: 'each' })];
export const VERSION = currentVersion(MIGRATIONS);

/** MiB a request's body may have. */
export const maxBodyOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.maxBody, false);
/** Records a request may hold. */
export const maxRecordsOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.maxRecords, true);
/** Seconds to receive a request's body. */
export const bodyTimeoutOf = (value: unknown): number | null => positiveOf(value, DEFAULTS.bodyTimeout, false);

/** The bounds of *Answer within*, in seconds. */
export const DEADLINE_MIN_S = 1;
export const DEADLINE_MAX_S = 3600;

/** Seconds to an answer, from DEADLINE_MIN_S to DEADLINE_MAX_S; null when invalid. */
export function deadlineOf(value: unknown): number | null {
  const n = positiveOf(value, DEFAULTS.deadline, false);
  return n !== null && n >= DEADLINE_MIN_S && n <= DEADLINE_MAX_S ? n : null;
}

const HEADER_NAME = /^[A-Za-z0-9-]{1,100}$/;

/** The header that carries the shared secret, trimmed; blank or missing: X-Kumo-Secret. Null when not a header name. */
export function secretHeaderOf(value: unknown): string | null {
  const name = (value === undefined || value === null ? '' : String(value)).trim() || DEFAULTS.secretHeader;
  return HEADER_NAME.test(name) ? name : null;
}

/** What output 1 carries; missing (a flow saved before the setting): each record as its own msg. */
export function recordsOutputOf(value: unknown): RecordsOutput | null {
  if (value === undefined || value === null) return DEFAULTS.output;
  return (RECORDS_OUTPUTS as unknown[]).includes(value) ? (value as RecordsOutput) : null;
}
