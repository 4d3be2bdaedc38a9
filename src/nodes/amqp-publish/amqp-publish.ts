// amqp publish: client:publish{...} + confirm:wait() of KumoMTA's seed, with
// its Ack / NotRequested = delivered, Nack = kumo.reject(500, ...) handling.
// Every input ends in exactly one of: output 1, output 2, or done(err). An
// array published element by element (a custom protocol batch, or the node's
// setting) leaves once, when every element is settled, and each element of a
// batch reports its own outcome.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { amqpPublishController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type AmqpPublishSettings, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  function AmqpPublish(this: Node, def: NodeDef & AmqpPublishSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (settings) amqpPublishController(RED, this, settings, t, core);
  }

  RED.nodes.registerType(TYPE, AmqpPublish);
};
