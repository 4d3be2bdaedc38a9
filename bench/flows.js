'use strict';
// The Node-RED flows of rows (d)-(h). Rows (d), (e), (e′), (e_b) and (g) share the bench-only
// driver node (harness/bench-driver.js): POST /bench/start makes it generate N
// messages (1 KiB Buffer payloads) while keeping `window` of them unconfirmed,
// it counts what leaves the publish node (a custom protocol batch counts as its
// messages) and answers the POST with the timings once all N are settled.
// GET /bench/status shows progress (for a run that stalls). Rows (f) and (h) are
// driven over HTTP by run.js.

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, QUEUE } = require('./lib');

// The custom protocol node's default; BENCH_MAX_IN_FLIGHT tries another.
const MAX_IN_FLIGHT = Number(process.env.BENCH_MAX_IN_FLIGHT) || 128;
// The webhook example's custom protocol as shipped, unless BENCH_WEBHOOK_MAX_IN_FLIGHT tries another.
const WEBHOOK_MAX_IN_FLIGHT = Number(process.env.BENCH_WEBHOOK_MAX_IN_FLIGHT) || null;

function harness(tab, firstHop) {
  return [
    {
      id: 'bench-start',
      type: 'http in',
      z: tab,
      url: '/bench/start',
      method: 'post',
      upload: false,
      swaggerDoc: '',
      wires: [['bench-fn']],
    },
    {
      id: 'bench-status',
      type: 'http in',
      z: tab,
      url: '/bench/status',
      method: 'get',
      upload: false,
      swaggerDoc: '',
      wires: [['bench-fn']],
    },
    { id: 'bench-fn', type: 'kumo-bench-driver', z: tab, name: 'bench', wires: [[firstHop], ['bench-reply']] },
    { id: 'bench-reply', type: 'http response', z: tab, name: '', statusCode: '', headers: {}, wires: [] },
    // Publish errors (done(err)) count as failed messages instead of stalling the run.
    { id: 'bench-catch', type: 'catch', z: tab, name: '', scope: null, uncaught: false, wires: [['bench-fn']] },
  ];
}

function broker(url) {
  return {
    id: 'bench-broker',
    type: 'amqp-broker',
    name: 'bench broker',
    url,
    tls: '',
    heartbeat: '60',
    connectionName: 'kumo-bench',
  };
}

function publishNode(tab) {
  return {
    id: 'bench-publish',
    type: 'amqp-publish',
    z: tab,
    name: '',
    broker: 'bench-broker',
    exchange: '',
    routingKey: QUEUE,
    routingKeyType: 'str',
    persistent: true,
    mandatory: false,
    returnedAs: 'transient',
    waitForConfirm: true,
    confirmTimeout: '30',
    maxWaiting: '10000',
    declareQueue: '',
    wires: [['bench-fn'], ['bench-fn']],
  };
}

/** (d) bench → amqp publish. */
function publishAlone(url) {
  const tab = 'bench-tab';
  return [{ id: tab, type: 'tab', label: 'bench d' }, ...harness(tab, 'bench-publish'), publishNode(tab), broker(url)];
}

/**
 * (e) bench → queue config (domain amqp → make.amqp) ⇒ custom protocol make.amqp → amqp publish;
 * node defaults otherwise (the spool on). batchSize: the rule's custom_lua batch_size (e_b), which
 * makes the custom protocol hand amqp publish one msg per batch; spool: false for the rows that
 * measure what the spool costs.
 */
function fullRouting(url, maxInFlight = MAX_IN_FLIGHT, { batchSize = '', spool = true } = {}) {
  const tab = 'bench-tab';
  return [
    { id: tab, type: 'tab', label: 'bench e' },
    ...harness(tab, 'bench-queue-config'),
    {
      id: 'bench-queue-config',
      type: 'kumo-queue-config',
      z: tab,
      name: '',
      queue: 'queue',
      queueType: 'msg',
      rules: [
        {
          match: {
            domain: { op: 'eq', value: 'amqp' },
            tenant: { op: 'any', value: '' },
            campaign: { op: 'any', value: '' },
            routing_domain: { op: 'any', value: '' },
          },
          protocol: 'custom_lua',
          constructor: 'make.amqp',
          maildir_path: '',
          retry_interval: '20 minutes',
          max_retry_interval: '',
          max_age: '7 days',
          batch_size: String(batchSize),
          min_batch_size: '',
          max_batch_latency: '',
        },
      ],
      wires: [[]],
    },
    {
      id: 'bench-protocol',
      type: 'kumo-custom-protocol',
      z: tab,
      name: '',
      eventName: 'make.amqp',
      timeout: '60',
      maxInFlight: String(maxInFlight),
      spool,
      wires: [['bench-publish'], []],
    },
    publishNode(tab),
    broker(url),
  ];
}

/** (f) examples/kumomta-webhook-to-amqp.json as shipped, in a tab, its broker and queue pointed at the bench's. */
function webhookExample(url) {
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/kumomta-webhook-to-amqp.json'), 'utf8'));
  const tab = 'bench-tab';
  return [
    { id: tab, type: 'tab', label: 'bench f' },
    ...example.map((n) => {
      if (n.type === 'amqp-broker') return { ...n, url };
      if (n.type === 'amqp-publish') return { ...n, z: tab, routingKey: QUEUE, declareQueue: QUEUE };
      if (n.type === 'kumo-custom-protocol' && WEBHOOK_MAX_IN_FLIGHT)
        return { ...n, z: tab, maxInFlight: String(WEBHOOK_MAX_IN_FLIGHT) };
      return { ...n, z: tab };
    }),
  ];
}

/** (h) Node-RED's bare http in → http response: the same requests as (f), answered at once, no AMQP. */
function bareHttp() {
  const tab = 'bench-tab';
  return [
    { id: tab, type: 'tab', label: 'bench h' },
    {
      id: 'bench-echo',
      type: 'http in',
      z: tab,
      url: '/bench/echo',
      method: 'post',
      upload: false,
      skipBodyParsing: true,
      swaggerDoc: '',
      wires: [['bench-echo-reply']],
    },
    { id: 'bench-echo-reply', type: 'http response', z: tab, name: '', statusCode: '', headers: {}, wires: [] },
  ];
}

/** (g) bench → node-red-contrib-amqp's "amqp out" to the bench queue (no confirms: it has none). */
function peerOut(url) {
  const tab = 'bench-tab';
  const u = new URL(url);
  const vhost = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const flows = [
    { id: tab, type: 'tab', label: 'bench g' },
    ...harness(tab, 'peer-out'),
    {
      id: 'peer-out',
      type: 'amqp out',
      z: tab,
      name: '',
      routingkey: '',
      iotype: '4',
      ioname: QUEUE,
      server: 'peer-server',
      wires: [],
    },
    {
      id: 'peer-server',
      type: 'amqp-server',
      host: u.hostname,
      port: u.port || '5672',
      vhost,
      keepalive: '30',
      usetls: u.protocol === 'amqps:',
      verifyservercert: true,
      usetopology: false,
      topology: '{}',
    },
  ];
  const credentials = {
    'peer-server': {
      user: decodeURIComponent(u.username || 'guest'),
      password: decodeURIComponent(u.password || 'guest'),
    },
  };
  return { flows, credentials };
}

module.exports = { MAX_IN_FLIGHT, WEBHOOK_MAX_IN_FLIGHT, publishAlone, fullRouting, webhookExample, bareHttp, peerOut };
