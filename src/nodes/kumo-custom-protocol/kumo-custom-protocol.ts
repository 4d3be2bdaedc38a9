// custom protocol: `protocol = { custom_lua = { constructor = 'make.amqp' } }`
// plus kumo.on('make.amqp', ...). Output 1 carries each delivery attempt with
// msg.kumo (or, with a batch size above 1, each batch, as send_batch gets it);
// output 2 carries one KumoMTA log record per outcome.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { customProtocolController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type CustomProtocolSettings, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  function CustomProtocol(this: Node, def: NodeDef & CustomProtocolSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (settings) customProtocolController(RED, this, settings, t, core);
  }

  // The editor checks event names with core/kumo/event-names.ts itself (bundled into its script).
  RED.nodes.registerType(TYPE, CustomProtocol);
};
