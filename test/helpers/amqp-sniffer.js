// @ts-check
'use strict';
// A TCP proxy on loopback in front of the real broker that reads the AMQP 0-9-1
// method frames the client sends, for what the broker does not tell apart on
// its own (RabbitMQ 3.x treats basic.reject and basic.nack with requeue alike;
// a basic.qos's global flag shows nowhere). Bytes pass unchanged both ways.

const net = require('node:net');
const { EventEmitter } = require('node:events');

const PROTOCOL_HEADER = 8; // "AMQP" 0 0 9 1
const FRAME_METHOD = 1;
const FRAME_END = 0xce;

/** @typedef {'basic.qos' | 'basic.ack' | 'basic.reject' | 'basic.nack'} BasicMethodName */
/**
 * A basic method a client sent, with the fields its kind has.
 * @typedef {object} SniffedMethod
 * @property {BasicMethodName} name
 * @property {number} channel
 * @property {number} [prefetchCount] basic.qos
 * @property {boolean} [global] basic.qos
 * @property {number} [deliveryTag] basic.ack, basic.reject, basic.nack
 * @property {boolean} [multiple] basic.ack, basic.nack
 * @property {boolean} [requeue] basic.reject, basic.nack
 */
/** @typedef {{ host: string, port: number }} Target */

/**
 * The basic class's methods this helper names (AMQP 0-9-1, class 60).
 * @type {Record<number, BasicMethodName | undefined>}
 */
const BASIC = { 10: 'basic.qos', 80: 'basic.ack', 90: 'basic.reject', 120: 'basic.nack' };

/**
 * The fields of the methods above, read from a method frame's arguments.
 * @param {BasicMethodName} name
 * @param {Buffer} args
 * @returns {Omit<SniffedMethod, 'name' | 'channel'>}
 */
function decode(name, args) {
  switch (name) {
    case 'basic.qos':
      return { prefetchCount: args.readUInt16BE(4), global: (args[6] & 1) === 1 };
    case 'basic.ack':
      return { deliveryTag: Number(args.readBigUInt64BE(0)), multiple: (args[8] & 1) === 1 };
    case 'basic.reject':
      return { deliveryTag: Number(args.readBigUInt64BE(0)), requeue: (args[8] & 1) === 1 };
    case 'basic.nack':
      return {
        deliveryTag: Number(args.readBigUInt64BE(0)),
        multiple: (args[8] & 1) === 1,
        requeue: (args[8] & 2) === 2,
      };
    default:
      return {};
  }
}

class AmqpSniffer extends EventEmitter {
  /**
   * Listens on 127.0.0.1, a free port; `target` is `{host, port}` of the broker.
   * @param {Target} target
   * @returns {Promise<AmqpSniffer>}
   */
  static async start(target) {
    const sniffer = new AmqpSniffer(target);
    await /** @type {Promise<void>} */ (
      new Promise((resolve, reject) => {
        sniffer.server.once('error', reject);
        sniffer.server.listen(0, '127.0.0.1', resolve);
      })
    );
    // A TCP server's address is an AddressInfo (a string only for a pipe or a Unix socket).
    sniffer.port = /** @type {import('node:net').AddressInfo} */ (sniffer.server.address()).port;
    return sniffer;
  }

  /** @param {Target} target */
  constructor(target) {
    super();
    this.target = target;
    /** The port it listens on, once start() has resolved. */
    this.port = 0;
    /** @type {Set<import('node:net').Socket>} */
    this.sockets = new Set();
    /**
     * The basic methods clients sent, in order: {name, channel, ...fields}.
     * @type {SniffedMethod[]}
     */
    this.methods = [];
    /** Set when a client's bytes could not be read as frames (the methods list is then incomplete). */
    this.unreadable = false;
    this.server = net.createServer((client) => this.accept(client));
  }

  /**
   * The broker's URL with the sniffer's host and port.
   * @param {string} brokerUrl
   * @returns {string}
   */
  url(brokerUrl) {
    const url = new URL(brokerUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString().replace(/\/$/, '');
  }

  /** @param {import('node:net').Socket} client */
  accept(client) {
    const upstream = net.connect(this.target);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let pending = Buffer.alloc(0);
    let headerSeen = false;
    client.on('data', (chunk) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      if (!headerSeen) {
        if (pending.length < PROTOCOL_HEADER) return;
        pending = pending.subarray(PROTOCOL_HEADER);
        headerSeen = true;
      }
      while (pending.length >= 7) {
        const size = pending.readUInt32BE(3);
        if (pending.length < 8 + size) break;
        if (pending[7 + size] !== FRAME_END) {
          // Out of step with the stream: stop reading it (the bytes still pass) and say so.
          this.unreadable = true;
          pending = Buffer.alloc(0);
          headerSeen = true;
          client.removeAllListeners('data');
          client.on('data', (more) => upstream.write(more));
          return;
        }
        if (pending[0] === FRAME_METHOD) {
          const payload = pending.subarray(7, 7 + size);
          const name = payload.readUInt16BE(0) === 60 ? BASIC[payload.readUInt16BE(2)] : undefined;
          if (name) {
            const method = { name, channel: pending.readUInt16BE(1), ...decode(name, payload.subarray(4)) };
            this.methods.push(method);
            this.emit('method', method);
          }
        }
        pending = pending.subarray(8 + size);
      }
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  /**
   * Resolves with the first method, sent already or to come, that satisfies `predicate`.
   * @param {(method: SniffedMethod) => boolean} predicate
   * @returns {Promise<SniffedMethod>}
   */
  waitFor(predicate) {
    const found = this.methods.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      /** @param {SniffedMethod} method */
      const check = (method) => {
        if (!predicate(method)) return;
        this.removeListener('method', check);
        resolve(method);
      };
      this.on('method', check);
    });
  }

  /** Destroys every connection and stops listening. */
  async close() {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { AmqpSniffer };
