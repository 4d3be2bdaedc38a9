// The shape other nodes see of an amqp-broker config node.

import type { Node } from 'node-red';
import type { BrokerConnection } from '../../core/amqp/broker-connection';
import type { BrokerEndpoint } from '../../core/amqp/broker-url';

export interface AmqpBrokerCredentials {
  username?: string;
  password?: string;
}

export interface AmqpBrokerNode extends Node<AmqpBrokerCredentials> {
  /** Null when the settings are invalid; `configError` then says why. */
  connection: BrokerConnection | null;
  configError: string | null;
  endpoints: BrokerEndpoint[];
}
