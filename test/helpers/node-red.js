// @ts-check
'use strict';
// node-red-node-test-helper with this pack's nodes and the core nodes the
// flows under test use, plus small waits built on node events (no sleeps).

const helper = require('node-red-node-test-helper');
const path = require('node:path');
const { BROKER_URL, CREDENTIALS, requireBroker } = require('./amqp');

// NODE_RED_HOME runs the same suites under another Node-RED (scripts/test.js uses it for Node-RED 5).
const NODE_RED = process.env.NODE_RED_HOME
  ? path.resolve(process.env.NODE_RED_HOME)
  : path.dirname(require.resolve('node-red/package.json'));
helper.init(require.resolve(NODE_RED));

const NODES = path.resolve(__dirname, '../../nodes');
const CORE = path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [NODE_RED] }));

const packNodes = [
  'amqp-broker',
  'amqp-publish',
  'kumo-queue-config',
  'kumo-custom-protocol',
  'kumo-reject',
  'amqp-consume',
  'amqp-ack',
  'kumo-log-hook',
].map((type) => require(path.join(NODES, type, `${type}.js`)));
const coreNodes = {
  catch: require(path.join(CORE, 'core/common/25-catch.js')),
  status: require(path.join(CORE, 'core/common/25-status.js')),
  tls: require(path.join(CORE, 'core/network/05-tls.js')),
  function: require(path.join(CORE, 'core/function/10-function.js')),
};

const CONFIG_TYPES = new Set(['amqp-broker', 'tls-config']);

/**
 * A node of a flow as Node-RED stores it: its id, type, tab (z), wires and its own settings.
 * @typedef {{ id: string; type: string; z?: string; wires?: string[][]; [setting: string]: unknown }} FlowNode
 */
/** @typedef {import('node-red').Node} Node */
/** @typedef {import('node-red').NodeMessageInFlow} NodeMessageInFlow */
/**
 * What a helper node has received, and a wait for more.
 * @typedef {object} Collector
 * @property {NodeMessageInFlow[]} messages every message so far, in order
 * @property {(n?: number) => Promise<NodeMessageInFlow[]>} next resolves once `n` have arrived (default: one more)
 */

/**
 * An amqp-broker config node for the test broker.
 * @param {string} [id]
 * @param {Record<string, unknown>} [overrides] settings to set or replace
 * @returns {FlowNode}
 */
function brokerConfig(id = 'broker', overrides = {}) {
  requireBroker();
  return {
    id,
    type: 'amqp-broker',
    name: 'test broker',
    url: BROKER_URL,
    heartbeat: 10,
    connectionName: 'mocha',
    ...overrides,
  };
}

/**
 * Loads a flow; the broker node gets the test broker's credentials unless given others.
 * @param {FlowNode[]} flow
 * @param {Record<string, object>} [credentials] by node id
 * @returns {Promise<void>}
 */
function load(flow, credentials) {
  const creds =
    credentials || Object.fromEntries(flow.filter((n) => n.type === 'amqp-broker').map((n) => [n.id, CREDENTIALS]));
  // Flow nodes need a tab (z) for Catch and Status scopes; config nodes have none.
  const nodes = flow.map((n) => (n.z || CONFIG_TYPES.has(n.type) ? n : { z: 'flow', ...n }));
  return helper.load(
    [...packNodes, ...Object.values(coreNodes)],
    [{ id: 'flow', type: 'tab', label: 'test' }, ...nodes],
    creds,
  );
}

/**
 * Collects the messages a helper node receives; `next(n)` resolves once n have arrived.
 * @param {Node} node
 * @returns {Collector}
 */
function collector(node) {
  /** @type {NodeMessageInFlow[]} */
  const messages = [];
  /** @type {{ n: number, resolve: (messages: NodeMessageInFlow[]) => void }[]} */
  const waiters = [];
  node.on('input', (msg) => {
    messages.push(msg);
    for (const w of waiters.slice()) {
      if (messages.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(messages);
      }
    }
  });
  return {
    messages,
    next(n = messages.length + 1) {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

/**
 * Resolves with the first message, already received or to come, that satisfies `predicate`.
 * @param {Collector} col
 * @param {(msg: NodeMessageInFlow) => unknown} predicate
 * @returns {Promise<NodeMessageInFlow>}
 */
function until(col, predicate) {
  const found = col.messages.find(predicate);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const check = () => {
      const hit = col.messages.find(predicate);
      if (hit) resolve(hit);
      else col.next(col.messages.length + 1).then(check);
    };
    check();
  });
}

module.exports = { helper, load, brokerConfig, collector, until };
