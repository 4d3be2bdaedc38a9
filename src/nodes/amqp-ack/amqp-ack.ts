// amqp ack: basic.ack / basic.nack(requeue) / basic.reject(requeue) / basic.nack of a
// message an amqp consume node delivered, found by the handle it carries in msg._amqpAck.
// The msg passes on once the frame is written.

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { type AckAction, isAckAction } from '../../core/amqp/consumer-ack';
import { settle } from '../../core/amqp/consumer-handles';
import { ERROR_CODES, type ErrorCode } from '../../core/text/errors';
import { failInput, NodeError } from '../../common/node-glue';
import { typeName } from '../../core/text/messages';
import { coreWords, translator } from '../../common/node-text';
import { AckCounts } from '../../common/metric-counts';
import { ackers, serveMetrics } from '../../common/metrics';
import english from './locale.json';

interface AmqpAckDef extends NodeDef {
  action: AckAction;
}

interface AckMessage extends NodeMessageInFlow {
  ack?: unknown;
  _amqpAck?: unknown;
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return typeName(value);
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'amqp-ack', english);
  const words = coreWords(RED);
  serveMetrics(RED);

  function AmqpAck(this: Node, def: AmqpAckDef): void {
    RED.nodes.createNode(this, def);
    const configured: AckAction | null = isAckAction(def.action || 'ack') ? def.action || 'ack' : null;
    if (!configured) this.error(t('errors.action'));
    const counts = new AckCounts();
    const untrack = ackers.add(this, counts);
    this.on('close', untrack);

    this.on('input', (input: NodeMessageInFlow, send, done) => {
      const fail = (code: ErrorCode, text: string) => failInput(words, done, new NodeError(code, text));
      const msg = input as AckMessage;
      let action = configured ?? 'ack';
      if (msg.ack !== undefined) {
        if (!isAckAction(msg.ack)) {
          fail(ERROR_CODES.badInput, t('errors.bad-action', { value: shown(msg.ack) }));
          return;
        }
        action = msg.ack;
      } else if (!configured) {
        fail(ERROR_CODES.notConfigured, t('errors.action'));
        return;
      }
      const handle = msg._amqpAck;
      if (handle === undefined) {
        fail(ERROR_CODES.badInput, t('errors.no-handle'));
        return;
      }
      const result = settle(handle, action);
      switch (result.outcome) {
        case 'settled':
          if (action === 'ack') counts.acked++;
          else if (action === 'reject') counts.rejected++;
          else counts.requeued.add(action === 'requeue' ? 'nack' : 'reject');
          send(msg);
          done();
          return;
        case 'not-a-handle':
          fail(ERROR_CODES.badInput, t('errors.not-a-handle', { value: shown(handle) }));
          return;
        case 'already-settled':
          fail(ERROR_CODES.badInput, t('errors.already-settled', { handle: String(handle) }));
          return;
        case 'channel-gone':
          fail(ERROR_CODES.brokerUnavailable, t('errors.channel-gone', { action }));
          return;
        case 'write-failed':
          fail(ERROR_CODES.brokerUnavailable, t('errors.write-failed', { action, error: result.error ?? '' }));
          return;
      }
    });
  }

  RED.nodes.registerType('amqp-ack', AmqpAck);
};
