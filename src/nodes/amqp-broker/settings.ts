// The node's settings as its saved definition holds them, what a new node starts with, and
// the steps that bring an older definition up to date (common/migrate.ts). The runtime and
// the editor both read this file.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { DEFAULT_BROKER_URL } from '../../core/amqp/broker-url';

export const TYPE = 'amqp-broker';

export interface AmqpBrokerSettings {
  name: string;
  url: string;
  /** The id of a tls-config node, or ''. */
  tls: string;
  heartbeat: number | string;
  connectionName: string;
  version?: number;
}

export const DEFAULTS = { name: '', url: DEFAULT_BROKER_URL, tls: '', heartbeat: 60, connectionName: '' } as const;

/** Version 1: 0.1.0's definition, unchanged. */
export const MIGRATIONS: readonly Migration[] = [fillMissing(1, {})];
export const VERSION = currentVersion(MIGRATIONS);
