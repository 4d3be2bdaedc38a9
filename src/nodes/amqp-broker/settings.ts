// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and each setting's rule
// (its default, its bounds): the runtime and the editor both read this file, so the form
// refuses exactly what a deploy would.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { isBlank } from '../../common/setting-values';
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

/** connection.tune carries the heartbeat as an AMQP short. */
export const HEARTBEAT_MAX = 65535;

/** Seconds between heartbeats, 0 for none: a whole number up to HEARTBEAT_MAX; blank or missing: 60. Null when invalid. */
export function heartbeatOf(value: unknown): number | null {
  const n = isBlank(value) ? DEFAULTS.heartbeat : Number(value);
  return Number.isInteger(n) && n >= 0 && n <= HEARTBEAT_MAX ? n : null;
}
