'use strict';
// The documented routing: queue config ⇒ custom protocol 'make.amqp' → amqp
// publish (→ reject), with KumoMTA's delivery lifecycle and log records.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector, until } = require('../helpers/node-red');
const { SideChannel, uniqueName } = require('../helpers/amqp');

const AMQP_RULE = {
  match: { domain: { op: 'eq', value: 'amqp' } },
  protocol: 'custom_lua',
  constructor: 'make.amqp',
  retry_interval: '20 minutes',
  max_retry_interval: '',
  max_age: '7 days',
};

function routingFlow({ queue, rules = [AMQP_RULE], protocol = {}, publish = {} } = {}) {
  return [
    brokerConfig(),
    { id: 'qc', type: 'kumo-queue-config', queue: 'queue', queueType: 'msg', rules, wires: [['other']] },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      eventName: 'make.amqp',
      timeout: 60,
      maxInFlight: 128,
      wires: [['attempts', 'pub'], ['records']],
      ...protocol,
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      broker: 'broker',
      exchange: '',
      routingKey: queue || 'logging',
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: 10,
      wires: [['delivered'], ['rejected']],
      ...publish,
    },
    {
      id: 'rej451',
      type: 'kumo-reject',
      code: '451',
      codeType: 'num',
      message: 'try later',
      messageType: 'str',
      wires: [[]],
    },
    {
      id: 'rej550',
      type: 'kumo-reject',
      code: '550',
      codeType: 'num',
      message: 'no such user',
      messageType: 'str',
      wires: [[]],
    },
    { id: 'other', type: 'helper' },
    { id: 'attempts', type: 'helper' },
    { id: 'records', type: 'helper' },
    { id: 'delivered', type: 'helper' },
    { id: 'rejected', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'errors', type: 'helper' },
  ];
}

async function start(options) {
  await load(routingFlow(options));
  const n = { qc: helper.getNode('qc'), cp: helper.getNode('cp'), pub: helper.getNode('pub') };
  for (const id of ['other', 'attempts', 'records', 'delivered', 'rejected', 'errors'])
    n[id] = collector(helper.getNode(id));
  return n;
}

// A KumoMTA log record as log_hooks:new_json posts it (reference/log_record.md).
function kumoLogRecord(overrides = {}) {
  return {
    type: 'Delivery',
    id: '1d98076abbbc11ed940250ebf67f93bd',
    sender: 'noreply@example.com',
    recipient: 'user@example.com',
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: {
      code: 250,
      enhanced_code: { class: 2, subject: 0, detail: 0 },
      content: 'OK ids=8a5475ccbbbc11edb7d3ebf6e2d3fe22',
      command: '.\r\n',
    },
    peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
    timestamp: 1678069691,
    created: 1678069691,
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: {},
    headers: {},
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
    ...overrides,
  };
}

