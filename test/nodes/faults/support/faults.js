// @ts-check
'use strict';
// What the fault-injection suites share: a RabbitMQ instance of their own
// (faults restart and alarm it, so never the shared test broker), started once
// for every file that asks and stopped after the run; a flow loader that also
// knows Node-RED's tls-config node; a side connection to any broker; and a
// ledger that counts every message's outcome by its own id.

const amqp = require('amqplib');
const { helper, load } = require('../../../helpers/node-red');
const brokers = require('../../../../scripts/brokers');

/** @typedef {import('../../../helpers/node-red').FlowNode} FlowNode */
/** @typedef {import('node-red').Node} Node */
/** @typedef {import('node-red').NodeMessage} NodeMessage */
/** @typedef {import('amqplib').ConsumeMessage} ConsumeMessage */
/** @typedef {import('../../../../nodes/lib/core/kumo/log-record').LogRecord} LogRecord */
/**
 * A RabbitMQ instance as scripts/brokers.js starts it: its name (and directory) and ports.
 * @typedef {{ name: string, port: number, distPort: number, tlsPort?: number, config?: string }} BrokerInstance
 */
/**
 * The fault broker: startTlsBroker's result, and its two listeners' URLs without userinfo.
 * @typedef {Awaited<ReturnType<typeof brokers.startTlsBroker>> & { plainUrl: string, tlsUrl: string }} FaultBroker
 */

/** @type {Promise<FaultBroker> | null} */
let faultBroker = null;
/**
 * The suite's own single-node broker (started on first use, stopped after the
 * whole run): a plain listener, a TLS one (client certificate required) and a
 * 1 MiB max_message_size, so an oversized payload is cheap to test. Its name
 * and ports are this run's own, so two runs in one checkout do not collide.
 * Resolves to startTlsBroker's result plus `plainUrl` (no userinfo) and `tlsUrl`.
 * @returns {Promise<FaultBroker>}
 */
function startFaultBroker() {
  if (!faultBroker) {
    faultBroker = (async () => {
      const [port, tlsPort, distPort] = await brokers.freePorts(3);
      const fb = await brokers.startTlsBroker({
        name: `kumo-amqp-faults-${process.pid}`,
        port,
        tlsPort,
        distPort,
        config: 'max_message_size = 1048576',
      });
      return { ...fb, plainUrl: `amqp://127.0.0.1:${port}`, tlsUrl: `amqps://127.0.0.1:${tlsPort}` };
    })();
  }
  return faultBroker;
}

/**
 * Options for brokers.startCluster: a name and ports of this run's own.
 * @returns {Promise<{ name: string, ports: number[], distPorts: number[] }>}
 */
async function clusterOptions() {
  const ports = await brokers.freePorts(6);
  return { name: `kumo-amqp-cluster-${process.pid}`, ports: ports.slice(0, 3), distPorts: ports.slice(3) };
}

/**
 * The tail of a broker's log, indented under the test, with why it is shown.
 * @param {BrokerInstance} instance
 * @param {string} why
 */
function printBrokerLog(instance, why) {
  process.stdout.write(
    `\n      [broker log] ${why}; the last lines of ${instance.name}'s log:\n${brokers.logTail(instance, 60).replace(/^/gm, '        ')}\n`,
  );
}

if (typeof after === 'function') {
  // When a fault test fails, the broker's own account of it (a queue lost in a
  // crash, an alarm that did not clear) is what a CI log needs next to the assertion.
  afterEach(async function () {
    const test = this.currentTest;
    if (!faultBroker || !test || test.state !== 'failed' || !/^faults:/.test(test.fullTitle())) return;
    printBrokerLog((await faultBroker).instance, 'the test failed');
  });
  // A root hook: runs once, after every suite of the run.
  after(async function () {
    this.timeout(60000);
    if (faultBroker) await (await faultBroker).stop();
  });
}

/**
 * Loads a flow with the pack and the core nodes (test/helpers/node-red.js); credentials by node id.
 * @param {FlowNode[]} flow
 * @param {Record<string, object>} [credentials]
 * @returns {Promise<void>}
 */
function loadFlow(flow, credentials = {}) {
  return load(flow, credentials);
}

