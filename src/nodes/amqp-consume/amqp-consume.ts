// amqp consume: the reader of the queue KumoMTA's log events land in. Each
// delivery leaves as one msg; in manual mode it stays unacknowledged until an
// amqp ack node acknowledges it (at least once), at most `prefetch` at a time.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { amqpConsumeController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type AmqpConsumeSettings, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  function AmqpConsume(this: Node, def: NodeDef & AmqpConsumeSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (settings) amqpConsumeController(RED, this, settings, t, core);
  }

  RED.nodes.registerType(TYPE, AmqpConsume);
};
