// @ts-check
'use strict';
// A TCP proxy on loopback in front of the real broker, for the faults a broker
// alone cannot make on cue: a dial that hangs (hold), a socket that stops
// moving bytes while staying open (stall), and one that dies (drop). Nothing in
// the AMQP conversation is touched: bytes pass as they are, or not at all.

const net = require('node:net');
const { EventEmitter } = require('node:events');

/** @typedef {import('node:net').Socket} Socket */
/** @typedef {{ host: string, port: number }} Target */
/**
 * A client connection and its dial to the broker (null while held), with the bytes
 * each side sent that are not passed on yet.
 * @typedef {object} Pair
 * @property {Socket} client
 * @property {Socket | null} upstream
 * @property {Map<Socket, Buffer[]>} backlog
 */

/**
 * Emits `accepted` (a client connected), `forwarding` (its dial to the broker is open)
 * and `closed`, each with the Pair.
 */
class TcpProxy extends EventEmitter {
  /**
   * Listens on 127.0.0.1, a free port; `target` is `{host, port}` of the broker.
   * @param {Target} target
   * @returns {Promise<TcpProxy>}
   */
  static async start(target) {
    const proxy = new TcpProxy(target);
    await /** @type {Promise<void>} */ (
      new Promise((resolve, reject) => {
        proxy.server.once('error', reject);
        proxy.server.listen(0, '127.0.0.1', resolve);
      })
    );
    // A TCP server's address is an AddressInfo (a string only for a pipe or a Unix socket).
    proxy.port = /** @type {import('node:net').AddressInfo} */ (proxy.server.address()).port;
    return proxy;
  }

  /** @param {Target} target */
  constructor(target) {
    super();
    this.target = target;
    /** The port it listens on, once start() has resolved. */
    this.port = 0;
    /** @type {Set<Pair>} */
    this.pairs = new Set();
    this.holding = false;
    /** @type {Pair[]} */
    this.held = [];
    this.stalled = false;
    /** Client connections accepted so far. */
    this.accepted = 0;
    this.server = net.createServer((client) => this.accept(client));
  }

  /**
   * `amqp://user:pass@127.0.0.1:<proxy port>/vhost` from the broker's URL.
   * @param {string} brokerUrl
   * @returns {string}
   */
  url(brokerUrl) {
    const url = new URL(brokerUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString().replace(/\/$/, '');
  }

  /**
   * Open client connections.
   * @returns {number}
   */
  get connections() {
    return this.pairs.size;
  }

  /** New connections are accepted but not forwarded until release(): a dial that hangs. */
  hold() {
    this.holding = true;
  }

  /** Forwards the connections held since hold(), and new ones. */
  release() {
    this.holding = false;
    for (const pair of this.held.splice(0)) this.forward(pair);
  }

  /** Stops moving bytes both ways on every connection (and new ones), keeping the sockets open. */
  stall() {
    this.stalled = true;
  }

  /** Moves the bytes held during the stall, in order, and forwards again. */
  unstall() {
    this.stalled = false;
    for (const pair of this.pairs) {
      for (const [from, to] of [
        [pair.client, pair.upstream],
        [pair.upstream, pair.client],
      ]) {
        // A held pair has no upstream yet; a dialling one is resumed by forward() once connected.
        if (!from || !to || to.connecting) continue;
        for (const chunk of backlogOf(pair, from).splice(0)) to.write(chunk);
        from.resume();
      }
    }
  }

  /** Destroys every connection (the peers see them end), and a stall with them; the proxy keeps listening. */
  drop() {
    for (const pair of [...this.pairs]) this.end(pair);
    this.held.length = 0;
    this.stalled = false;
  }

  /** Stops listening and drops everything. */
  async close() {
    this.drop();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** @param {Socket} client */
  accept(client) {
    this.accepted++;
    /** @type {Pair} */
    const pair = { client, upstream: null, backlog: new Map([[client, []]]) };
    this.pairs.add(pair);
    client.on('error', () => this.end(pair));
    client.on('close', () => this.end(pair));
    client.on('data', (chunk) => this.pass(pair, client, chunk));
    client.pause();
    this.emit('accepted', pair);
    if (this.holding) this.held.push(pair);
    else this.forward(pair);
  }

  /** @param {Pair} pair */
  forward(pair) {
    if (!this.pairs.has(pair)) return;
    const upstream = net.connect(this.target);
    pair.upstream = upstream;
    pair.backlog.set(upstream, []);
    upstream.on('error', () => this.end(pair));
    upstream.on('close', () => this.end(pair));
    upstream.on('data', (chunk) => this.pass(pair, upstream, chunk));
    upstream.once('connect', () => {
      if (!this.pairs.has(pair)) return;
      this.emit('forwarding', pair);
      if (this.stalled) return; // unstall() moves what the client sent meanwhile
      for (const chunk of backlogOf(pair, pair.client).splice(0)) upstream.write(chunk);
      pair.client.resume();
    });
  }

  /**
   * @param {Pair} pair
   * @param {Socket} from
   * @param {Buffer} chunk
   */
  pass(pair, from, chunk) {
    const to = from === pair.client ? pair.upstream : pair.client;
    if (this.stalled || !to) {
      backlogOf(pair, from).push(chunk);
      from.pause(); // the peer's writes back up in the kernel, as on a stalled network
      return;
    }
    to.write(chunk);
  }

  /** @param {Pair} pair */
  end(pair) {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    if (pair.upstream) pair.upstream.destroy();
    this.emit('closed', pair);
  }

  /**
   * Resolves once the proxy has no open connection (e.g. a discarded dial's socket was closed).
   * @returns {Promise<void>}
   */
  idle() {
    if (this.pairs.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.pairs.size > 0) return;
        this.removeListener('closed', check);
        resolve();
      };
      this.on('closed', check);
    });
  }
}

/**
 * The bytes `socket` sent that are not passed on yet (accept() and forward() give each socket its list).
 * @param {Pair} pair
 * @param {Socket} socket
 * @returns {Buffer[]}
 */
function backlogOf(pair, socket) {
  return /** @type {Buffer[]} */ (pair.backlog.get(socket));
}

module.exports = { TcpProxy };