/**
 * An amqp-broker config node for `url` (credentials go apart, by its id).
 * @param {string} id
 * @param {string} url
 * @param {Record<string, unknown>} [overrides] settings to set or replace
 * @returns {FlowNode}
 */
function brokerNode(id, url, overrides = {}) {
  return {
    id,
    type: 'amqp-broker',
    name: `faults ${id}`,
    url,
    heartbeat: 5,
    connectionName: `kumo-faults ${id}`,
    ...overrides,
  };
}

/**
 * The documented routing, queue config ⇒ custom protocol → amqp publish, with
 * short retries (0.5 s, doubling up to 2 s) so an attempt that failed during a
 * fault is tried again soon after. Log records go to helper `records`, the
 * publish node's statuses to helper `statuses`, errors it raises to `errors`.
 * @param {object} options
 * @param {string} options.event the custom protocol's event name (the rule's constructor)
 * @param {string} options.url the broker node's URL
 * @param {string} options.queue
 * @param {string} [options.exchange]
 * @param {string} [options.routingKey] default: the queue
 * @param {number} [options.maxInFlight]
 * @param {number} [options.confirmTimeout] seconds
 * @param {Record<string, unknown>} [options.broker] settings of the broker node to set or replace
 * @returns {FlowNode[]}
 */
