// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

export const TYPE = 'kumo-reject';

export interface RejectSettings {
  name: string;
  /** A typed input: the reject code (4xx transient, 5xx permanent). */
  code: string;
  codeType: string;
  message: string;
  messageType: string;
  version?: number;
}

export const DEFAULTS = { name: '', code: '451', codeType: 'num', message: '', messageType: 'str' } as const;

/** Version 1: 0.1.0's definition, unchanged. */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, {})];
export const VERSION = currentVersion(MIGRATIONS);
