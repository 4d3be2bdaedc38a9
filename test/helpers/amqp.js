// @ts-check
'use strict';
// The real RabbitMQ the tests talk to (started by scripts/test.js, or AMQP_URL),
// and a side connection to set up queues and read back what the nodes published.

const amqp = require('amqplib');
const crypto = require('node:crypto');

// Unit suites load this file too (mocha loads every spec first), so a missing
// AMQP_URL is only an error where a broker is actually used.
const AMQP_URL = process.env.AMQP_URL || 'amqp://unset.invalid';
function requireBroker() {
  if (!process.env.AMQP_URL) throw new Error('AMQP_URL is not set: run the tests with `npm test`');
}

const parsed = new URL(AMQP_URL);
/** The broker URL without userinfo, and the credentials the broker node stores apart. */
const BROKER_URL = `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
const CREDENTIALS = {
  username: decodeURIComponent(parsed.username || 'guest'),
  password: decodeURIComponent(parsed.password || 'guest'),
};

/**
 * A name no other test or run uses: `prefix-` and 8 hex digits.
 * @param {string} prefix
 * @returns {string}
 */
function uniqueName(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

/** A connection of the test's own; the queues and exchanges it declares are deleted on close. */
class SideChannel {
  /** @returns {Promise<SideChannel>} */
  static async open() {
    requireBroker();
    const connection = await amqp.connect(AMQP_URL);
    return new SideChannel(connection, await connection.createChannel());
  }

  /**
   * @param {import('amqplib').ChannelModel} connection
   * @param {import('amqplib').Channel} channel
   */
  constructor(connection, channel) {
    this.connection = connection;
    this.channel = channel;
    /** @type {string[]} */
    this.queues = [];
    /** @type {string[]} */
    this.exchanges = [];
  }

  /**
   * Declares a durable queue (unless `options` say otherwise), deleted on close.
   * @param {string} name
   * @param {import('amqplib').Options.AssertQueue} [options]
   * @returns {Promise<string>} the name
   */
  async queue(name, options = {}) {
    await this.channel.assertQueue(name, { durable: true, ...options });
    this.queues.push(name);
    return name;
  }

  /**
   * Declares a transient exchange, deleted on close.
   * @param {string} name
   * @param {string} [type]
   * @returns {Promise<string>} the name
   */
  async exchange(name, type = 'direct') {
    await this.channel.assertExchange(name, type, { durable: false, autoDelete: false });
    this.exchanges.push(name);
    return name;
  }

  /**
   * Reads every message now in the queue (basic.get until empty).
   * @param {string} queue
   * @returns {Promise<import('amqplib').GetMessage[]>}
   */
  async drain(queue) {
    /** @type {import('amqplib').GetMessage[]} */
    const messages = [];
    for (;;) {
      const m = await this.channel.get(queue, { noAck: true });
      if (!m) return messages;
      messages.push(m);
    }
  }

  /**
   * The queue's ready messages, as the broker counts them.
   * @param {string} queue
   * @returns {Promise<number>}
   */
  async count(queue) {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Deletes what it declared and closes the connection; never rejects. */
  async close() {
    for (const q of this.queues) await this.channel.deleteQueue(q).catch(() => undefined);
    for (const e of this.exchanges) await this.channel.deleteExchange(e).catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

module.exports = { requireBroker, AMQP_URL, BROKER_URL, CREDENTIALS, uniqueName, SideChannel };
