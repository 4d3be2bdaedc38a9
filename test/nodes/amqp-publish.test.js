'use strict';
// amqp publish against a real RabbitMQ: publisher confirms, Nack, returns,
// channel errors, bad settings and bad input, volume and redeploy.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector, until } = require('../helpers/node-red');
const { SideChannel, uniqueName, BROKER_URL, CREDENTIALS } = require('../helpers/amqp');
const { eventually } = require('../helpers/eventually');

function publishFlow(settings = {}, broker = {}) {
  return [
    brokerConfig('broker', broker),
    {
      id: 'pub',
      type: 'amqp-publish',
      name: '',
      broker: 'broker',
      exchange: '',
      routingKey: 'logging',
      routingKeyType: 'str',
      persistent: true,
      mandatory: false,
      returnedAs: 'transient',
      waitForConfirm: true,
      confirmTimeout: 10,
      maxWaiting: 10000,
      declareQueue: '',
      wires: [['delivered'], ['rejected']],
      ...settings,
    },
    { id: 'delivered', type: 'helper' },
    { id: 'rejected', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'errors', type: 'helper' },
    { id: 'watcher', type: 'status', scope: null, wires: [['statuses']] },
    { id: 'statuses', type: 'helper' },
  ];
}

async function start(settings, broker, credentials) {
  await load(publishFlow(settings, broker), credentials);
  return {
    pub: helper.getNode('pub'),
    delivered: collector(helper.getNode('delivered')),
    rejected: collector(helper.getNode('rejected')),
    errors: collector(helper.getNode('errors')),
    statuses: collector(helper.getNode('statuses')),
  };
}

const connected = (m) => m.status && m.status.fill === 'green';

