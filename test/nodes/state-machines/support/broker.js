// @ts-check
'use strict';
// What the state-machine tests share: the real broker's address (for the TCP
// proxy to forward to), a BrokerConnection to a URL with a fast backoff, a
// wait for an event that is not a sleep, and the channels a connection opens.

const { BrokerConnection } = require('../../../../nodes/lib/core/amqp/broker-connection');
const { parseBrokerUrls } = require('../../../../nodes/lib/core/amqp/broker-url');
const { BROKER_URL, CREDENTIALS } = require('../../../helpers/amqp');

/** @type {NonNullable<import('../../../../nodes/lib/core/amqp/broker-connection').BrokerSettings['backoff']>} */
const FAST_BACKOFF = { initialDelayMs: 50, maxDelayMs: 500, jitter: 0 };
const HEARTBEAT_S = 5;

/**
 * The test broker's host and port, for a TCP proxy to forward to.
 * @returns {{ host: string, port: number }}
 */
function brokerTarget() {
  const url = new URL(BROKER_URL);
  return { host: url.hostname, port: Number(url.port || 5672) };
}

/**
 * A BrokerConnection (not yet used) to `url` with the test broker's credentials and a fast backoff.
 * @param {string} url
 * @param {string} [connectionName]
 * @returns {BrokerConnection}
 */
function connectionTo(url, connectionName) {
  return new BrokerConnection({
    endpoints: parseBrokerUrls(url, HEARTBEAT_S),
    credentials: CREDENTIALS,
    secrets: [CREDENTIALS.password],
    connectionName,
    connectTimeoutMs: 5000,
    backoff: FAST_BACKOFF,
  });
}

/**
 * Resolves with the first event `name` whose arguments satisfy `predicate`.
 * @template {unknown[]} A the event's arguments
 * @param {import('node:events').EventEmitter} emitter
 * @param {string} name
 * @param {(...args: A) => unknown} [predicate]
 * @returns {Promise<A[0]>} the event's first argument
 */
function next(emitter, name, predicate = () => true) {
  return new Promise((resolve) => {
    /** @param {A} args */
    const listener = (...args) => {
      if (!predicate(...args)) return;
      emitter.removeListener(name, listener);
      resolve(args[0]);
    };
    emitter.on(name, listener);
  });
}

/**
 * Resolves once a ConfirmPublisher can write: its health (what the node's status shows) is ok,
 * which it is once its channel is open on a connection the broker does not block.
 * @param {import('../../../../nodes/lib/core/amqp/confirm-publisher').ConfirmPublisher} publisher
 * @returns {Promise<void>}
 */
function ready(publisher) {
  const writing = () => publisher.health.state === 'ok';
  if (writing()) return Promise.resolve();
  return next(publisher, 'change', writing);
}

/**
 * The channels opened on `connection` from now on, oldest first, as amqplib hands them to their
 * user (a publisher, a consumer): for a test that acts on the channel its user holds, such as
 * closing it from the client's side. Call it before the user is made, so it sees the first one.
 * @param {BrokerConnection} connection
 * @returns {import('amqplib').Channel[]}
 */
function channelsOpenedOn(connection) {
  /** @type {import('amqplib').Channel[]} */
  const opened = [];
  connection.on('connected', (model) => {
    const { createChannel, createConfirmChannel } = model;
    model.createChannel = async () => {
      const channel = await createChannel.call(model);
      opened.push(channel);
      return channel;
    };
    model.createConfirmChannel = async () => {
      const channel = await createConfirmChannel.call(model);
      opened.push(channel);
      return channel;
    };
  });
  return opened;
}

module.exports = { FAST_BACKOFF, brokerTarget, channelsOpenedOn, connectionTo, next, ready };
