'use strict';
// log hook in serves through Node-RED's node HTTP server, so Node-RED's settings for
// it apply as they do to http in: httpNodeAuth (basic authentication before the
// route), httpNodeCors (the headers, and the OPTIONS preflight) and httpNodeMiddleware
// (run ahead of the route). Each in a real Node-RED started with that setting.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
// Node-RED checks httpNodeAuth's password with bcryptjs, its own dependency.
const bcrypt = require(
  require.resolve('bcryptjs', { paths: [path.dirname(require.resolve('node-red/package.json'))] }),
);
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed } = require('../helpers/node-red-process');

const EXAMPLE = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../examples/kumomta-webhook-to-amqp.json'), 'utf8'),
);
const HOOK_ID = EXAMPLE.find((n) => n.type === 'kumo-log-hook').id;
const SECRET = 'hook secret';

/** The webhook example on the test broker, publishing to `queue`, with a secret. */
function exampleFlow(queue) {
  const tab = { id: 'tab', type: 'tab', label: 'webhook' };
  return [
    tab,
    ...EXAMPLE.map((n) => {
      if (n.type === 'amqp-broker') return { ...n, url: AMQP_URL };
      if (n.type === 'amqp-publish') return { ...n, z: tab.id, routingKey: queue, declareQueue: queue };
      return { ...n, z: tab.id };
    }),
  ];
}

const RECORD = JSON.stringify({
  type: 'Delivery',
  id: '1d98076abbbc11ed940250ebf67f93bd',
  sender: 'noreply@example.com',
  recipient: 'user@example.com',
  queue: 'example.com',
  site: '',
  size: 10,
  response: { code: 250, enhanced_code: null, content: 'OK', command: null },
  timestamp: 1678069691,
  created: 1678069690,
  num_attempts: 0,
  event_time: '2023-03-06T02:28:11.000000Z',
  created_time: '2023-03-06T02:28:10.000000Z',
});

// httpNodeMiddleware is a function, which the settings file (JSON) cannot hold: a module
// preloaded into Node-RED adds it to the settings object as red.js requires it.
const MIDDLEWARE_PRELOAD = `
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (request === process.env.KUMO_TEST_SETTINGS && !loaded.httpNodeMiddleware) {
    loaded.httpNodeMiddleware = (req, res, next) => {
      res.setHeader('X-Test-Middleware', 'ran');
      if (req.headers['x-block'] === 'yes') {
        res.status(403).send('blocked by middleware');
        return;
      }
      next();
    };
  }
  return loaded;
};
`;

describe('log hook in with Node-RED http settings (httpNodeAuth, httpNodeCors, httpNodeMiddleware)', function () {
  this.timeout(60000);
  let side;
  let nodeRed = null;
  let queue;
  beforeEach(async () => {
    side = await SideChannel.open();
    queue = await side.queue(uniqueName('hook-http'));
  });
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  const start = (options = {}) =>
    startNodeRed(exampleFlow(queue), { credentials: { [HOOK_ID]: { secret: SECRET } }, ...options });
  const post = (headers = {}) =>
    fetch(`${nodeRed.url}/kumomta/log`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-kumo-secret': SECRET, ...headers },
      body: RECORD,
    });

  it('httpNodeAuth: no or wrong credentials are refused before the node (401, Basic challenge); right ones reach it', async function () {
    nodeRed = await start({
      settings: { httpNodeAuth: { user: 'kumomta', pass: bcrypt.hashSync('s3cret', 8) } },
    });
    const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    for (const headers of [
      {},
      { authorization: basic('kumomta', 'wrong') },
      { authorization: basic('other', 's3cret') },
    ]) {
      const res = await post(headers);
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/, 'Node-RED answered, not the node');
    }
    assert.equal(await side.count(queue), 0);
    const res = await post({ authorization: basic('kumomta', 's3cret') });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(await res.text(), /^250 \{"status":"Ack"/);
    const [stored] = await side.drain(queue);
    assert.equal(stored.content.toString('utf8'), RECORD);
  });

  it('httpNodeCors: the answer carries the CORS headers and OPTIONS is answered as a preflight', async function () {
    // With the editor on the same root, Node-RED's editor API answers every OPTIONS itself (origin
    // '*') before any node route, for http in too: the editor gets a root of its own here.
    nodeRed = await start({
      settings: { httpAdminRoot: '/admin', httpNodeCors: { origin: 'https://ui.example', methods: 'POST' } },
    });
    const preflight = await fetch(`${nodeRed.url}/kumomta/log`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://ui.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-kumo-secret',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://ui.example');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(await side.count(queue), 0, 'a preflight publishes nothing');
    const res = await post({ origin: 'https://ui.example' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://ui.example');
    assert.equal(await side.count(queue), 1);
  });

  it('without httpNodeCors there are no CORS headers and no preflight route', async function () {
    nodeRed = await start({ settings: { httpAdminRoot: '/admin' } });
    const res = await post({ origin: 'https://ui.example' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${nodeRed.url}/kumomta/log`, {
      method: 'OPTIONS',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST' },
    });
    // Express's own answer to OPTIONS (Allow: POST), with no CORS headers.
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('allow'), 'POST');
  });

  it('httpNodeMiddleware: runs ahead of the node, and what it answers itself never reaches the node', async function () {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-node-red-'));
    const preload = path.join(userDir, 'middleware-preload.js');
    fs.writeFileSync(preload, MIDDLEWARE_PRELOAD);
    nodeRed = await start({
      userDir,
      nodeArgs: ['--require', preload],
      env: { KUMO_TEST_SETTINGS: path.join(userDir, 'settings.js') },
    });
    const blocked = await post({ 'x-block': 'yes' });
    assert.equal(blocked.status, 403);
    assert.equal(await blocked.text(), 'blocked by middleware');
    assert.equal(await side.count(queue), 0);
    const res = await post();
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-test-middleware'), 'ran');
    const [stored] = await side.drain(queue);
    assert.equal(stored.content.toString('utf8'), RECORD, 'the body reaches the node unread');
  });
});