describe('amqp publish', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  describe('an Ack delivers the message byte for byte with its properties', function () {
    it('sends the msg to output 1 with msg.amqp, and the queue holds the exact body and properties', async () => {
      const queue = await side.queue(uniqueName('ack'));
      const n = await start({ routingKey: queue });
      const body = Buffer.from([0, 1, 2, 250, 255, 0x0a, 0x0d]);
      n.pub.receive({
        payload: body,
        properties: {
          contentType: 'application/octet-stream',
          contentEncoding: 'binary',
          headers: { 'x-kumo': 'yes', n: 7 },
          messageId: 'm-1',
          correlationId: 'c-1',
          priority: 3,
          expiration: '60000',
          appId: 'kumomta',
          type: 'log',
          timestamp: 1700000000,
          replyTo: 'replies',
          userId: CREDENTIALS.username,
        },
      });
      const [msg] = await n.delivered.next(1);
      assert.deepEqual(msg.amqp, {
        status: 'Ack',
        reply_code: null,
        reply_text: null,
        exchange: '',
        routing_key: queue,
      });
      const [stored] = await side.drain(queue);
      assert.ok(stored.content.equals(body), 'body differs');
      const p = stored.properties;
      assert.equal(p.deliveryMode, 2, 'persistent by default');
      assert.equal(p.contentType, 'application/octet-stream');
      assert.equal(p.contentEncoding, 'binary');
      assert.deepEqual(p.headers, { 'x-kumo': 'yes', n: 7 });
      assert.equal(p.messageId, 'm-1');
      assert.equal(p.correlationId, 'c-1');
      assert.equal(p.priority, 3);
      assert.equal(p.expiration, '60000');
      assert.equal(p.appId, 'kumomta');
      assert.equal(p.type, 'log');
      assert.equal(p.timestamp, 1700000000);
      assert.equal(p.replyTo, 'replies');
      assert.equal(p.userId, CREDENTIALS.username);
      assert.equal(n.rejected.messages.length, 0);
      assert.equal(n.errors.messages.length, 0);
    });

    it('reports connected in its status', async () => {
      const n = await start({});
      const status = await until(n.statuses, connected);
      assert.equal(status.status.shape, 'dot');
      assert.match(status.status.text, /connected/);
    });
  });

  describe('with wait for confirm off, a message is NotRequested once written', function () {
    it('sends it to output 1 with status NotRequested, and it arrives', async () => {
      const queue = await side.queue(uniqueName('noconfirm'));
      const n = await start({ routingKey: queue, waitForConfirm: false, persistent: false });
      n.pub.receive({ payload: 'fire and forget' });
      const [msg] = await n.delivered.next(1);
      assert.equal(msg.amqp.status, 'NotRequested');
      // No confirm to await, and the queue is the broker's: read it, at a pace, until the message is there
      // (within the test's own 20 s, so a message that never comes is named).
      let stored = [];
      await eventually(
        'the message in the queue',
        async () => {
          stored = stored.concat(await side.drain(queue));
          return stored.length > 0;
        },
        10000,
      );
      assert.equal(stored[0].content.toString(), 'fire and forget');
      assert.equal(stored[0].properties.deliveryMode, 1);
    });
  });

  describe('a Nack rejects the message with code 500 and the JSON result', function () {
    it('sends the second message to a full reject-publish queue to output 2', async () => {
      const queue = await side.queue(uniqueName('full'), {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      });
      const n = await start({ routingKey: queue });
      n.pub.receive({ payload: 'first' });
      await n.delivered.next(1);
      n.pub.receive({ payload: 'second' });
      const [msg] = await n.rejected.next(1);
      assert.equal(msg.payload, 'second');
      assert.deepEqual(msg.amqp, {
        status: 'Nack',
        reply_code: null,
        reply_text: null,
        exchange: '',
        routing_key: queue,
      });
      assert.deepEqual(msg.reject, { code: 500, message: JSON.stringify(msg.amqp) });
      assert.equal(n.delivered.messages.length, 1);
      assert.equal(await side.count(queue), 1);
    });

    it('with "Nack counts as transient" the reject code is 451, so a custom protocol retries it', async () => {
      const queue = await side.queue(uniqueName('full'), {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      });
      const n = await start({ routingKey: queue, nackedAs: 'transient' });
      n.pub.receive({ payload: 'first' });
      await n.delivered.next(1);
      n.pub.receive({ payload: 'second' });
      const [msg] = await n.rejected.next(1);
      assert.equal(msg.amqp.status, 'Nack');
      assert.deepEqual(msg.reject, { code: 451, message: JSON.stringify(msg.amqp) });
    });
  });

  describe('a mandatory message with no route is returned, not delivered', function () {
    it('goes to output 2 with reply 312 NO_ROUTE and a transient reject code', async () => {
      const exchange = await side.exchange(uniqueName('noroute'));
      const n = await start({ exchange, routingKey: 'nowhere', mandatory: true });
      n.pub.receive({ payload: 'lost?' });
      const [msg] = await n.rejected.next(1);
      assert.equal(msg.amqp.reply_code, 312);
      assert.equal(msg.amqp.reply_text, 'NO_ROUTE');
      assert.equal(msg.reject.code, 451);
      assert.equal(msg.reject.message, JSON.stringify(msg.amqp));
      assert.equal(n.delivered.messages.length, 0);
    });

    it('a routable mandatory message is delivered normally', async () => {
      const exchange = await side.exchange(uniqueName('route'));
      const queue = await side.queue(uniqueName('routed'));
      await side.channel.bindQueue(queue, exchange, 'k');
      const n = await start({ exchange, routingKey: 'k', mandatory: true });
      n.pub.receive({ payload: 'a' });
      const [msg] = await n.delivered.next(1);
      assert.equal(msg.amqp.status, 'Ack');
      assert.equal(msg.amqp.reply_code, null);
    });
  });

  describe('an exchange that does not exist closes the channel with a clear error', function () {
    it("fails with the broker's 404, then publishes once the exchange exists", async () => {
      const exchange = uniqueName('missing');
      const queue = await side.queue(uniqueName('after404'));
      const n = await start({ exchange, routingKey: 'k' });
      n.pub.receive({ payload: 'one', _msgid: 'first' });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /404/);
      assert.match(err.error.message, new RegExp(`no exchange '${exchange}'`));
      await side.exchange(exchange);
      await side.channel.bindQueue(queue, exchange, 'k');
      // The node reopens its channel by itself; the next message goes through.
      await until(n.statuses, (m) => m.status.fill === 'green');
      n.pub.receive({ payload: 'two' });
      const [ok] = await n.delivered.next(1);
      assert.equal(ok.amqp.status, 'Ack');
      assert.deepEqual(
        (await side.drain(queue)).map((m) => m.content.toString()),
        ['two'],
      );
    });
  });

  describe('bad broker settings give a clear error, no crash and no credential', function () {
    const secret = 'S3cret-Pa55word';

    it('a wrong password fails the message with ACCESS_REFUSED', async () => {
      const n = await start(
        { confirmTimeout: 5 },
        {},
        { broker: { username: CREDENTIALS.username, password: secret } },
      );
      const status = await until(n.statuses, (m) => m.status.fill === 'red');
      n.pub.receive({ payload: 'x' });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /ACCESS.REFUSED|403/);
      for (const text of [err.error.message, status.status.text, ...n.statuses.messages.map((m) => m.status.text)]) {
        assert.ok(!text.includes(secret), `password leaked: ${text}`);
      }
    });

    it('a wrong password in the URL userinfo is not shown either', async () => {
      const url = BROKER_URL.replace('://', `://${CREDENTIALS.username}:${secret}@`);
      const n = await start({ confirmTimeout: 5 }, { url }, { broker: {} });
      await until(n.statuses, (m) => m.status.fill === 'red');
      n.pub.receive({ payload: 'x' });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /ACCESS.REFUSED|403/);
      for (const text of [err.error.message, ...n.statuses.messages.map((m) => m.status.text)]) {
        assert.ok(!text.includes(secret), `password leaked: ${text}`);
      }
    });

    it('an unreachable host fails the message once the confirm timeout passes', async () => {
      const n = await start({ confirmTimeout: 1 }, { url: 'amqp://127.0.0.1:1' });
      n.pub.receive({ payload: 'x' });
      const [err] = await n.errors.next(1);
      assert.match(
        err.error.message,
        /not published within 1 s: not connected to the broker: amqp:\/\/127\.0\.0\.1:1.*ECONNREFUSED/,
      );
      assert.equal(n.delivered.messages.length + n.rejected.messages.length, 0);
    });

    it('an unreachable host: the status says why and that it dials again', async () => {
      const n = await start({}, { url: 'amqp://127.0.0.1:1' });
      const down = await until(n.statuses, (m) => m.status.fill === 'red');
      // The reason and the count do not both fit in 40 characters: the reason stays (the backoff's own
      // times are tested in state-machines/broker-connection.test.js).
      assert.equal(down.status.text, 'disconnected: ECONNREFUSED, retrying');
    });

    it('a malformed URL is refused at deploy with a clear message', async () => {
      const n = await start({}, { url: 'http://user:hunter2@example' });
      const status = await until(n.statuses, (m) => m.status.fill === 'red');
      // The status says it short; the whole reason is each message's error (and the log).
      assert.ok(status.status.text.length <= 40, status.status.text);
      assert.match(status.status.text, /^broker url must start with amqp:\/\//);
      assert.ok(!status.status.text.includes('hunter2'));
      n.pub.receive({ payload: 'x' });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /amqp:\/\/ or amqps:\/\//);
      assert.ok(!err.error.message.includes('hunter2'));
    });
  });

  describe('settings a hand-written or imported flow may get wrong are refused at deploy', function () {
    for (const [setting, value, message] of [
      ['returnedAs', 'maybe', /Returned: choose transient, permanent or delivered/],
      ['nackedAs', 'sometimes', /Nack: choose permanent or transient/],
      ['confirmTimeout', 'soon', /confirm timeout/i],
    ]) {
      it(`${setting} "${value}": a red status and a clear error for every message`, async () => {
        const n = await start({ [setting]: value });
        const status = await until(n.statuses, (m) => m.status.fill === 'red');
        n.pub.receive({ payload: 'x' });
        const [err] = await n.errors.next(1);
        assert.match(err.error.message, message);
        // The status is the same reason, cut at a word to fit under the node.
        const shown = status.status.text.replace(/…$/, '');
        assert.ok(status.status.text.length <= 40, status.status.text);
        assert.ok(
          shown.length > 5 && err.error.message.includes(shown),
          `${status.status.text} / ${err.error.message}`,
        );
        assert.equal(n.delivered.messages.length + n.rejected.messages.length, 0);
      });
    }
  });

  describe('payloads of every type', function () {
    it('Buffer as is, string as UTF-8, object and number as JSON', async () => {
      const queue = await side.queue(uniqueName('types'));
      const n = await start({ routingKey: queue });
      const inputs = [Buffer.from('raw\u0000bytes'), 'héllo ✓ 📨', { type: 'Delivery', n: [1, 2] }, 42, true];
      for (const payload of inputs) n.pub.receive({ payload });
      await n.delivered.next(inputs.length);
      const stored = await side.drain(queue);
      assert.equal(stored.length, inputs.length);
      assert.ok(stored[0].content.equals(inputs[0]));
      assert.equal(stored[0].properties.contentType, undefined);
      assert.equal(stored[1].content.toString('utf8'), 'héllo ✓ 📨');
      assert.equal(stored[2].content.toString(), '{"type":"Delivery","n":[1,2]}');
      assert.equal(stored[2].properties.contentType, 'application/json');
      assert.equal(stored[3].content.toString(), '42');
      assert.equal(stored[4].content.toString(), 'true');
    });

    it('a missing payload, bad properties or a bad routing key fail with a clear error', async () => {
      const queue = await side.queue(uniqueName('bad'));
      const n = await start({ routingKey: 'key', routingKeyType: 'msg' });
      const circular = {};
      circular.self = circular;
      n.pub.receive({ key: queue });
      n.pub.receive({ key: queue, payload: circular });
      n.pub.receive({ key: queue, payload: 'x', properties: { priority: 'high' } });
      n.pub.receive({ key: queue, payload: 'x', properties: { colour: 'red' } });
      n.pub.receive({ key: { not: 'a string' }, payload: 'x' });
      n.pub.receive({ key: 'k'.repeat(300), payload: 'x' });
      const errors = (await n.errors.next(6)).map((m) => m.error.message);
      assert.match(errors[0], /msg\.payload is missing/);
      assert.match(errors[1], /cannot be serialised as JSON/);
      assert.match(errors[2], /msg\.properties\.priority must be an integer from 0 to 255/);
      assert.match(errors[3], /msg\.properties\.colour is not an AMQP basic property/);
      assert.match(errors[4], /msg\.key: routing key must be a string, not object/);
      assert.match(errors[5], /longer than 255 bytes/);
      assert.equal(n.delivered.messages.length, 0);
      assert.equal(await side.count(queue), 0);
    });

    it("headers over the 64 KiB frame table limit fail with the encoder's error, and the node goes on", async () => {
      const queue = await side.queue(uniqueName('bigheaders'));
      const n = await start({ routingKey: queue });
      n.pub.receive({ payload: 'x', properties: { headers: { big: 'h'.repeat(200000) } } });
      const [err] = await n.errors.next(1);
      assert.match(err.error.message, /could not be encoded|RangeError|too/i);
      n.pub.receive({ payload: 'after' });
      const [ok] = await n.delivered.next(1);
      assert.equal(ok.payload, 'after');
    });
  });

  describe('routing key from msg, env and JSONata', function () {
    const previous = process.env.KUMO_TEST_ROUTING_KEY;
    after(() => {
      // The variable is this test's own: the process's environment goes back to what it was.
      if (previous === undefined) delete process.env.KUMO_TEST_ROUTING_KEY;
      else process.env.KUMO_TEST_ROUTING_KEY = previous;
    });

    it('evaluates each kind', async () => {
      const q1 = await side.queue(uniqueName('rk-msg'));
      const q2 = await side.queue(uniqueName('rk-jsonata'));
      process.env.KUMO_TEST_ROUTING_KEY = await side.queue(uniqueName('rk-env'));
      await load([
        brokerConfig(),
        {
          id: 'a',
          type: 'amqp-publish',
          broker: 'broker',
          routingKey: 'topic.key',
          routingKeyType: 'msg',
          wires: [['ok'], []],
        },
        {
          id: 'b',
          type: 'amqp-publish',
          broker: 'broker',
          routingKey: '"rk-" & payload.q',
          routingKeyType: 'jsonata',
          wires: [['ok'], []],
        },
        {
          id: 'c',
          type: 'amqp-publish',
          broker: 'broker',
          routingKey: 'KUMO_TEST_ROUTING_KEY',
          routingKeyType: 'env',
          wires: [['ok'], []],
        },
        { id: 'ok', type: 'helper' },
      ]);
      const ok = collector(helper.getNode('ok'));
      helper.getNode('a').receive({ topic: { key: q1 }, payload: 'm' });
      helper.getNode('b').receive({ payload: { q: q2.slice(3) } });
      helper.getNode('c').receive({ payload: 'e' });
      const msgs = await ok.next(3);
      assert.deepEqual(msgs.map((m) => m.amqp.routing_key).sort(), [q1, q2, process.env.KUMO_TEST_ROUTING_KEY].sort());
      assert.equal(await side.count(process.env.KUMO_TEST_ROUTING_KEY), 1);
    });
  });

  describe('volume: 5000 messages through one node', function () {
    it('confirms every one exactly once', async function () {
      this.timeout(60000);
      const queue = await side.queue(uniqueName('volume'));
      const n = await start({ routingKey: queue });
      const total = 5000;
      for (let i = 0; i < total; i++) n.pub.receive({ payload: `message ${i}`, seq: i });
      const delivered = await n.delivered.next(total);
      assert.equal(delivered.length, total);
      assert.equal(new Set(delivered.map((m) => m.seq)).size, total, 'a message was reported twice');
      assert.ok(delivered.every((m) => m.amqp.status === 'Ack'));
      const stored = await side.drain(queue);
      assert.equal(stored.length, total);
      assert.deepEqual(new Set(stored.map((m) => m.content.toString())), new Set(delivered.map((m) => m.payload)));
      assert.equal(n.errors.messages.length + n.rejected.messages.length, 0);
    });

    it('past maxWaiting a message fails at once with "broker is not keeping up"', async () => {
      const queue = await side.queue(uniqueName('bounded'));
      const n = await start({ routingKey: queue, maxWaiting: 10 });
      for (let i = 0; i < 50; i++) n.pub.receive({ payload: `m${i}` });
      const settled = () => n.delivered.messages.length + n.errors.messages.length;
      while (settled() < 50)
        await Promise.race([
          n.delivered.next(n.delivered.messages.length + 1),
          n.errors.next(n.errors.messages.length + 1),
        ]);
      assert.ok(n.errors.messages.length >= 1, 'expected some messages to be refused');
      assert.ok(n.errors.messages.every((m) => /broker is not keeping up/.test(m.error.message)));
      assert.equal(await side.count(queue), n.delivered.messages.length);
    });
  });

  describe('a redeploy while messages are in flight', function () {
    it('settles each one: confirmed or failed, none silently lost', async function () {
      this.timeout(60000);
      const queue = await side.queue(uniqueName('redeploy'));
      const n = await start({ routingKey: queue });
      await until(n.statuses, connected);
      const total = 2000;
      // Downstream nodes stop too, so count what the publish node itself sends or fails.
      const sent = [];
      const failed = [];
      const send = n.pub.send.bind(n.pub);
      n.pub.send = (msgs) => {
        sent.push(msgs);
        send(msgs);
      };
      const error = n.pub.error.bind(n.pub);
      n.pub.error = (err, msg) => {
        failed.push(msg);
        error(err, msg);
      };
      for (let i = 0; i < total; i++) n.pub.receive({ payload: `m${i}` });
      await helper.unload(); // the close handler waits for outstanding confirms
      assert.equal(
        sent.length + failed.length,
        total,
        `${total - sent.length - failed.length} messages were neither confirmed nor failed`,
      );
      const confirmed = sent.filter((pair) => pair[0]).length;
      const stored = await side.drain(queue);
      assert.ok(stored.length >= confirmed, 'a confirmed message is missing from the queue');
    });
  });
});

