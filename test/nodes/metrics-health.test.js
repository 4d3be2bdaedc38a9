'use strict';
// GET <httpAdminRoot>/kumo/metrics and /kumo/health in a real Node-RED against the real
// broker, behind adminAuth with a static token (adminAuth.tokens): after a known load
// through log hook in → queue config ⇒ custom protocol → amqp publish (some records
// rejected by a reject node) and back through amqp consume → amqp ack, every counter
// equals what was sent; the health answers 503 naming the broker while it is unreachable
// and 200 once it is back. amqp consume logs a cancel by the broker and its recovery.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed } = require('../helpers/node-red-process');
const { TcpProxy } = require('../helpers/tcp-proxy');
const { eventually } = require('../helpers/eventually');

const TOKEN = 'scrape-token-0123456789';
const NARROW_TOKEN = 'flows-only-token-0123456789';

// adminAuth.tokens is a function, which the settings file (JSON) cannot hold: a module
// preloaded into Node-RED adds it to the settings object as red.js requires it.
const TOKENS_PRELOAD = `
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (request === process.env.KUMO_TEST_SETTINGS && loaded.adminAuth && !loaded.adminAuth.tokens) {
    loaded.adminAuth.tokens = (token) =>
      Promise.resolve(
        token === ${JSON.stringify(TOKEN)}
          ? { username: 'prometheus', permissions: 'kumo.read' }
          : token === ${JSON.stringify(NARROW_TOKEN)}
            ? { username: 'viewer', permissions: 'flows.read' }
            : null,
      );
  }
  return loaded;
};
`;

function record(i, recipient) {
  return {
    type: 'Delivery',
    id: `${String(i).padStart(4, '0')}d98076abbbc11ed940250ebf67f93bd`.slice(0, 32),
    sender: 'noreply@example.com',
    recipient,
    queue: 'example.com',
    site: '',
    size: 10,
    response: { code: 250, enhanced_code: null, content: 'OK', command: null },
    timestamp: 1678069691,
    created: 1678069690,
    num_attempts: 0,
    event_time: '2023-03-06T02:28:11.000000Z',
    created_time: '2023-03-06T02:28:10.000000Z',
  };
}

/** Parses Prometheus's text format: `name{labels}` → value. */
function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    values.set(`${m[1]}${JSON.stringify(labels, Object.keys(labels).sort())}`, Number(m[3]));
  }
  return {
    /** The value of the series whose labels include `labels`; fails unless exactly one matches. */
    get(name, labels) {
      const found = [];
      for (const [key, value] of values) {
        if (!key.startsWith(`${name}{`)) continue;
        const has = JSON.parse(key.slice(name.length));
        if (Object.entries(labels).every(([k, v]) => has[k] === v)) found.push(value);
      }
      assert.equal(found.length, 1, `one series ${name} ${JSON.stringify(labels)}`);
      return found[0];
    },
    has(name, labels) {
      for (const key of values.keys()) {
        if (!key.startsWith(`${name}{`)) continue;
        const has = JSON.parse(key.slice(name.length));
        if (Object.entries(labels).every(([k, v]) => has[k] === v)) return true;
      }
      return false;
    },
  };
}

