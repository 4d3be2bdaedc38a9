// amqp ack: basic.ack / basic.nack(requeue) / basic.reject(requeue) / basic.nack of a
// message an amqp consume node delivered, found by the handle it carries in msg._amqpAck.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { AckCounts } from '../../common/metric-counts';
import { ackers } from '../../common/metrics';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { AckController } from './controller';
import english from './locale.json';
import { type AmqpAckSettings, MIGRATIONS, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  RED.nodes.registerType(TYPE, function AmqpAck(this: Node, def: NodeDef & AmqpAckSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (!settings) return;
    const counts = new AckCounts();
    this.on('close', ackers.add(this, counts));
    const controller = new AckController(this, settings, t, core, counts);
    this.on('input', (msg, send, done) => controller.input(msg, send, done));
  });
};