describe('amqp publish: declare queue with arguments, as amqp consume declares it', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it('declares the queue with its x-arguments, so a consumer declaring the same queue agrees with it', async function () {
    const queue = uniqueName('declared-args');
    side.queues.push(queue);
    const args = { 'x-dead-letter-exchange': `${queue}.dlx` };
    await load([
      brokerConfig(),
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: queue,
        routingKeyType: 'str',
        waitForConfirm: true,
        declareQueue: queue,
        declareArguments: JSON.stringify(args),
        wires: [['out'], []],
      },
      { id: 'out', type: 'helper' },
    ]);
    const out = collector(helper.getNode('out'));
    helper.getNode('pub').receive({ payload: 'x' });
    await out.next(1);
    // The same declaration is accepted; one without the argument is refused (406 PRECONDITION_FAILED).
    await side.channel.assertQueue(queue, { durable: true, arguments: args });
    const refused = await SideChannel.open();
    refused.channel.on('error', () => undefined); // the 406 closes the channel: expected here
    await assert.rejects(refused.channel.assertQueue(queue, { durable: true }), /PRECONDITION_FAILED/);
    await refused.close().catch(() => undefined);
  });

  it('refuses queue arguments that are not a JSON object, at deploy, with a clear error', async function () {
    await load([
      brokerConfig(),
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: 'x',
        routingKeyType: 'str',
        declareQueue: 'x',
        declareArguments: '[1,2]',
        wires: [[], []],
      },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
      { id: 'errors', type: 'helper' },
    ]);
    const errors = collector(helper.getNode('errors'));
    helper.getNode('pub').receive({ payload: 'x' });
    const [err] = await errors.next(1);
    assert.match(err.error.message, /queue arguments must be a JSON object/);
    assert.equal(err.error.code, 'KUMO_NOT_CONFIGURED');
  });
});
