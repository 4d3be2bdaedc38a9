// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';

export const TYPE = 'amqp-ack';

export interface AmqpAckSettings {
  name: string;
  /** An AckAction (core/amqp/consumer-ack.ts); a flow file may hold anything. */
  action: string;
  version?: number;
}

export const DEFAULTS = { name: '', action: 'ack' } as const;

/** Version 1: the first versioned definition; nothing was added since the node's first release. */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, {})];
export const VERSION = currentVersion(MIGRATIONS);