function routingFlow({
  event,
  url,
  queue,
  exchange = '',
  routingKey = queue,
  maxInFlight = 128,
  confirmTimeout = 10,
  broker = {},
}) {
  return [
    brokerNode('broker', url, broker),
    {
      id: 'qc',
      type: 'kumo-queue-config',
      queue: 'queue',
      queueType: 'msg',
      wires: [[]],
      rules: [
        {
          match: { domain: { op: 'eq', value: 'amqp' } },
          protocol: 'custom_lua',
          constructor: event,
          retry_interval: 0.5,
          max_retry_interval: 2,
          max_age: 600,
        },
      ],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      eventName: event,
      timeout: 60,
      maxInFlight,
      wires: [['pub'], ['records']],
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      broker: 'broker',
      exchange,
      routingKey,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout,
      wires: [[], []],
    },
    { id: 'records', type: 'helper' },
    { id: 'watcher', type: 'status', scope: ['pub'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['pub'], uncaught: false, wires: [['errors']] },
    { id: 'errors', type: 'helper' },
  ];
}

/**
 * One publish node `pub` on `broker`, with its confirmed messages to helper
 * `delivered`, its errors to helper `errors` and its statuses to helper `statuses`.
 * @param {FlowNode} broker the broker node
 * @param {Record<string, unknown>} [publish] settings of the publish node to set or replace
 * @returns {FlowNode[]}
 */
function publishFlow(broker, publish = {}) {
  return [
    broker,
    {
      id: 'pub',
      type: 'amqp-publish',
      broker: broker.id,
      routingKeyType: 'str',
      wires: [['delivered'], []],
      ...publish,
    },
    { id: 'delivered', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'errors', type: 'helper' },
    { id: 'watcher', type: 'status', scope: ['pub'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper' },
  ];
}

/**
 * Feeds `total` messages to `node`, `perTick` every `tickMs`: a stream that lasts, so a fault lands in the middle of it.
 * @param {Node} node
 * @param {number} total
 * @param {{ perTick?: number, tickMs?: number, make?: (seq: number) => NodeMessage }} [options]
 *   `make` builds message `seq` (default: a JSON body of about 1 KiB for queue `amqp`)
 * @returns {Promise<void>} once the last message is fed
 */
function stream(
  node,
  total,
  { perTick = 100, tickMs = 50, make = (seq) => ({ payload: body(seq), queue: 'amqp', seq }) } = {},
) {
  let seq = 0;
  return new Promise((resolve) => {
    const tick = () => {
      for (let i = 0; i < perTick && seq < total; i++, seq++) node.receive(make(seq));
      if (seq < total) setTimeout(tick, tickMs);
      else resolve();
    };
    tick();
  });
}

/**
 * The numbers 0 to n - 1.
 * @param {number} n
 * @returns {Set<number>}
 */
const range = (n) => new Set(Array.from({ length: n }, (_, i) => i));

/** A connection of the test's own, to set up queues and read back what arrived. */
class Side {
  /**
   * @param {string} url
   * @param {import('amqplib').SocketOptions} [socketOptions] e.g. a client certificate
   * @returns {Promise<Side>}
   */
  static async open(url, socketOptions) {
    const connection = await amqp.connect(url, socketOptions);
    connection.on('error', () => undefined); // a broker stopped under it is expected here
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return new Side(connection, channel);
  }

  /**
   * @param {import('amqplib').ChannelModel} connection
   * @param {import('amqplib').Channel} channel
   */
  constructor(connection, channel) {
    this.connection = connection;
    this.channel = channel;
  }

  /**
   * Declares a durable queue (unless `options` say otherwise).
   * @param {string} name
   * @param {import('amqplib').Options.AssertQueue} [options]
   * @returns {Promise<string>} the name
   */
  async queue(name, options = {}) {
    await this.channel.assertQueue(name, { durable: true, ...options });
    return name;
  }

  /**
   * The queue's ready messages, as the broker counts them.
   * @param {string} queue
   * @returns {Promise<number>}
   */
  async count(queue) {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /**
   * Consumes every message now in the queue (prefetch, not basic.get: thousands of them).
   * @param {string} queue
   * @returns {Promise<ConsumeMessage[]>}
   */
  async drain(queue) {
    const expected = await this.count(queue);
    /** @type {ConsumeMessage[]} */
    const messages = [];
    if (expected === 0) return messages;
    const channel = await this.connection.createChannel();
    await channel.prefetch(1000);
    await /** @type {Promise<void>} */ (
      new Promise((resolve, reject) => {
        channel.on('error', reject);
        channel
          .consume(queue, (m) => {
            // null: the broker cancelled the consumer (the queue was deleted), so the rest will not come.
            if (m === null) {
              reject(
                new Error(`the broker cancelled the consumer of ${queue} after ${messages.length} of ${expected}`),
              );
              return;
            }
            messages.push(m);
            if (messages.length % 500 === 0 || messages.length >= expected) channel.ack(m, true);
            if (messages.length >= expected) resolve();
          })
          .catch(reject);
      })
    );
    await channel.close();
    return messages;
  }

  async close() {
    await this.connection.close().catch(() => undefined);
  }
}

/**
 * Every message a test injects carries `seq`; the ledger records what became
 * of each one (Delivery, TransientFailure, Bounce, Expiration log records of a
 * custom protocol; or output 1 / output 2 / Catch of a publish node).
 */
class Ledger {
  /** @param {number} total the messages the test injects */
  constructor(total) {
    this.total = total;
    /** @type {Map<number, string[]>} seq -> [final outcome, ...] */
    this.outcomes = new Map();
    /** @type {{ seq: number, content: string }[]} */
    this.transient = [];
    /** @type {{ predicate: () => boolean, resolve: () => void }[]} */
    this.waiters = [];
  }

  /**
   * Records a final outcome of message `seq` (a log record's type, or what a publish node did).
   * @param {number} seq
   * @param {string} outcome
   */
  settle(seq, outcome) {
    const list = this.outcomes.get(seq) || [];
    list.push(outcome);
    this.outcomes.set(seq, list);
    this.wake();
  }

  /** Resolves the waiters whose predicate now holds (after any record: final or transient). */
  wake() {
    for (const w of this.waiters.slice()) {
      if (w.predicate()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  /**
   * The log records of a custom protocol node (its output 2), each on a msg that keeps the injected `seq`.
   * @param {Node} node the helper node wired to that output
   */
  watchRecords(node) {
    node.on('input', (msg) => {
      const record = /** @type {LogRecord} */ (msg.payload);
      const seq = /** @type {number} */ (msg.seq);
      if (record.type === 'TransientFailure') {
        this.transient.push({ seq, content: record.response.content });
        this.wake();
      } else {
        this.settle(seq, record.type);
      }
    });
  }

  /**
   * Messages with a final outcome.
   * @returns {number}
   */
  get settled() {
    return this.outcomes.size;
  }

  /**
   * Messages whose first final outcome is `outcome`.
   * @param {string} outcome
   * @returns {number}
   */
  count(outcome) {
    let n = 0;
    for (const list of this.outcomes.values()) if (list[0] === outcome) n++;
    return n;
  }

  /**
   * Messages settled more than once: never allowed (one message, one outcome).
   * @returns {number[]}
   */
  get settledTwice() {
    return [...this.outcomes.entries()].filter(([, list]) => list.length > 1).map(([seq]) => seq);
  }

  /**
   * Resolves once `predicate` holds (checked now and after every record).
   * @param {() => boolean} predicate
   * @returns {Promise<void>}
   */
  until(predicate) {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }

  /** @returns {Promise<void>} once every message has a final outcome */
  allSettled() {
    return this.until(() => this.settled >= this.total);
  }
}

/**
 * Counts the sequence numbers found in stored messages (payload `{seq, ...}`): lost and duplicated ones.
 * @param {import('amqplib').Message[]} stored
 * @param {Set<number>} expectedSeqs
 * @returns {{ stored: number, lost: number[], duplicates: number, unexpected: number[] }}
 */
function audit(stored, expectedSeqs) {
  /** @type {Map<number, number>} */
  const seen = new Map();
  for (const m of stored) {
    const { seq } = JSON.parse(m.content.toString());
    seen.set(seq, (seen.get(seq) || 0) + 1);
  }
  const lost = [...expectedSeqs].filter((seq) => !seen.has(seq));
  let duplicates = 0;
  for (const n of seen.values()) duplicates += n - 1;
  const unexpected = [...seen.keys()].filter((seq) => !expectedSeqs.has(seq));
  return { stored: stored.length, lost, duplicates, unexpected };
}

/**
 * A JSON body of about `size` bytes that names its message.
 * @param {number} seq
 * @param {number} [size]
 * @returns {{ seq: number, pad: string }}
 */
function body(seq, size = 1024) {
  const head = JSON.stringify({ seq, pad: '' });
  return { seq, pad: 'x'.repeat(Math.max(0, size - head.length)) };
}

/**
 * A status a Status node reported: the id of the node that showed it, its dot or ring, and when (epoch ms).
 * @typedef {{ source: string, fill?: string, shape?: string, text?: string, at: number }} StatusEntry
 */
/**
 * Resolves when `predicate(status)` holds for a status the Status node reports; statuses are kept in `list`.
 * @param {Node} node the helper node wired to the Status node
 * @returns {{
 *   list: StatusEntry[],
 *   next(predicate: (status: StatusEntry) => boolean): Promise<StatusEntry>,
 *   until(predicate: (status: StatusEntry) => boolean): Promise<StatusEntry>,
 * }} `next` waits for a status to come, `until` also looks at those seen already
 */
function statusWatch(node) {
  /** @type {StatusEntry[]} */
  const list = [];
  /** @type {{ predicate: (status: StatusEntry) => boolean, resolve: (status: StatusEntry) => void }[]} */
  const waiters = [];
  node.on('input', (msg) => {
    // What Node-RED's Status node sends: msg.status with the node that showed it as `source`.
    const status = /** @type {{ fill?: string, shape?: string, text?: string, source: { id: string } }} */ (msg.status);
    const entry = {
      source: status.source.id,
      fill: status.fill,
      shape: status.shape,
      text: status.text,
      at: Date.now(),
    };
    list.push(entry);
    for (const w of waiters.slice()) {
      if (w.predicate(entry)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  return {
    list,
    next(predicate) {
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    until(predicate) {
      const hit = list.find(predicate);
      return hit ? Promise.resolve(hit) : this.next(predicate);
    },
  };
}

/**
 * Pids of the broker's connections whose client-provided name is `name` (rabbitmqctl list_connections).
 * @param {BrokerInstance} instance
 * @param {string} name
 * @returns {Promise<string[]>}
 */
async function connectionsNamed(instance, name) {
  // The table format, not --formatter json: close_connection wants the pid as <node.a.b.c>, which json rewrites.
  const { stdout } = /** @type {{ stdout: string }} */ (
    await brokers.ctl(instance, ['list_connections', 'pid', 'client_properties', '--silent'])
  );
  const needle = `{"connection_name",${JSON.stringify(name)}}`;
  return stdout
    .split('\n')
    .filter((line) => line.includes(needle))
    .map((line) => line.split('\t')[0]);
}

module.exports = {
  publishFlow,
  startFaultBroker,
  printBrokerLog,
  clusterOptions,
  loadFlow,
  brokerNode,
  routingFlow,
  stream,
  range,
  Side,
  Ledger,
  audit,
  body,
  statusWatch,
  connectionsNamed,
  brokers,
  helper,
};
