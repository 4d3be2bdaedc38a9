'use strict';
// What the fault-injection suites share: a RabbitMQ instance of their own
// (faults restart and alarm it, so never the shared test broker), started once
// for every file that asks and stopped after the run; a flow loader that also
// knows Node-RED's tls-config node; a side connection to any broker; and a
// ledger that counts every message's outcome by its own id.

const amqp = require('amqplib');
const { helper, load } = require('../../../helpers/node-red');
const brokers = require('../../../../scripts/brokers');

let faultBroker = null;
/**
 * The suite's own single-node broker (started on first use, stopped after the
 * whole run): a plain listener, a TLS one (client certificate required) and a
 * 1 MiB max_message_size, so an oversized payload is cheap to test. Its name
 * and ports are this run's own, so two runs in one checkout do not collide.
 * Resolves to startTlsBroker's result plus `plainUrl` (no userinfo) and `tlsUrl`.
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

/** Options for brokers.startCluster: a name and ports of this run's own. */
async function clusterOptions() {
  const ports = await brokers.freePorts(6);
  return { name: `kumo-amqp-cluster-${process.pid}`, ports: ports.slice(0, 3), distPorts: ports.slice(3) };
}

/** The tail of a broker's log, indented under the test, with why it is shown. */
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

/** Loads a flow with the pack and the core nodes (test/helpers/node-red.js); credentials by node id. */
function loadFlow(flow, credentials = {}) {
  return load(flow, credentials);
}

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

/** Feeds `total` messages to `node`, `perTick` every `tickMs`: a stream that lasts, so a fault lands in the middle of it. */
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

const range = (n) => new Set(Array.from({ length: n }, (_, i) => i));

/** A connection of the test's own, to set up queues and read back what arrived. */
class Side {
  static async open(url, socketOptions) {
    const side = new Side();
    side.connection = await amqp.connect(url, socketOptions);
    side.connection.on('error', () => undefined); // a broker stopped under it is expected here
    side.channel = await side.connection.createChannel();
    side.channel.on('error', () => undefined);
    return side;
  }

  async queue(name, options = {}) {
    await this.channel.assertQueue(name, { durable: true, ...options });
    return name;
  }

  async count(queue) {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Consumes every message now in the queue (prefetch, not basic.get: thousands of them). */
  async drain(queue) {
    const expected = await this.count(queue);
    const messages = [];
    if (expected === 0) return messages;
    const channel = await this.connection.createChannel();
    await channel.prefetch(1000);
    await new Promise((resolve, reject) => {
      channel.on('error', reject);
      channel
        .consume(queue, (m) => {
          messages.push(m);
          if (messages.length % 500 === 0 || messages.length >= expected) channel.ack(m, true);
          if (messages.length >= expected) resolve();
        })
        .catch(reject);
    });
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
  constructor(total) {
    this.total = total;
    this.outcomes = new Map(); // seq -> [final outcome, ...]
    this.transient = [];
    this.waiters = [];
  }

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

  /** The log records of a custom protocol node (its output 2). */
  watchRecords(node) {
    node.on('input', (msg) => {
      const type = msg.payload.type;
      if (type === 'TransientFailure') {
        this.transient.push({ seq: msg.seq, content: msg.payload.response.content });
        this.wake();
      } else {
        this.settle(msg.seq, type);
      }
    });
  }

  get settled() {
    return this.outcomes.size;
  }

  count(outcome) {
    let n = 0;
    for (const list of this.outcomes.values()) if (list[0] === outcome) n++;
    return n;
  }

  /** Messages settled more than once: never allowed (one message, one outcome). */
  get settledTwice() {
    return [...this.outcomes.entries()].filter(([, list]) => list.length > 1).map(([seq]) => seq);
  }

  until(predicate) {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }

  allSettled() {
    return this.until(() => this.settled >= this.total);
  }
}

/** Counts the sequence numbers found in stored messages (payload `{seq, ...}`): lost and duplicated ones. */
function audit(stored, expectedSeqs) {
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

/** A JSON body of about `size` bytes that names its message. */
function body(seq, size = 1024) {
  const head = JSON.stringify({ seq, pad: '' });
  return { seq, pad: 'x'.repeat(Math.max(0, size - head.length)) };
}

/** Resolves when `predicate(status)` holds for a status the Status node reports; statuses are kept in `list`. */
function statusWatch(node) {
  const list = [];
  const waiters = [];
  node.on('input', (msg) => {
    const entry = {
      source: msg.status.source.id,
      fill: msg.status.fill,
      shape: msg.status.shape,
      text: msg.status.text,
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

/** Pids of the broker's connections whose client-provided name is `name` (rabbitmqctl list_connections). */
async function connectionsNamed(instance, name) {
  // The table format, not --formatter json: close_connection wants the pid as <node.a.b.c>, which json rewrites.
  const { stdout } = await brokers.ctl(instance, ['list_connections', 'pid', 'client_properties', '--silent']);
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
