// amqp-broker: the `connection` of kumo.amqp.basic_publish / the URI of
// kumo.amqp.build_client. A config node that owns the one connection its
// users share; it never appears in a flow export with its credentials.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import type { AmqpBrokerCredentials } from './amqp-broker-node';
import { amqpBrokerController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type AmqpBrokerSettings, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  function AmqpBroker(this: Node<AmqpBrokerCredentials>, def: NodeDef & AmqpBrokerSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (settings) amqpBrokerController(RED, this, settings, t, core);
  }

  RED.nodes.registerType<Node<AmqpBrokerCredentials>, NodeDef & AmqpBrokerSettings, unknown, AmqpBrokerCredentials>(
    TYPE,
    AmqpBroker,
    {
      credentials: {
        username: { type: 'text' },
        password: { type: 'password' },
      },
    },
  );
};