describe('routing: queue config ⇒ custom protocol → amqp publish', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  describe('queue config picks the first matching rule and dispatches by event name', function () {
    it('routes each element of msg.messages as its own message, each to its own queue and outcome', async () => {
      const queue = await side.queue(uniqueName('routed-each'));
      const n = await start({ queue });
      n.qc.receive({
        payload: ['a', 'b', 'c'],
        messages: [
          { payload: 'a', queue: 'amqp', topic: 'first' },
          { payload: 'b', queue: 'tenant@example.com' },
          { payload: 'c', queue: 'amqp', topic: 'third' },
        ],
      });
      const attempts = await n.attempts.next(2);
      assert.deepEqual(
        attempts.map((m) => [m.payload, m.topic, m.queue.name]),
        [
          ['a', 'first', 'amqp'],
          ['c', 'third', 'amqp'],
        ],
      );
      assert.notEqual(attempts[0].kumo.id, attempts[1].kumo.id, 'two deliveries');
      const [other] = await n.other.next(1);
      assert.equal(other.payload, 'b', 'the element that is not custom_lua leaves alone, as it would have');
      assert.equal(other.queue.name, 'tenant@example.com');
      assert.equal(other.messages, undefined);
      const records = await n.records.next(2);
      assert.deepEqual(
        records.map((m) => m.payload.type),
        ['Delivery', 'Delivery'],
      );
      const stored = await side.drain(queue);
      assert.deepEqual(stored.map((m) => m.content.toString()).sort(), ['a', 'c']);
      assert.equal(n.errors.messages.length, 0);
    });

    it('sends each element of msg.messages that fails to Catch nodes with its own msg, and routes the others', async () => {
      const queue = await side.queue(uniqueName('routed-bad-element'));
      const n = await start({ queue });
      n.qc.receive({
        payload: [],
        messages: [{ payload: 'a', queue: 'amqp' }, 7, { payload: 'b', queue: 'no such queue!', topic: 'bad queue' }],
      });
      const errors = await n.errors.next(2);
      assert.ok(errors.every((e) => e.error.source.id === 'qc'));
      assert.match(errors[0].error.message, /an element of msg\.messages is number, not a message/);
      assert.equal(errors[0].payload, 7);
      assert.match(errors[1].error.message, /no such queue!/);
      assert.equal(errors[1].topic, 'bad queue', "the element's own msg");
      const [attempt] = await n.attempts.next(1);
      assert.equal(attempt.payload, 'a');
      await n.records.next(1);
      assert.deepEqual(
        (await side.drain(queue)).map((m) => m.content.toString()),
        ['a'],
      );
    });

    it('hands a message for queue "amqp" to the custom protocol bound to make.amqp, with msg.kumo', async () => {
      const queue = await side.queue(uniqueName('routed'));
      const n = await start({ queue });
      const record = kumoLogRecord();
      n.qc.receive({ payload: record, queue: 'amqp', topic: 'keep me' });
      const [attempt] = await n.attempts.next(1);
      assert.deepEqual(attempt.queue, {
        name: 'amqp',
        domain: 'amqp',
        tenant: null,
        campaign: null,
        routing_domain: null,
      });
      assert.deepEqual(attempt.queueConfig, {
        protocol: { custom_lua: { constructor: 'make.amqp' } },
        retry_interval: '20 minutes',
        max_retry_interval: null,
        max_age: '7 days',
      });
      assert.match(attempt.kumo.id, /^[0-9a-f]{32}$/);
      assert.deepEqual(
        { ...attempt.kumo, id: 'x' },
        {
          id: 'x',
          queue: 'amqp',
          domain: 'amqp',
          tenant: null,
          campaign: null,
          routing_domain: null,
          constructor: 'make.amqp',
          attempt: 1,
        },
      );
      assert.equal(n.other.messages.length, 0);
      const [log] = await n.records.next(1);
      assert.equal(log.topic, 'keep me', 'the rest of the original msg is kept');
      assert.equal(log.payload.type, 'Delivery');
      const [stored] = await side.drain(queue);
      assert.deepEqual(JSON.parse(stored.content.toString()), record, 'the log record arrives byte for byte as JSON');
    });

    it("sends queues that match no rule out of its output with KumoMTA's default smtp config", async () => {
      const n = await start({});
      n.qc.receive({ payload: 'x', queue: 'campaign:tenant@example.com!relay.example.net' });
      const [msg] = await n.other.next(1);
      assert.deepEqual(msg.queue, {
        name: 'campaign:tenant@example.com!relay.example.net',
        domain: 'example.com',
        tenant: 'tenant',
        campaign: 'campaign',
        routing_domain: 'relay.example.net',
      });
      assert.deepEqual(msg.queueConfig.protocol, { smtp: {} });
      assert.equal(msg.queueConfig.retry_interval, '20 minutes');
      assert.equal(n.attempts.messages.length, 0);
    });

    it('applies rules in order: the first match wins', async () => {
      const rules = [
        { match: { tenant: { op: 'regex', value: '^vip' } }, protocol: 'maildir', maildir_path: '/var/mail/vip' },
        { match: { domain: { op: 'any' } }, protocol: 'smtp', retry_interval: '5m' },
      ];
      const n = await start({ rules });
      n.qc.receive({ payload: 1, queue: { domain: 'example.com', tenant: 'vip-1' } });
      n.qc.receive({ payload: 2, queue: 'other@example.com' });
      const [first, second] = await n.other.next(2);
      assert.deepEqual(first.queueConfig.protocol, { maildir_path: '/var/mail/vip' });
      assert.deepEqual(second.queueConfig.protocol, { smtp: {} });
      assert.equal(second.queueConfig.retry_interval, '5m');
    });

    it('a custom_lua constructor with no bound node is a clear error naming it', async () => {
      const rules = [{ ...AMQP_RULE, constructor: 'make.nowhere' }];
      const n = await start({ rules });
      n.qc.receive({ payload: 'x', queue: 'amqp' });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /no custom protocol node is bound to the event "make\.nowhere"/);
    });

    it('a bad or missing queue is a clear error, never a silent drop', async () => {
      const n = await start({});
      n.qc.receive({ payload: 'x' });
      n.qc.receive({ payload: 'x', queue: 'a@b@c' });
      n.qc.receive({ payload: 'x', queue: { tenant: 'no-domain' } });
      const errors = (await n.errors.next(3)).map((m) => m.error.message);
      assert.match(errors[0], /msg\.queue: queue is missing/);
      assert.match(errors[1], /msg\.queue: .*a@b@c/);
      assert.match(errors[2], /msg\.queue: .*domain/);
    });
  });

  describe('outcomes become KumoMTA log records', function () {
    it('an Ack is a Delivery whose response is 200 "250 " + the JSON of msg.amqp', async () => {
      const queue = await side.queue(uniqueName('ack'));
      const n = await start({ queue });
      n.qc.receive({ payload: 'hello', queue: 'amqp' });
      const [log] = await n.records.next(1);
      const [delivered] = await n.delivered.next(1);
      const r = log.payload;
      assert.equal(r.type, 'Delivery');
      assert.equal(r.response.code, 200);
      assert.equal(r.response.content, `250 ${JSON.stringify(delivered.amqp)}`);
      assert.equal(r.site, 'unspecified->amqp@lua:make.amqp');
      assert.equal(r.queue, 'amqp');
      assert.equal(r.delivery_protocol, 'Lua');
      assert.equal(r.size, 5);
      assert.equal(r.num_attempts, 0);
      assert.equal(r.id, delivered.kumo.id);
      assert.equal(typeof r.timestamp, 'number');
      assert.equal(typeof r.event_time, 'string');
    });

    it("msg.sender and msg.recipient become the record's sender and recipient; anything but a string is a clear error", async () => {
      const queue = await side.queue(uniqueName('envelope'));
      const n = await start({ queue });
      n.qc.receive({
        payload: { to: 'someone' },
        queue: 'amqp',
        sender: 'bounce@example.com',
        recipient: 'user@example.net',
      });
      const [log] = await n.records.next(1);
      assert.equal(log.payload.type, 'Delivery');
      assert.equal(
        log.payload.size,
        Buffer.byteLength('{"to":"someone"}'),
        'an object payload is measured as the JSON published',
      );
      assert.equal(log.payload.sender, 'bounce@example.com');
      assert.equal(log.payload.recipient, 'user@example.net');
      n.qc.receive({ payload: 'x', queue: 'amqp', recipient: ['user@example.net'] });
      const [error] = await n.errors.next(1);
      assert.match(error.error.message, /msg\.recipient must be a string .* got an array/);
      assert.equal(n.attempts.messages.length, 1, 'the refused message was not sent');
    });

    it('a delivered message stays delivered: its attempt timeout passing later changes nothing', async () => {
      const queue = await side.queue(uniqueName('once'));
      const rules = [{ ...AMQP_RULE, retry_interval: 0.1 }];
      const n = await start({ queue, rules, protocol: { timeout: 0.2 } });
      n.qc.receive({ payload: 'once', queue: 'amqp' });
      await n.records.next(1);
      // Several attempt timeouts and retry intervals later, nothing more happened.
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.deepEqual(
        n.records.messages.map((m) => m.payload.type),
        ['Delivery'],
      );
      assert.equal(n.attempts.messages.length, 1);
      assert.equal(await side.count(queue), 1);
    });

    it('a Nack is a Bounce with code 500 and the JSON result', async () => {
      const queue = await side.queue(uniqueName('full'), {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      });
      const n = await start({ queue });
      n.qc.receive({ payload: 'first', queue: 'amqp' });
      await n.records.next(1);
      n.qc.receive({ payload: 'second', queue: 'amqp' });
      const logs = await n.records.next(2);
      const bounce = logs[1].payload;
      assert.equal(bounce.type, 'Bounce');
      assert.equal(bounce.response.code, 500);
      assert.deepEqual(JSON.parse(bounce.response.content), {
        status: 'Nack',
        reply_code: null,
        reply_text: null,
        exchange: '',
        routing_key: queue,
      });
      assert.equal(logs.length, 2);
    });

    it('with "Nack counts as transient", a Nack is a TransientFailure 451, retried until the broker takes it', async () => {
      const queue = await side.queue(uniqueName('full-retry'), {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      });
      const rules = [{ ...AMQP_RULE, retry_interval: 0.2, max_age: 30 }];
      const n = await start({ queue, rules, publish: { nackedAs: 'transient' } });
      n.qc.receive({ payload: 'first', queue: 'amqp' });
      await n.records.next(1);
      n.qc.receive({ payload: 'second', queue: 'amqp' });
      const [, failure] = await n.records.next(2);
      assert.equal(failure.payload.type, 'TransientFailure');
      assert.equal(failure.payload.response.code, 451);
      assert.equal(JSON.parse(failure.payload.response.content).status, 'Nack');
      // Room in the queue: the retry goes through.
      assert.deepEqual(
        (await side.drain(queue)).map((m) => m.content.toString()),
        ['first'],
      );
      await until(n.records, (m) => m.payload.type === 'Delivery' && m.payload.id === failure.payload.id);
      assert.ok(
        n.records.messages.every((m) => m.payload.type !== 'Bounce'),
        'a Nack counted as transient bounced',
      );
      assert.deepEqual(
        (await side.drain(queue)).map((m) => m.content.toString()),
        ['second'],
      );
    });

    it('reject 451 is a TransientFailure, retried, then a Delivery', async () => {
      const queue = await side.queue(uniqueName('retry'));
      const rules = [{ ...AMQP_RULE, retry_interval: 0.2, max_age: 30 }];
      // The attempts go to the helper only; the test decides each attempt's fate.
      await load(
        routingFlow({ queue, rules }).map((node) =>
          node.id === 'cp' ? { ...node, wires: [['attempts'], ['records']] } : node,
        ),
      );
      const n = { qc: helper.getNode('qc'), pub: helper.getNode('pub'), rej451: helper.getNode('rej451') };
      const attempts = collector(helper.getNode('attempts'));
      const records = collector(helper.getNode('records'));
      n.qc.receive({ payload: 'soon', queue: 'amqp' });
      const [first] = await attempts.next(1);
      assert.equal(first.kumo.attempt, 1);
      n.rej451.receive(first);
      const [transient] = await records.next(1);
      assert.equal(transient.payload.type, 'TransientFailure');
      assert.deepEqual(
        { code: transient.payload.response.code, content: transient.payload.response.content },
        { code: 451, content: 'try later' },
      );
      const second = (await attempts.next(2))[1];
      assert.equal(second.kumo.attempt, 2);
      assert.equal(second.kumo.id, first.kumo.id);
      assert.equal(second.payload, 'soon');
      assert.equal(second.reject, undefined, "the previous attempt's reject is cleared");
      n.pub.receive(second);
      const logs = await records.next(2);
      assert.equal(logs[1].payload.type, 'Delivery');
      assert.equal(logs[1].payload.num_attempts, 1);
      assert.equal(await side.count(queue), 1);
    });

    it('reject 550 is a Bounce, not retried', async () => {
      await load(
        routingFlow({}).map((node) => (node.id === 'cp' ? { ...node, wires: [['rej550'], ['records']] } : node)),
      );
      const records = collector(helper.getNode('records'));
      const attempts = [];
      helper.getNode('rej550').on('input', (m) => attempts.push(m.kumo.attempt));
      helper.getNode('qc').receive({ payload: 'x', queue: 'amqp' });
      const [log] = await records.next(1);
      assert.equal(log.payload.type, 'Bounce');
      assert.equal(log.payload.response.code, 550);
      assert.equal(log.payload.response.content, 'no such user');
      assert.deepEqual(attempts, [1]);
    });

    it('no outcome within the timeout is a TransientFailure', async () => {
      const rules = [{ ...AMQP_RULE, retry_interval: 60 }];
      await load(
        routingFlow({ rules, protocol: { timeout: 0.3 } }).map((node) =>
          node.id === 'cp' ? { ...node, wires: [['attempts'], ['records']] } : node,
        ),
      );
      const records = collector(helper.getNode('records'));
      helper.getNode('qc').receive({ payload: 'x', queue: 'amqp' });
      const [log] = await records.next(1);
      assert.equal(log.payload.type, 'TransientFailure');
      assert.equal(log.payload.response.code, 400);
      assert.match(
        log.payload.response.content,
        /^KumoMTA internal: error in deliver_message: sender:send method failed: no outcome reported within 0\.3 s/,
      );
    });

    it('a retry that would pass max_age is an Expiration', async () => {
      const rules = [{ ...AMQP_RULE, retry_interval: 0.1, max_age: 0.25 }];
      await load(
        routingFlow({ rules }).map((node) => (node.id === 'cp' ? { ...node, wires: [['rej451'], ['records']] } : node)),
      );
      const records = collector(helper.getNode('records'));
      helper.getNode('qc').receive({ payload: 'x', queue: 'amqp' });
      await until(records, (m) => m.payload.type === 'Expiration');
      const types = records.messages.map((m) => m.payload.type);
      assert.deepEqual(types.slice(-2), ['TransientFailure', 'Expiration']);
      assert.ok(types.slice(0, -1).every((t) => t === 'TransientFailure'));
      const expiration = records.messages.at(-1).payload;
      assert.equal(expiration.response.code, 551);
      assert.match(expiration.response.content, /exceeds max_age/);
    });

    it('retry times follow the schedule: doubling from retry_interval, then capped', async function () {
      this.timeout(20000);
      // 0.2 s doubling, capped at 0.4 s: delays 0.2, 0.4, 0.4, 0.4, 0.4, 0.4 (no jitter: KumoMTA's is whole
      // seconds, and under 40 s there is none). Uncapped they would be 0.2, 0.4, 0.8, 1.6, 3.2, 6.4.
      const rules = [{ ...AMQP_RULE, retry_interval: 0.2, max_retry_interval: 0.4, max_age: 60 }];
      await load(
        routingFlow({ rules }).map((node) =>
          node.id === 'cp' ? { ...node, wires: [['attempts'], ['records']] } : node,
        ),
      );
      const attempts = collector(helper.getNode('attempts'));
      const rej = helper.getNode('rej451');
      const times = [];
      attempts.messages.push = function (m) {
        times.push(process.hrtime.bigint());
        if (m.kumo.attempt < 7) setImmediate(() => rej.receive(m));
        return Array.prototype.push.call(this, m);
      };
      helper.getNode('qc').receive({ payload: 'x', queue: 'amqp' });
      await attempts.next(7);
      const gaps = times.slice(1).map((t, i) => Number(t - times[i]) / 1e6);
      const expected = [200, 400, 400, 400, 400, 400];
      // A timer never fires before its delay (less 1 ms of timer granularity, and the few ms the event loop's
      // cached time may lag): each gap at least its step proves the doubling (a fixed delay would give 200 ms).
      gaps.forEach((gap, i) => {
        assert.ok(
          gap >= expected[i] - 6,
          `retry ${i + 1} came after ${gap} ms, before its schedule (${expected[i]} ms)`,
        );
      });
      // The cap, as a sum: the schedule takes 2.2 s, uncapped it would take 12.6 s. 5 s leaves a busy runner 2.8 s
      // of late timers and is far from 12.6 s.
      const total = gaps.reduce((sum, gap) => sum + gap, 0);
      assert.ok(total < 5000, `the six retries took ${total} ms (gaps ${gaps.join(', ')}): is the delay capped?`);
    });
  });

  describe('backpressure: a bounded number of unfinished messages', function () {
    it('past max queued a message fails at once with "not keeping up", and the others stay', async () => {
      // Attempts go nowhere (no publish node), so every message stays unfinished.
      await load(
        routingFlow({ protocol: { maxInFlight: 2, maxQueued: 5 } }).map((node) =>
          node.id === 'cp' ? { ...node, wires: [['attempts'], ['records']] } : node,
        ),
      );
      const attempts = collector(helper.getNode('attempts'));
      const errors = collector(helper.getNode('errors'));
      for (let i = 0; i < 7; i++) helper.getNode('qc').receive({ payload: `m${i}`, queue: 'amqp' });
      const refused = await errors.next(2);
      assert.ok(
        refused.every((m) =>
          /custom protocol "make\.amqp" is not keeping up: 5 messages unfinished \(limit 5\)/.test(m.error.message),
        ),
      );
      assert.deepEqual(
        refused.map((m) => m.payload),
        ['m5', 'm6'],
      );
      await attempts.next(2);
      assert.equal(attempts.messages.length, 2, 'max in flight 2: only two attempts started');
    });
  });

  describe('the delivery survives Node-RED cloning the msg at a fork', function () {
    it('a publish node on the second wire of a fork reports the outcome', async () => {
      const queue = await side.queue(uniqueName('fork'));
      const n = await start({ queue }); // cp output 1 is wired to [attempts, pub]: pub gets a clone
      n.qc.receive({ payload: 'fork', queue: 'amqp' });
      const [log] = await n.records.next(1);
      assert.equal(log.payload.type, 'Delivery');
      assert.equal(n.records.messages.length, 1);
    });
  });

  describe('custom protocol event names', function () {
    it('refuses a predefined KumoMTA event and a second node with the same name at deploy', async () => {
      await load([
        { id: 'a', type: 'kumo-custom-protocol', eventName: 'get_queue_config', wires: [[], []] },
        { id: 'b', type: 'kumo-custom-protocol', name: 'relay', eventName: 'make.same', wires: [[], []] },
        { id: 'c', type: 'kumo-custom-protocol', eventName: 'make.same', wires: [[], []] },
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
        { id: 'watcher', type: 'status', scope: null, wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ]);
      const statuses = collector(helper.getNode('statuses'));
      const a = await until(statuses, (m) => m.status.source.id === 'a' && m.status.fill === 'red');
      assert.match(a.status.text, /predefined/);
      const c = await until(statuses, (m) => m.status.source.id === 'c' && m.status.fill === 'red');
      assert.match(c.status.text, /already bound/);
      // The owner as the editor labels it, never its id (the status is short; the whole error is logged).
      const logged = helper
        .getNode('c')
        .error.getCalls()
        .map((call) => String(call.args[0]));
      assert.ok(
        logged.some((e) => /custom protocol node "relay"/.test(e)),
        logged.join(' | '),
      );
      assert.ok(logged.every((e) => !e.includes('"b"')));
    });
  });

  describe('a message wired straight into a custom protocol node', function () {
    it('is delivered with the default config and its own queue', async () => {
      const queue = await side.queue(uniqueName('direct'));
      const n = await start({ queue });
      n.cp.receive({ payload: 'direct', queue: 'tenant@amqp' });
      const [log] = await n.records.next(1);
      assert.equal(log.payload.type, 'Delivery');
      assert.equal(log.payload.queue, 'tenant@amqp');
      assert.equal(await side.count(queue), 1);
    });
  });
});
