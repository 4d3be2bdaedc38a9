// amqp ack's behaviour: acknowledges the consumed message a msg carries the handle of, with the
// node's action or msg.ack, and passes the msg on once the frame is written.

import type { Node, NodeMessageInFlow } from 'node-red';
import { type AckAction, isAckAction } from '../../core/amqp/consumer-ack';
import { acknowledge } from '../../core/amqp/consumer-handles';
import { ERROR_CODES, type ErrorCode } from '../../core/text/errors';
import { typeName } from '../../core/text/messages';
import type { AckCounts } from '../../common/metric-counts';
import { failInput, NodeError, setupFailed } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { actionOf, type AmqpAckSettings } from './settings';

interface AckMessage extends NodeMessageInFlow {
  ack?: unknown;
  _amqpAck?: unknown;
}

type Send = (msg: NodeMessageInFlow) => void;
type Done = (err?: Error) => void;

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return typeName(value);
}

export class AckController {
  /** The node's action; null when its setting names none (then only msg.ack can say). */
  private readonly configured: AckAction | null;

  constructor(
    node: Node,
    settings: AmqpAckSettings,
    private readonly t: Translate,
    private readonly core: CoreText,
    private readonly counts: AckCounts,
  ) {
    this.configured = actionOf(settings.action);
    if (!this.configured) setupFailed(node, t('errors.action'));
  }

  input(input: NodeMessageInFlow, send: Send, done: Done): void {
    const { t } = this;
    const fail = (code: ErrorCode, text: string) => failInput(this.core, done, new NodeError(code, text));
    const msg = input as AckMessage;
    let action = this.configured ?? 'ack';
    if (msg.ack !== undefined) {
      if (!isAckAction(msg.ack)) {
        fail(ERROR_CODES.badInput, t('errors.bad-action', { value: shown(msg.ack) }));
        return;
      }
      action = msg.ack;
    } else if (!this.configured) {
      fail(ERROR_CODES.notConfigured, t('errors.action'));
      return;
    }
    const handle = msg._amqpAck;
    if (handle === undefined) {
      fail(ERROR_CODES.badInput, t('errors.no-handle'));
      return;
    }
    const result = acknowledge(handle, action);
    switch (result.outcome) {
      case 'acknowledged':
        if (action === 'ack') this.counts.acked++;
        else if (action === 'reject') this.counts.rejected++;
        else this.counts.requeued.add(action === 'requeue' ? 'nack' : 'reject');
        send(msg);
        done();
        return;
      case 'not-a-handle':
        fail(ERROR_CODES.badInput, t('errors.not-a-handle', { value: shown(handle) }));
        return;
      case 'already-acknowledged':
        fail(ERROR_CODES.badInput, t('errors.already-settled', { handle: String(handle) }));
        return;
      case 'channel-gone':
        fail(ERROR_CODES.brokerUnavailable, t('errors.channel-gone', { action }));
        return;
      case 'write-failed':
        fail(ERROR_CODES.brokerUnavailable, t('errors.write-failed', { action, error: result.error ?? '' }));
        return;
    }
  }
}
