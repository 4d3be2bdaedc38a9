'use strict';
// The KumoMTA policy the README and docs/kumomta.md document, run as written in a
// real Lua VM (Lua 5.4, wasmoon), posting for real to the webhook example in a
// real Node-RED, which publishes to the real broker. The Lua is read out of the
// documents themselves, so what is proven is what an operator copies.
//
// KumoMTA's side is a stand-in that follows KumoMTA's own code (KumoCorp/kumomta):
// - kumo.http (crates/mod-http/src/lib.rs): a client's post(url) gives a request whose
//   header/body return it and whose send() takes it (used again: "broken request
//   builder"); the response answers status_code, status_reason (the canonical reason of
//   the code, or nil) and status_is_success at any time, but headers() only until text()
//   or bytes() has taken the body: after that it raises "broken response wrapper", as
//   ResponseWrapper does (docs/reference/kumo.http/Response.md). Header names are
//   looked up case-insensitively (http's HeaderMap). The client gives up after 60 s.
// - kumo.reject(code, message) raises; lua_deliver.rs turns it into a TransientFailure
//   for 400–499 and a Bounce otherwise, applied to every message of the batch; any
//   other error is a TransientFailure 400 "KumoMTA internal: error in deliver_message:
//   sender:send method failed: ..." (ready_queue.rs); a returned string is the Delivery's
//   disposition (lua_deliver.rs deliver_message).
// - A log hook's message (crates/kumod/src/logging/hooks.rs): its data is KumoMTA's JSON
//   of the record followed by a newline; its meta 'log_record' is the record, which
//   get_meta hands to Lua with nulls as nil (serialize_none_to_null(false):
//   crates/message/src/message.rs get_meta, crates/config/src/lib.rs serialize_options).
// - kumo.serde.json_encode (crates/mod-serde/src/lib.rs) rebuilds tables without their
//   array marker (materialize_to_lua_value), so an empty table is encoded as {}.
// - log_hooks:new (assets/policy-extras/log_hooks.lua) binds the constructor to
//   make.<name>.log_hook; the connection it returns gets send (batch_size 1) or send_batch.
//
// HTTP from Lua is synchronous, as KumoMTA's Lua sees it: the stand-in's send() runs
// the request in a child node process (execFileSync) and reads its answer.

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { LuaFactory } = require('wasmoon');
const amqp = require('amqplib');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { eventually } = require('../helpers/eventually');
const { startNodeRed, freePort } = require('../helpers/node-red-process');

const ROOT = path.join(__dirname, '../..');
const EXAMPLE = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/kumomta-webhook-to-amqp.json'), 'utf8'));
const HOOK_NODE = EXAMPLE.find((n) => n.type === 'kumo-log-hook');

/** The one Lua block of a document that sets up the log hook, as the document gives it. */
function documentedPolicy(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const blocks = [...text.matchAll(/```lua\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((b) => b.includes("require 'policy-extras.log_hooks'"));
  assert.equal(blocks.length, 1, `${file} has one Lua policy that requires policy-extras.log_hooks`);
  return blocks[0];
}

/** A string literal the policy assigns to a local, e.g. URL or SECRET. */
function policyConstant(lua, name) {
  const m = lua.match(new RegExp(`^local ${name} = '([^']*)'$`, 'm'));
  assert.ok(m, `the policy sets ${name}`);
  return m[1];
}

const DOCUMENTS = ['README.md', 'docs/kumomta.md'];
const SECRET = policyConstant(documentedPolicy(DOCUMENTS[0]), 'SECRET');
for (const doc of DOCUMENTS.slice(1)) assert.equal(policyConstant(documentedPolicy(doc), 'SECRET'), SECRET);

// The HTTP request of the stand-in's send(), run to completion in a child process.
const HTTP_CHILD = `
const http = require('node:http');
const req = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const r = http.request(req.url, { method: req.method, headers: req.headers, timeout: req.timeoutMs }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => process.stdout.write(JSON.stringify({
    status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
  })));
});
r.on('timeout', () => r.destroy(new Error('operation timed out')));
r.on('error', (err) => process.stdout.write(JSON.stringify({ error: err.message })));
r.end(req.body === null ? undefined : Buffer.from(req.body, 'utf8'));
`;

