'use strict';
// A real Node-RED process, flows deployed and exported through
// its admin API as the editor does, brokers whose passwords are unique
// secrets (one right, for a user made for the test; two wrong, one of them in
// the URL's userinfo). The credential passwords must appear nowhere: not in
// the flow export, not in any status text, log line or error message. The one
// typed into the URL is a setting, exported as written, but it too must never
// show in a status, log line or error.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { startNodeRed } = require('../../helpers/node-red-process');
const { startFaultBroker, Side, connectionsNamed, brokers } = require('./support/faults');

const RECORD = `
const seen = global.get('seen') || { statuses: [], errors: [], outcomes: [] };
global.set('seen', seen);
if (msg.status) seen.statuses.push({ id: msg.status.source.id, fill: msg.status.fill, text: msg.status.text });
else if (msg.error) seen.errors.push({ id: msg.error.source.id, message: msg.error.message });
else seen.outcomes.push({ which: msg.which, amqp: msg.amqp });
return null;`;

describe('faults: credentials never leak', function () {
  this.timeout(60000);
  const user = `kumo-user-${process.pid}`;
  const secret = `s3cret-${crypto.randomBytes(12).toString('hex')}`;
  const wrong = `wrong-${crypto.randomBytes(12).toString('hex')}`;
  const wrongInUrl = `urlpw-${crypto.randomBytes(12).toString('hex')}`;
  const secrets = [secret, wrong, wrongInUrl];
  let fb;
  let nodeRed;
  let side;

  before(async () => {
    fb = await startFaultBroker();
    await brokers.ctl(fb.instance, ['add_user', user, secret]);
    await brokers.ctl(fb.instance, ['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
    side = await Side.open(fb.url);
  });
  after(async () => {
    if (nodeRed) await nodeRed.stop();
    if (side) await side.close();
    await brokers.ctl(fb.instance, ['delete_user', user], { allowFailure: true });
  });

  function flows(queue) {
    const z = 'creds-tab';
    const port = new URL(fb.plainUrl).port;
    const publish = (id, broker, extra = {}) => ({
      id,
      type: 'amqp-publish',
      z,
      broker,
      routingKey: queue,
      routingKeyType: 'str',
      confirmTimeout: 5,
      wires: [['record'], ['record']],
      ...extra,
    });
    return [
      { id: z, type: 'tab', label: 'credentials' },
      // As the editor deploys them: credentials ride along on the node, Node-RED moves them to its credential store.
      {
        id: 'broker-right',
        type: 'amqp-broker',
        name: 'right password',
        url: fb.plainUrl,
        heartbeat: 10,
        connectionName: 'kumo-faults right',
        credentials: { username: user, password: secret },
      },
      {
        id: 'broker-wrong',
        type: 'amqp-broker',
        name: 'wrong password',
        url: fb.plainUrl,
        heartbeat: 10,
        connectionName: 'kumo-faults wrong',
        credentials: { username: user, password: wrong },
      },
      {
        id: 'broker-url',
        type: 'amqp-broker',
        name: 'password in url',
        url: `amqp://${user}:${wrongInUrl}@127.0.0.1:${port}`,
        heartbeat: 10,
        credentials: { username: '', password: '' },
      },
      { id: 'go-in', type: 'http in', z, url: '/go', method: 'post', wires: [['fan-out']] },
      {
        id: 'fan-out',
        type: 'function',
        z,
        outputs: 5,
        wires: [['go-done'], ['pub-right'], ['pub-wrong'], ['pub-url'], ['pub-404']],
        func: "return [msg, { payload: 'right', which: 'right' }, { payload: 'wrong', which: 'wrong' }, { payload: 'url', which: 'url' }, { payload: '404', which: '404' }];",
      },
      { id: 'go-done', type: 'http response', z, wires: [] },
      publish('pub-right', 'broker-right'),
      publish('pub-wrong', 'broker-wrong'),
      publish('pub-url', 'broker-url'),
      publish('pub-404', 'broker-right', { exchange: 'no-such-exchange' }),
      { id: 'catch-all', type: 'catch', z, scope: null, uncaught: false, wires: [['record', 'log-error']] },
      { id: 'status-all', type: 'status', z, scope: null, wires: [['record']] },
      // Errors written whole to the log too, so the scan of the log sees every field of them.
      { id: 'log-error', type: 'debug', z, active: true, tosidebar: true, console: true, complete: 'true', wires: [] },
      { id: 'record', type: 'function', z, func: RECORD, outputs: 1, wires: [[]] },
      { id: 'seen-in', type: 'http in', z, url: '/seen', method: 'get', wires: [['seen-fn']] },
      {
        id: 'seen-fn',
        type: 'function',
        z,
        func: "msg.payload = global.get('seen') || { statuses: [], errors: [], outcomes: [] }; return msg;",
        outputs: 1,
        wires: [['seen-done']],
      },
      { id: 'seen-done', type: 'http response', z, wires: [] },
    ];
  }

  const leaks = (text) => secrets.filter((s) => text.includes(s));

  it('the flow export, every status, every log line and every error message: 0 hits for the passwords', async () => {
    const queue = await side.queue('faults-credentials');
    await side.channel.purgeQueue(queue);
    nodeRed = await startNodeRed([]);
    const api = (p, init = {}) =>
      fetch(`${nodeRed.url}${p}`, {
        ...init,
        headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', ...(init.headers || {}) },
      });
    const deployed = await api('/flows', {
      method: 'POST',
      headers: { 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: flows(queue) }),
    });
    assert.equal(deployed.status, 200, await deployed.text());

    const empty = { statuses: [], errors: [], outcomes: [] };
    // Until the deployed flows have started, /seen is not routed yet (the editor's 404 page).
    const seen = async () => {
      const response = await api('/seen');
      return response.ok ? response.json() : empty;
    };
    // Another process's state: polled over HTTP.
    const poll = async (predicate, what) => {
      for (const deadline = Date.now() + 30000; ; ) {
        const s = await seen();
        if (predicate(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await poll(
      (s) =>
        s.statuses.some((x) => x.id === 'pub-right' && x.fill === 'green') &&
        s.statuses.some((x) => x.id === 'pub-wrong' && x.fill === 'red'),
      'statuses',
    );
    assert.equal((await api('/go', { method: 'POST', body: '{}' })).status, 200);
    let s = await poll((x) => x.outcomes.length + x.errors.length >= 4, 'four outcomes');
    assert.deepEqual(
      s.outcomes.map((o) => [o.which, o.amqp.status]),
      [['right', 'Ack']],
      'the right password works (so it was really used)',
    );
    const errorOf = (id) => s.errors.find((e) => e.id === id)?.message || '';
    assert.match(errorOf('pub-wrong'), /ACCESS.REFUSED/);
    assert.match(errorOf('pub-url'), /ACCESS.REFUSED/);
    assert.match(errorOf('pub-404'), /404/);

    // The broker drops the good connection: its reason travels through status and log too.
    const [pid] = await connectionsNamed(fb.instance, 'kumo-faults right');
    await brokers.ctl(fb.instance, ['close_connection', pid, `closed for ${user}`]);
    s = await poll(
      (x) => x.statuses.some((st) => st.id === 'pub-right' && /CONNECTION.FORCED/.test(st.text)),
      'the disconnected status',
    );

    // The export, as the editor's Export dialog gets it.
    const exported = await (await api('/flows')).text();
    const credentials = await (await api('/credentials/amqp-broker/broker-right')).json();
    const flowFile = fs.readFileSync(path.join(nodeRed.userDir, 'flows.json'), 'utf8');
    assert.ok(exported.includes('broker-right'), 'the export holds the broker nodes');
    // A password written into the URL is part of the url setting, so it is exported like any
    // setting (the help says to use the credential fields); it must still not reach status, logs or errors.
    assert.ok(exported.includes(wrongInUrl), 'the url setting is exported as the user wrote it');
    assert.deepEqual(
      credentials,
      { username: user, has_password: true },
      'the editor learns only that a password is set',
    );
    const statuses = s.statuses.map((x) => x.text);
    const errors = s.errors.map((x) => x.message);
    const stored = [exported, JSON.stringify(credentials), flowFile].join('\n').split(wrongInUrl).join('<url setting>');
    const places = {
      'export, credentials API, flows.json': stored,
      statuses: statuses.join('\n'),
      errors: errors.join('\n'),
      log: nodeRed.log,
    };
    const hits = Object.entries(places).flatMap(([where, text]) =>
      leaks(text).map((secretHit) => `${where}: ${secretHit.slice(0, 8)}…`),
    );
    assert.deepEqual(hits, []);
    assert.ok(
      nodeRed.log.includes('ACCESS_REFUSED') || nodeRed.log.includes('ACCESS-REFUSED'),
      'the log has the errors (the scan looked at them)',
    );
    console.log(
      `      [figures] credentials: 3 passwords scanned in the flow export (${exported.length} B), flows.json, ${statuses.length} statuses, ` +
        `${errors.length} error messages and ${nodeRed.log.split('\n').length} log lines: 0 hits`,
    );
  });

  it('a password with reserved characters in the URL: %-escaped or @ : , as typed, it logs in; a / as typed is refused; none shows', async () => {
    const odd = `O@d/d:p?w#%,x y'${crypto.randomBytes(6).toString('hex')}`;
    const typed = `T@pd:w, ${crypto.randomBytes(6).toString('hex')}`;
    const short = `e@${crypto.randomBytes(6).toString('hex')}`;
    const oddUser = `kumo-odd-${process.pid}`;
    const typedUser = `kumo-typed-${process.pid}`;
    await brokers.ctl(fb.instance, ['add_user', oddUser, odd]);
    await brokers.ctl(fb.instance, ['add_user', typedUser, typed]);
    for (const who of [oddUser, typedUser]) {
      await brokers.ctl(fb.instance, ['set_permissions', '-p', '/', who, '.*', '.*', '.*']);
    }
    const [deadPort] = await brokers.freePorts(1);
    const queue = await side.queue('faults-credentials-odd');
    await side.channel.purgeQueue(queue);
    const port = new URL(fb.plainUrl).port;
    const z = 'odd-tab';
    const broker = (id, url) => ({
      id,
      type: 'amqp-broker',
      url,
      heartbeat: 10,
      credentials: { username: '', password: '' },
    });
    const publish = (id, brokerId) => ({
      id,
      type: 'amqp-publish',
      z,
      broker: brokerId,
      routingKey: queue,
      routingKeyType: 'str',
      confirmTimeout: 5,
      wires: [['record'], ['record']],
    });
    const which = ['escaped', 'typed', 'slash', 'short'];
    const flows = [
      { id: z, type: 'tab', label: 'odd passwords' },
      broker('broker-escaped', `amqp://${oddUser}:${encodeURIComponent(odd)}@127.0.0.1:${port}`),
      // A cluster whose first member is down: the second one's password holds @, : and a comma as typed.
      broker('broker-typed', `amqp://127.0.0.1:${deadPort}, amqp://${typedUser}:${typed}@127.0.0.1:${port}`),
      broker('broker-slash', `amqp://${oddUser}:${odd}@127.0.0.1:${port}`),
      // A wrong password whose part before its @ is one letter: that letter must not be masked everywhere.
      broker('broker-short', `amqp://${typedUser}:${short}@127.0.0.1:${port}`),
      ...which.map((w) => publish(`pub-${w}`, `broker-${w}`)),
      { id: 'go-in', type: 'http in', z, url: '/go', method: 'post', wires: [['fan-out']] },
      {
        id: 'fan-out',
        type: 'function',
        z,
        outputs: 1 + which.length,
        wires: [['go-done'], ...which.map((w) => [`pub-${w}`])],
        func: `return [msg, ${which.map((w) => `{ payload: '${w}', which: '${w}' }`).join(', ')}];`,
      },
      { id: 'go-done', type: 'http response', z, wires: [] },
      { id: 'catch-all', type: 'catch', z, scope: null, uncaught: false, wires: [['record']] },
      { id: 'status-all', type: 'status', z, scope: null, wires: [['record']] },
      { id: 'record', type: 'function', z, func: RECORD, outputs: 1, wires: [[]] },
      { id: 'seen-in', type: 'http in', z, url: '/seen', method: 'get', wires: [['seen-fn']] },
      {
        id: 'seen-fn',
        type: 'function',
        z,
        func: "msg.payload = global.get('seen') || { statuses: [], errors: [], outcomes: [] }; return msg;",
        outputs: 1,
        wires: [['seen-done']],
      },
      { id: 'seen-done', type: 'http response', z, wires: [] },
    ];
    if (nodeRed) await nodeRed.stop();
    nodeRed = await startNodeRed([]);
    const api = (p, init = {}) =>
      fetch(`${nodeRed.url}${p}`, {
        ...init,
        headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', ...(init.headers || {}) },
      });
    const deployed = await api('/flows', {
      method: 'POST',
      headers: { 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    assert.equal(deployed.status, 200, await deployed.text());
    const seen = async () => {
      const response = await api('/seen');
      return response.ok ? response.json() : { statuses: [], errors: [], outcomes: [] };
    };
    const poll = async (predicate, what) => {
      for (const deadline = Date.now() + 30000; ; ) {
        const s = await seen();
        if (predicate(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const statusOf = (s, id, fill) => s.statuses.some((x) => x.id === id && x.fill === fill);
    await poll(
      (s) =>
        statusOf(s, 'pub-escaped', 'green') &&
        statusOf(s, 'pub-typed', 'green') &&
        statusOf(s, 'pub-slash', 'red') &&
        statusOf(s, 'pub-short', 'red'),
      'statuses',
    );
    assert.equal((await api('/go', { method: 'POST', body: '{}' })).status, 200);
    const s = await poll((x) => x.outcomes.length + x.errors.length >= which.length, 'four outcomes');
    assert.deepEqual(
      s.outcomes.map((o) => [o.which, o.amqp.status]).sort(),
      [
        ['escaped', 'Ack'],
        ['typed', 'Ack'],
      ],
      'both passwords logged in (so the URL gave amqplib exactly the password)',
    );
    const errorOf = (id) => s.errors.find((e) => e.id === id)?.message || '';
    assert.match(errorOf('pub-slash'), /write \/ as %2F/);
    assert.match(errorOf('pub-short'), /ACCESS.REFUSED/);
    assert.match(errorOf('pub-short'), /Handshake terminated by server.*Login was refused/, 'no "e" is masked');

    const tokens = [odd, typed, short].map((secret) => secret.slice(-12));
    const places = {
      statuses: s.statuses.map((x) => x.text).join('\n'),
      errors: s.errors.map((x) => x.message).join('\n'),
      log: nodeRed.log,
    };
    const hits = Object.entries(places).flatMap(([where, text]) =>
      [odd, typed, short, ...tokens].filter((secret) => text.includes(secret)).map((hit) => `${where}: ${hit}`),
    );
    assert.deepEqual(hits, []);
    for (const who of [oddUser, typedUser])
      await brokers.ctl(fb.instance, ['delete_user', who], { allowFailure: true });
  });
});
