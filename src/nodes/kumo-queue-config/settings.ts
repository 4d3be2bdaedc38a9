// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

export const TYPE = 'kumo-queue-config';

export type QueueSource = 'msg' | 'str' | 'env';

export interface QueueConfigSettings {
  name: string;
  /** The property the queue is read from (msg), the queue itself (str), or a variable's name (env). */
  queue: string;
  queueType: QueueSource;
  /** Rules as the dialog saves them (core/kumo/queue-config.ts compiles them); a flow file may hold anything. */
  rules: unknown[];
  version?: number;
}

export const DEFAULTS = { name: '', queue: 'queue', queueType: 'msg', rules: [] as unknown[] } as const;

/** Version 1: 0.1.0's definition; the batch fields a rule may have since are optional. */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, {})];
export const VERSION = currentVersion(MIGRATIONS);