// KumoMTA's modules as far as the policy uses them; the __ functions are the JS below.
const PRELUDE = `
local Rejection = {}
local kumo = { http = {}, serde = {} }

function kumo.reject(code, message)
  error(setmetatable({ code = code, message = message }, Rejection), 0)
end

function kumo.serde.json_encode(value) return __json_encode(value) end
function kumo.serde.json_parse(text) return __json_parse(text) end
kumo.json_encode = kumo.serde.json_encode
kumo.json_parse = kumo.serde.json_parse

function kumo.http.build_client(options)
  local timeout = (options and options.timeout) or 60
  local open = true
  local client = {}
  local function request(method, url)
    if not open then error('client was closed', 0) end
    local builder = { headers = {}, body = nil }
    local req = {}
    local function take()
      if not builder then error('broken request builder', 0) end
      local b = builder
      builder = nil
      return b
    end
    function req:header(k, v) local b = take(); b.headers[#b.headers + 1] = { k, v }; builder = b; return self end
    function req:headers(t) for k, v in pairs(t) do self:header(k, v) end return self end
    function req:body(data) local b = take(); b.body = data; builder = b; return self end
    function req:send()
      local b = take()
      local res = __http_send(method, url, b.headers, b.body, timeout)
      local taken = false
      local response = {}
      function response:status_code() return res.status end
      function response:status_reason() return res.reason end
      function response:status_is_success() return res.status >= 200 and res.status < 300 end
      function response:headers()
        if taken then error('broken response wrapper', 0) end
        return setmetatable({}, { __index = function(_, name) return res.headers[string.lower(name)] end })
      end
      function response:text()
        if taken then error('broken response wrapper', 0) end
        taken = true
        return res.body
      end
      response.bytes = response.text
      return response
    end
    return req
  end
  function client:post(url) return request('POST', url) end
  function client:put(url) return request('PUT', url) end
  function client:get(url) return request('GET', url) end
  function client:close() open = false end
  return client
end

local log_hooks = {}
function log_hooks:new(options)
  assert(type(options.name) == 'string' and type(options.constructor) == 'function')
  __hooks[options.name] = options
end

__hooks = {}
package.preload['kumo'] = function() return kumo end
package.preload['policy-extras.log_hooks'] = function() return log_hooks end

-- A log hook's message: the record's JSON text and its meta.
function __message(data, meta)
  local msg = {}
  function msg:get_data() return data end
  function msg:get_meta(name) return meta[name] end
  return msg
end

-- lua_deliver.rs: send for batch_size 1, send_batch otherwise; the outcome of the call.
function __deliver(hook_name, batch, datas, metas)
  local messages = {}
  for i, data in ipairs(datas) do messages[i] = __message(data, metas[i]) end
  local options = __hooks[hook_name]
  local connection = options.constructor(hook_name .. '.log_hook', nil, nil)
  local ok, result
  if batch then
    ok, result = pcall(connection.send_batch, connection, messages)
  else
    ok, result = pcall(connection.send, connection, messages[1])
  end
  if ok then
    if type(result) ~= 'string' then return { kind = 'error', message = 'send did not return a string' } end
    return { kind = 'delivered', disposition = result }
  end
  if getmetatable(result) == Rejection then
    return { kind = 'rejected', code = result.code, message = result.message }
  end
  return { kind = 'error', message = tostring(result) }
end
`;

/** nulls as nil, as KumoMTA's serialize_options hand JSON to Lua. */
function withoutNulls(value) {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(withoutNulls);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
    return out;
  }
  return value;
}

