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

function uniqueName(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

class SideChannel {
  static async open() {
    requireBroker();
    const side = new SideChannel();
    side.connection = await amqp.connect(AMQP_URL);
    side.channel = await side.connection.createChannel();
    side.queues = [];
    side.exchanges = [];
    return side;
  }

  async queue(name, options = {}) {
    await this.channel.assertQueue(name, { durable: true, ...options });
    this.queues.push(name);
    return name;
  }

  async exchange(name, type = 'direct') {
    await this.channel.assertExchange(name, type, { durable: false, autoDelete: false });
    this.exchanges.push(name);
    return name;
  }

  /** Reads every message now in the queue (basic.get until empty). */
  async drain(queue) {
    const messages = [];
    for (;;) {
      const m = await this.channel.get(queue, { noAck: true });
      if (!m) return messages;
      messages.push(m);
    }
  }

  async count(queue) {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  async close() {
    for (const q of this.queues) await this.channel.deleteQueue(q).catch(() => undefined);
    for (const e of this.exchanges) await this.channel.deleteExchange(e).catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

module.exports = { requireBroker, AMQP_URL, BROKER_URL, CREDENTIALS, uniqueName, SideChannel };