describe('metrics and health on the admin API (GET /kumo/metrics, /kumo/health, permission kumo.read)', function () {
  this.timeout(90000);
  let side;
  let proxy;
  let nodeRed;
  let queue;
  let event;

  const get = (what, token = TOKEN) =>
    fetch(`${nodeRed.url}/admin/kumo/${what}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const scrape = async () => {
    const res = await get('metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain;.*version=0\.0\.4/);
    return parseMetrics(await res.text());
  };
  const post = (body) =>
    fetch(`${nodeRed.url}/metrics-test/log`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  before(async () => {
    side = await SideChannel.open();
    queue = await side.queue(uniqueName('kumo-metrics'));
    event = uniqueName('make.metrics');
    const broker = new URL(AMQP_URL);
    proxy = await TcpProxy.start({ host: broker.hostname, port: Number(broker.port || 5672) });
    const flows = [
      { id: 'tab', type: 'tab', label: 'metrics' },
      { id: 'brk', type: 'amqp-broker', name: 'metrics broker', url: proxy.url(AMQP_URL), heartbeat: '5' },
      {
        id: 'hook',
        type: 'kumo-log-hook',
        z: 'tab',
        path: '/metrics-test/log',
        queue: 'metrics',
        queueType: 'str',
        wires: [['qc'], []],
      },
      {
        id: 'qc',
        type: 'kumo-queue-config',
        z: 'tab',
        queue: 'queue',
        queueType: 'msg',
        rules: [
          {
            match: { domain: { op: 'eq', value: 'metrics' } },
            protocol: 'custom_lua',
            constructor: event,
            retry_interval: '20 minutes',
            max_retry_interval: '',
            max_age: '7 days',
          },
        ],
        wires: [[]],
      },
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        z: 'tab',
        name: 'metrics protocol',
        eventName: event,
        spool: false,
        wires: [['sw'], ['records']],
      },
      { id: 'records', type: 'debug', z: 'tab', active: false, tosidebar: false, console: false, wires: [] },
      {
        id: 'sw',
        type: 'switch',
        z: 'tab',
        property: 'recipient',
        propertyType: 'msg',
        rules: [{ t: 'eq', v: 'bounce@example.com', vt: 'str' }, { t: 'else' }],
        checkall: 'false',
        outputs: 2,
        wires: [['rej'], ['pub']],
      },
      {
        id: 'rej',
        type: 'kumo-reject',
        z: 'tab',
        code: '550',
        codeType: 'num',
        message: 'no',
        messageType: 'str',
        wires: [],
      },
      {
        id: 'pub',
        type: 'amqp-publish',
        z: 'tab',
        broker: 'brk',
        routingKey: queue,
        routingKeyType: 'str',
        waitForConfirm: true,
        wires: [[], []],
      },
      // No name: its series carry its id.
      { id: 'con', type: 'amqp-consume', z: 'tab', broker: 'brk', queue, declare: false, wires: [['ack']] },
      { id: 'ack', type: 'amqp-ack', z: 'tab', name: 'metrics ack', wires: [['acked-debug']] },
      {
        id: 'acked-debug',
        type: 'debug',
        z: 'tab',
        name: 'acked',
        active: true,
        tosidebar: false,
        console: true,
        wires: [],
      },
    ];
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-node-red-'));
    const preload = path.join(userDir, 'tokens-preload.js');
    fs.writeFileSync(preload, TOKENS_PRELOAD);
    nodeRed = await startNodeRed(flows, {
      userDir,
      settings: {
        httpAdminRoot: '/admin',
        // A user nobody can log in as (not a bcrypt hash): the tokens function is the only way in.
        adminAuth: { type: 'credentials', users: [{ username: 'admin', password: '!', permissions: '*' }] },
      },
      nodeArgs: ['--require', preload],
      env: { KUMO_TEST_SETTINGS: path.join(userDir, 'settings.js') },
    });
  });

  after(async () => {
    await nodeRed?.stop();
    await proxy?.close();
    await side?.close();
  });

  it('refuses a request without a token, or with a token lacking kumo.read (401)', async () => {
    for (const what of ['metrics', 'health']) {
      assert.equal((await get(what, null)).status, 401, `${what} without a token`);
      assert.equal((await get(what, 'not-a-token')).status, 401, `${what} with an unknown token`);
      assert.equal((await get(what, NARROW_TOKEN)).status, 401, `${what} with flows.read only`);
    }
  });

  it('counts exactly the known load: accepted, delivered, bounced, publishes, consumed, acked, requests', async () => {
    const good = (i) => record(i, `user${i}@example.com`);
    const answers = [];
    answers.push(await post(Array.from({ length: 8 }, (_, i) => good(i))));
    answers.push(await post(Array.from({ length: 8 }, (_, i) => good(8 + i))));
    answers.push(await post(good(16)));
    answers.push(await post([0, 1, 2].map((i) => record(100 + i, 'bounce@example.com'))));
    const codes = answers.map((res) => res.status);
    assert.deepEqual(codes, [200, 200, 200, 500]);
    // The last of the 17 published records through amqp ack: consumed and acknowledged.
    await nodeRed.waitForLog(/(\[debug:acked\][\s\S]*){17}/, 30000);

    const m = await scrape();
    const cp = { node: 'metrics protocol', id: 'cp', flow: 'tab' };
    assert.equal(m.get('kumo_custom_protocol_accepted_total', cp), 20);
    assert.equal(m.get('kumo_custom_protocol_delivered_total', cp), 17);
    assert.equal(m.get('kumo_custom_protocol_bounced_total', cp), 3);
    assert.equal(m.get('kumo_custom_protocol_expired_total', cp), 0);
    assert.equal(m.get('kumo_custom_protocol_retries_total', cp), 0);
    assert.equal(m.has('kumo_custom_protocol_failed_total', cp), false, 'nothing refused');
    assert.equal(m.get('kumo_custom_protocol_queued', cp), 0);
    assert.equal(m.get('kumo_custom_protocol_in_flight', cp), 0);
    assert.equal(m.get('kumo_custom_protocol_waiting', cp), 0);
    assert.equal(m.get('kumo_custom_protocol_oldest_waiting_seconds', cp), 0);

    const pub = { node: 'pub', id: 'pub', flow: 'tab' };
    assert.equal(m.get('kumo_amqp_publish_messages_total', { ...pub, result: 'Ack' }), 17);
    for (const result of ['NotRequested', 'Nack', 'returned', 'timeout', 'refused', 'error'])
      assert.equal(m.get('kumo_amqp_publish_messages_total', { ...pub, result }), 0, result);
    assert.equal(m.get('kumo_amqp_publish_confirm_seconds_count', pub), 17);
    assert.equal(m.get('kumo_amqp_publish_confirm_seconds_bucket', { ...pub, le: '+Inf' }), 17);
    assert.ok(m.get('kumo_amqp_publish_confirm_seconds_sum', pub) > 0);
    assert.equal(m.get('kumo_amqp_publish_waiting', pub), 0);

    const con = { node: 'con', id: 'con', flow: 'tab' };
    assert.equal(m.get('kumo_amqp_consume_delivered_total', con), 17);
    assert.equal(m.get('kumo_amqp_consume_unacknowledged', con), 0);
    assert.equal(m.get('kumo_amqp_consume_oldest_unacknowledged_seconds', con), 0);
    for (const action of ['requeue', 'requeue-failed', 'reject'])
      assert.equal(m.get('kumo_amqp_consume_timed_out_total', { ...con, action }), 0, action);
    assert.equal(m.get('kumo_amqp_consume_delivery_count_count', con), 17);
    assert.equal(m.get('kumo_amqp_consume_delivery_count_bucket', { ...con, le: '0' }), 17, 'all first deliveries');
    const ack = { node: 'metrics ack', id: 'ack', flow: 'tab' };
    assert.equal(m.get('kumo_amqp_ack_acked_total', ack), 17);
    assert.equal(m.get('kumo_amqp_ack_rejected_total', ack), 0);
    for (const method of ['nack', 'reject'])
      assert.equal(m.get('kumo_amqp_ack_requeued_total', { ...ack, method }), 0, method);

    const hook = { node: 'hook', id: 'hook', flow: 'tab' };
    assert.equal(m.get('kumo_log_hook_requests_total', { ...hook, code: '200' }), 3);
    assert.equal(m.get('kumo_log_hook_requests_total', { ...hook, code: '500' }), 1);
    assert.equal(m.get('kumo_log_hook_records_per_request_count', hook), 4);
    assert.equal(m.get('kumo_log_hook_records_per_request_sum', hook), 20);

    const brk = { node: 'metrics broker', id: 'brk', flow: '' };
    assert.equal(
      m.get('kumo_amqp_broker_connected', { ...brk, url: proxy.url(AMQP_URL).replace(/\/\/[^@]*@/, '//') }),
      1,
    );
    assert.equal(m.get('kumo_amqp_broker_blocked', brk), 0);
    assert.equal(m.get('kumo_amqp_broker_blocked_seconds_total', brk), 0);
    assert.equal(await side.count(queue), 0, 'every published record was consumed and acked');
  });

  it('health: 200 while the broker is connected, 503 naming it while unreachable, 200 once it is back', async () => {
    const up = await get('health');
    assert.equal(up.status, 200);
    const body = await up.json();
    assert.equal(body.status, 'up');
    const [entry] = body.brokers;
    assert.equal(entry.broker, 'metrics broker');
    assert.equal(entry.state, 'connected');
    assert.ok(!Number.isNaN(Date.parse(entry.since)));

    const before = (await scrape()).get('kumo_amqp_broker_reconnects_total', { id: 'brk' });
    // New dials hang and the open connection dies: the broker is unreachable.
    proxy.hold();
    proxy.drop();
    await nodeRed.waitForLog(/connection to the broker lost/);
    const down = await get('health');
    assert.equal(down.status, 503);
    const downBody = await down.json();
    assert.equal(downBody.status, 'down');
    assert.equal(downBody.brokers[0].broker, 'metrics broker');
    assert.notEqual(downBody.brokers[0].state, 'connected');
    assert.ok(Date.parse(downBody.brokers[0].since) >= Date.parse(entry.since));
    const lost = await scrape();
    assert.equal(lost.has('kumo_amqp_broker_connected', { id: 'brk', flow: '' }), true);
    assert.equal(lost.get('kumo_amqp_broker_connected', { id: 'brk' }), 0);

    proxy.release();
    await nodeRed.waitForLog(/connection to the broker regained/);
    const back = await get('health');
    assert.equal(back.status, 200);
    assert.equal((await back.json()).brokers[0].state, 'connected');
    const after = await scrape();
    assert.equal(after.get('kumo_amqp_broker_reconnects_total', { id: 'brk' }), before + 1);
    assert.equal(after.get('kumo_amqp_broker_connected', { id: 'brk' }), 1);
  });

  it('amqp consume logs one line when the broker cancels its consumer, and one when it consumes again', async () => {
    // The precondition, made certain: the consumer consumes (after the health test's outage it reconnects, and a
    // consumer still reconnecting would declare the queue again rather than be cancelled).
    await eventually(
      'the consumer back on the queue',
      async () => (await side.channel.checkQueue(queue)).consumerCount === 1,
    );
    await side.channel.deleteQueue(queue);
    await nodeRed.waitForLog(/\[amqp-consume:con\] the broker cancelled the consumer of queue kumo-metrics-/);
    await side.channel.assertQueue(queue, { durable: true });
    await nodeRed.waitForLog(/\[amqp-consume:con\] consuming queue kumo-metrics-[0-9a-f]+ again, [0-9.]+ s after/);
    const lines = (pattern) => nodeRed.log.split('\n').filter((line) => pattern.test(line)).length;
    assert.equal(lines(/\[amqp-consume:con\] the broker cancelled/), 1);
    assert.equal(lines(/\[amqp-consume:con\] consuming queue/), 1);
  });
});

describe('settings.js kumoMetrics: false turns the metrics off', function () {
  this.timeout(60000);
  let nodeRed;

  before(async () => {
    nodeRed = await startNodeRed(
      [
        { id: 'tab', type: 'tab', label: 'metrics off' },
        {
          id: 'cp',
          type: 'kumo-custom-protocol',
          z: 'tab',
          name: 'unmeasured',
          eventName: `make.off${process.pid}`,
          spool: false,
          wires: [[], []],
        },
      ],
      { settings: { httpAdminRoot: '/admin', kumoMetrics: false } },
    );
  });

  after(async () => {
    await nodeRed?.stop();
  });

  it('serves neither /kumo/metrics nor /kumo/health, while the admin API answers', async () => {
    // The admin API is there (so a 404 below is the pack's choice, not a missing server).
    assert.equal((await fetch(`${nodeRed.url}/admin/settings`)).status, 200);
    for (const what of ['metrics', 'health']) {
      assert.equal((await fetch(`${nodeRed.url}/admin/kumo/${what}`)).status, 404, what);
    }
  });
});
