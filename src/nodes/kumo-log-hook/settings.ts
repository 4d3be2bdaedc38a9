// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

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