/** A Lua VM with KumoMTA's stand-in and the documented policy; `target` is where its URL really points. */
async function policyVm(doc, target) {
  const lua = await new LuaFactory().createEngine({ enableProxy: false });
  const policy = documentedPolicy(doc);
  const documentedUrl = new URL(policyConstant(policy, 'URL'));
  const posts = [];
  lua.global.set('__http_send', (method, url, headerPairs, body, timeoutSec) => {
    // The documented URL names Node-RED on its default port; the test's Node-RED has one of its own.
    const u = new URL(url);
    assert.equal(u.origin, documentedUrl.origin);
    u.host = new URL(target()).host;
    const headers = {};
    for (const [k, v] of Object.values(headerPairs)) headers[k] = v;
    posts.push({ url, headers, body });
    const out = JSON.parse(
      execFileSync(process.execPath, ['-e', HTTP_CHILD], {
        input: JSON.stringify({ method, url: u.href, headers, body: body ?? null, timeoutMs: timeoutSec * 1000 }),
        maxBuffer: 64 * 1024 * 1024,
      }).toString('utf8'),
    );
    if (out.error) throw new Error(`error sending request for url (${url}): ${out.error}`);
    const lower = {};
    for (const [k, v] of Object.entries(out.headers)) lower[k] = Array.isArray(v) ? v[0] : v;
    return { status: out.status, reason: http.STATUS_CODES[out.status] ?? undefined, headers: lower, body: out.body };
  });
  lua.global.set('__json_encode', (value) => JSON.stringify(value));
  lua.global.set('__json_parse', (text) => withoutNulls(JSON.parse(text)));
  lua.doStringSync(PRELUDE);
  lua.doStringSync(policy);
  const hookName = lua.doStringSync('local n; for k in pairs(__hooks) do n = k end; return n');
  assert.equal(hookName, 'webhook');
  const batchSize = lua.doStringSync(`return __hooks['${hookName}'].batch_size or 1`);
  return {
    lua,
    posts,
    batchSize,
    /** One attempt of KumoMTA's Lua dispatcher over these log records (JSON texts), as send or send_batch. */
    deliver(texts, { batch = texts.length > 1 } = {}) {
      // hooks.rs ends the record's text with a newline.
      const datas = texts.map((text) => `${text}\n`);
      const metas = texts.map((text) => ({ log_record: withoutNulls(JSON.parse(text)) }));
      return lua.global.get('__deliver')(hookName, batch, datas, metas);
    },
    close: () => lua.global.close(),
  };
}

// KumoMTA's JSON of a log record (serde of JsonLogRecord): every field, nulls written out.
function kumoRecord(i, overrides = {}) {
  return JSON.stringify({
    type: 'Delivery',
    id: `${String(i).padStart(4, '0')}8076abbbc11ed940250ebf67f93bd`,
    sender: 'noreply@example.com',
    recipient: `user${i}@example.com`,
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: { code: 250, enhanced_code: null, content: 'OK ✉ ünïcödé', command: null },
    peer_address: null,
    timestamp: 1678069691 + i,
    created: 1678069690,
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: null,
    egress_source: null,
    source_address: null,
    feedback_report: null,
    meta: { tenant: 'tenant_y', tags: [], nested: { empty: [], none: null } },
    headers: {},
    delivery_protocol: null,
    reception_protocol: null,
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
    event_time: `2023-03-06T02:28:${String(11 + (i % 40)).padStart(2, '0')}.000000Z`,
    created_time: '2023-03-06T02:28:10.000000Z',
    ...overrides,
  });
}

/** The example as shipped, on the test broker, publishing to `queue`; its secret is the documented one. */
function exampleFlow(queue, { declare = true, change = (n) => n } = {}) {
  const tab = { id: 'tab', type: 'tab', label: 'webhook' };
  return [
    tab,
    ...EXAMPLE.map((n) => {
      if (n.type === 'amqp-broker') return { ...n, url: AMQP_URL };
      if (n.type === 'amqp-publish') return { ...n, z: tab.id, routingKey: queue, declareQueue: declare ? queue : '' };
      return { ...n, z: tab.id };
    })
      .map(change)
      .filter(Boolean),
  ];
}

