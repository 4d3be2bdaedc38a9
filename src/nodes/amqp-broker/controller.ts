// amqp-broker: the `connection` of kumo.amqp.basic_publish / the URI of
// kumo.amqp.build_client. A config node that owns the one connection its
// users share; it never appears in a flow export with its credentials.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { BrokerConnection } from '../../core/amqp/broker-connection';
import { parseBrokerUrls, secretsOf, redact } from '../../core/amqp/broker-url';
import type { AmqpBrokerCredentials, AmqpBrokerNode } from './amqp-broker-node';
import { say } from '../../core/text/messages';
import { settingOf } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { BrokerCounts } from '../../common/metric-counts';
import { brokers, type BrokerState, type BrokerView } from '../../common/metrics';
import type { ConnectionStatus } from '../../core/amqp/broker-connection';
import { type AmqpBrokerSettings, heartbeatOf } from './settings';

// Long enough for publish nodes to collect their confirms, short enough for
// Node-RED's 15 s close timeout.
const CLOSE_WAIT_MS = 12000;

function stateOf(status: ConnectionStatus): BrokerState {
  return status.state === 'connected' && status.blocked ? 'blocked' : status.state;
}

interface TlsConfigNode extends Node {
  addTLSOptions(options: TlsOptions): TlsOptions;
}

export function amqpBrokerController(
  RED: NodeAPI,
  node: Node<AmqpBrokerCredentials>,
  def: NodeDef & AmqpBrokerSettings,
  t: Translate,
  core: CoreText,
): void {
  const self = node as AmqpBrokerNode;
  const credentials = self.credentials ?? {};
  const secrets = secretsOf(def.url, credentials);
  self.connection = null;
  self.configError = null;
  self.endpoints = [];
  const counts = new BrokerCounts();
  const createdMs = Date.now();
  let view = (): BrokerView => ({
    state: 'error',
    sinceMs: createdMs,
    endpoint: null,
    reason: self.configError,
    endpoints: [],
    blockedSinceMs: null,
  });
  try {
    const heartbeat = settingOf(def.heartbeat, heartbeatOf, () => t('errors.heartbeat-invalid'));
    self.endpoints = parseBrokerUrls(def.url, heartbeat);
    let tls: TlsOptions | undefined;
    if (def.tls) {
      const tlsNode = RED.nodes.getNode(def.tls) as TlsConfigNode | null;
      if (!tlsNode) throw new Error(t('errors.tls-missing'));
      tls = tlsNode.addTLSOptions({});
    }
    self.connection = new BrokerConnection({
      endpoints: self.endpoints,
      credentials: { username: credentials.username, password: credentials.password },
      secrets,
      connectionName: def.connectionName || `Node-RED ${def.name || node.id}`,
      tls,
    });
    const connection = self.connection;
    connection.fault = (err) =>
      node.error(redact(core.render(say('contained.fault', { error: core.render(err) })), secrets));
    // One line per connection change, none per message: lost with why, regained with how long it took.
    // A dial that fails says why once per new reason (statuses show only the broker's code).
    let lostAt: number | null = null;
    let lastProblem: string | null = null;
    connection.on('disconnected', (reason) => {
      lostAt = Date.now();
      lastProblem = redact(core.render(reason), secrets);
      node.warn(t('log.lost', { reason: lastProblem }));
    });
    connection.on('status', (status) => {
      if (status.state === 'connected' || status.error === null) return;
      const problem = redact(core.render(status.error), secrets);
      if (problem === lastProblem) return;
      lastProblem = problem;
      node.warn(t('log.cannot-connect', { reason: problem }));
    });
    connection.on('connected', () => {
      lastProblem = null;
      if (lostAt === null) return;
      counts.reconnects++;
      node.log(t('log.regained', { seconds: ((Date.now() - lostAt) / 1000).toFixed(1) }));
      lostAt = null;
    });
    // The broker's memory or disk alarm: one line when it holds publishing, one when it lets go.
    let blockedAt: number | null = null;
    connection.on('status', (status) => {
      if (status.blocked && blockedAt === null) {
        blockedAt = Date.now();
        node.warn(t('log.blocked', { reason: redact(core.render(status.blocked), secrets) }));
      } else if (!status.blocked && blockedAt !== null) {
        counts.blockedSeconds += (Date.now() - blockedAt) / 1000;
        node.log(t('log.unblocked', { seconds: ((Date.now() - blockedAt) / 1000).toFixed(1) }));
        blockedAt = null;
      }
    });
    // For /kumo/health and the metrics: the state, since when, and why.
    let state = stateOf(connection.status);
    let sinceMs = createdMs;
    connection.on('status', (status) => {
      const now = stateOf(status);
      if (now === state) return;
      state = now;
      sinceMs = Date.now();
    });
    const endpoints = self.endpoints.map((endpoint) => endpoint.display);
    view = () => {
      const status = connection.status;
      const why = status.blocked ?? (status.state === 'connected' ? null : status.error);
      return {
        state,
        sinceMs,
        endpoint: status.endpoint,
        reason: why === null ? null : redact(core.render(why), secrets),
        endpoints,
        blockedSinceMs: blockedAt,
      };
    };
  } catch (err) {
    self.configError = redact(core.render(err), secrets);
    node.error(self.configError);
  }

  const untrack = brokers.add(node, { counts, view: () => view() });

  node.on('close', (_removed: boolean, done: () => void) => {
    untrack();
    const connection = self.connection;
    if (!connection) return done();
    connection.closeWhenIdle(CLOSE_WAIT_MS).then(done, done);
  });
}
