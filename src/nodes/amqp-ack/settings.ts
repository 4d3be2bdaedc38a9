// The node's settings as its saved definition holds them, what a new node starts with, the
// steps that bring an older definition up to date (common/migrate.ts), and the action's rule:
// the runtime and the editor both read this file, so the form refuses exactly what a deploy would.

import { fillMissing, currentVersion, type Migration } from '../../common/migrate';
import { type AckAction, isAckAction } from '../../core/amqp/consumer-ack';

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

/** The node's action; unset: ack. Null when the setting names none (then only msg.ack can say). */
export function actionOf(value: unknown): AckAction | null {
  if (!value) return DEFAULTS.action;
  return isAckAction(value) ? value : null;
}