/** Whether the broker has the queue, asked on a channel of its own (a 404 closes the channel it is asked on). */
async function queueExists(queue) {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.checkQueue(queue);
    return true;
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function startExample(flows, secret = SECRET) {
  return startNodeRed(flows, { credentials: { [HOOK_NODE.id]: { secret } } });
}

/** What KumoMTA's dispatcher makes of an outcome (lua_deliver.rs). */
function kumoVerdict(outcome) {
  if (outcome.kind === 'delivered') return 'Delivery';
  if (outcome.kind === 'rejected') return outcome.code >= 400 && outcome.code < 500 ? 'TransientFailure' : 'Bounce';
  return 'TransientFailure';
}

describe('the documented KumoMTA policy, in a Lua VM, against the webhook example', function () {
  this.timeout(60000);
  let side;
  let nodeRed = null;
  const vms = [];
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    for (const vm of vms.splice(0)) vm.close();
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });
  const vmFor = async (doc) => {
    const vm = await policyVm(doc, () => nodeRed.url);
    vms.push(vm);
    return vm;
  };

  it("the stand-in's response gives no headers once text() has read the body, as KumoMTA's ResponseWrapper", async function () {
    const queue = uniqueName('policy-wrapper');
    side.queues.push(queue);
    nodeRed = await startExample(exampleFlow(queue));
    const vm = await vmFor(DOCUMENTS[0]);
    const url = policyConstant(documentedPolicy(DOCUMENTS[0]), 'URL');
    const result = vm.lua.doStringSync(`
      local kumo = require 'kumo'
      local response = kumo.http.build_client {}:post('${url}'):body('not json'):send()
      local status, reason = response:status_code(), response:status_reason()
      local body = response:text()
      local ok, err = pcall(function() return response:headers() end)
      local again = pcall(function() return response:text() end)
      return { status = status, reason = reason, body = body, ok = ok, err = err, again = again,
        after = response:status_code() }
    `);
    // 401: no secret header. Status methods work before and after the body; headers() does not after it.
    assert.deepEqual(
      { ...result, body: typeof result.body },
      {
        status: 401,
        reason: 'Unauthorized',
        body: 'string',
        ok: false,
        err: 'broken response wrapper',
        again: false,
        after: 401,
      },
    );
  });

  for (const doc of DOCUMENTS) {
    describe(`from ${doc}`, function () {
      it('send: a 200 returns the disposition (a Delivery), and RabbitMQ holds the record as KumoMTA wrote it', async function () {
        const queue = uniqueName('policy-send');
        side.queues.push(queue);
        nodeRed = await startExample(exampleFlow(queue));
        const vm = await vmFor(doc);
        const text = kumoRecord(1);
        const outcome = vm.deliver([text], { batch: false });
        assert.equal(kumoVerdict(outcome), 'Delivery', JSON.stringify(outcome));
        assert.match(outcome.disposition, /^200 OK: 250 \{"status":"Ack"/);
        assert.equal(vm.posts[0].headers['X-Kumo-Secret'], SECRET);
        const [stored] = await side.drain(queue);
        // send posts get_data whole: KumoMTA's JSON and its newline, published as they are.
        assert.equal(stored.content.toString('utf8'), `${text}\n`);
        assert.equal(stored.properties.contentType, 'application/json');
      });

      it('send_batch: each record reaches RabbitMQ as KumoMTA wrote it, nulls and empty arrays kept', async function () {
        const queue = uniqueName('policy-batch');
        side.queues.push(queue);
        nodeRed = await startExample(exampleFlow(queue));
        const vm = await vmFor(doc);
        assert.ok(vm.batchSize > 1, 'the documented hook batches');
        const texts = Array.from({ length: 5 }, (_, i) =>
          kumoRecord(i, i === 2 ? { recipient: ['a@example.com', 'b@example.com'] } : {}),
        );
        const outcome = vm.deliver(texts);
        assert.equal(kumoVerdict(outcome), 'Delivery', JSON.stringify(outcome));
        assert.equal(outcome.disposition, '200 OK: 250 5 records confirmed');
        const stored = (await side.drain(queue)).map((m) => m.content.toString('utf8'));
        assert.equal(stored.length, 5);
        assert.deepEqual(
          stored.map((s) => JSON.parse(s)),
          texts.map((t) => JSON.parse(t)),
        );
        // Byte for byte: each element is the record's own JSON (the newline after it is the array's whitespace).
        assert.deepEqual(stored.sort(), texts.slice().sort());
        const first = JSON.parse(stored.find((s) => s.includes('"id":"0000')));
        assert.equal(first.peer_address, null);
        assert.equal(first.response.enhanced_code, null);
        assert.deepEqual(first.meta.tags, []);
        assert.deepEqual(first.meta.nested, { empty: [], none: null });
      });

      it('a 422 with the verdict bounces (reject 500), and nothing is published', async function () {
        const queue = uniqueName('policy-422');
        side.queues.push(queue);
        nodeRed = await startExample(exampleFlow(queue));
        // The precondition, made certain: the example's publish node has declared the queue, so a record
        // published by mistake would be counted there (not dropped by the default exchange).
        await eventually('the example declaring its queue', () => queueExists(queue));
        const vm = await vmFor(doc);
        const outcome = vm.deliver(['{"not":"a log record"}'], { batch: false });
        assert.deepEqual(
          { kind: outcome.kind, code: outcome.code, verdict: kumoVerdict(outcome) },
          { kind: 'rejected', code: 500, verdict: 'Bounce' },
        );
        assert.match(outcome.message, /^422 Unprocessable Entity: not a KumoMTA log record/);
        assert.equal(await side.count(queue), 0);
      });

      it('everything else is retried (reject 400, or an error): 500 Nack, 503 unbound, 401 secret, 404 redeploy, refused', async function () {
        this.timeout(120000);
        const queue = await side.queue(uniqueName('policy-full'), {
          arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' },
        });
        const vm = await vmFor(doc);
        const cases = [
          ['500', exampleFlow(queue, { declare: false }), SECRET, /^500 Internal Server Error: .*"status":"Nack"/],
          [
            '503',
            exampleFlow(queue, { change: (n) => (n.type === 'kumo-custom-protocol' ? null : n) }),
            SECRET,
            /^503 Service Unavailable: /,
          ],
          ['401', exampleFlow(queue, { declare: false }), 'another secret', /^401 Unauthorized: /],
          ['404', [{ id: 'tab', type: 'tab', label: 'empty' }], SECRET, /^404 Not Found: /],
        ];
        for (const [name, flows, secret, expected] of cases) {
          nodeRed = await startExample(flows, secret);
          for (const batch of [false, true]) {
            const outcome = vm.deliver([kumoRecord(1), kumoRecord(2)].slice(0, batch ? 2 : 1), { batch });
            assert.deepEqual({ name, kind: outcome.kind, code: outcome.code }, { name, kind: 'rejected', code: 400 });
            assert.equal(kumoVerdict(outcome), 'TransientFailure');
            assert.match(outcome.message, expected, name);
          }
          await nodeRed.stop();
          nodeRed = null;
        }
        // Nothing listens: send() raises, which KumoMTA logs as a TransientFailure 400 and retries.
        const port = await freePort();
        nodeRed = { url: `http://127.0.0.1:${port}`, stop: async () => undefined };
        const outcome = vm.deliver([kumoRecord(1)], { batch: false });
        assert.equal(outcome.kind, 'error');
        assert.match(outcome.message, /ECONNREFUSED/);
        assert.equal(kumoVerdict(outcome), 'TransientFailure');
        assert.equal(await side.count(queue), 0);
      });
    });
  }

  it('a batch re-posted after one refusal publishes its other records again: N-1 duplicates, found by id + type + event_time', async function () {
    const N = 5;
    // Room for N, one place taken: the broker refuses (Nack) one record of the first post only.
    const queue = await side.queue(uniqueName('policy-dup'), {
      arguments: { 'x-max-length': N, 'x-overflow': 'reject-publish' },
    });
    side.channel.sendToQueue(queue, Buffer.from('filler'));
    await side.channel.checkQueue(queue); // the filler is in before the batch
    nodeRed = await startExample(exampleFlow(queue, { declare: false }));
    const vm = await vmFor(DOCUMENTS[0]);
    const texts = Array.from({ length: N }, (_, i) => kumoRecord(i));
    const first = vm.deliver(texts);
    // One disposition for the whole batch: KumoMTA retries all N (lua_deliver.rs).
    assert.equal(kumoVerdict(first), 'TransientFailure', JSON.stringify(first));
    assert.match(first.message, /^500 .*1 of 5 records not confirmed/);
    const drained = (await side.drain(queue)).map((m) => m.content.toString('utf8'));
    assert.equal(drained.shift(), 'filler');
    const consumed = drained;
    assert.equal(consumed.length, N - 1);
    const second = vm.deliver(texts);
    assert.equal(kumoVerdict(second), 'Delivery', JSON.stringify(second));
    consumed.push(...(await side.drain(queue)).map((m) => m.content.toString('utf8')));
    assert.equal(consumed.length, 2 * N - 1, `${N} records, ${N - 1} of them twice`);
    // A consumer keeps the first of each id + type + event_time.
    const seen = new Set();
    const unique = consumed.filter((text) => {
      const r = JSON.parse(text);
      const key = `${r.id} ${r.type} ${r.event_time}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    assert.deepEqual(unique.slice().sort(), texts.slice().sort());
  });

  it('the get_meta + json_encode form would change the records (why the documents post get_data)', async function () {
    const vm = await policyVm(DOCUMENTS[0], () => 'http://127.0.0.1:1');
    vms.push(vm);
    const text = kumoRecord(3);
    vm.lua.global.set('__data', `${text}\n`);
    vm.lua.global.set('__meta', { log_record: withoutNulls(JSON.parse(text)) });
    const reencoded = JSON.parse(
      vm.lua.doStringSync("return require('kumo').serde.json_encode(__message(__data, __meta):get_meta 'log_record')"),
    );
    assert.ok(!('peer_address' in reencoded) && !('egress_pool' in reencoded), 'nulls vanish');
    assert.deepEqual(reencoded.meta.tags, {}, 'an empty array becomes {}');
    assert.notDeepEqual(reencoded, JSON.parse(text));
  });
});
