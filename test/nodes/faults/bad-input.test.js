'use strict';
// Bad input of every kind the nodes read gives a clear error
// that Catch nodes see (naming the field and what was expected), never a
// crash, a silent drop or a message on the wire; and the nodes go on working.

const assert = require('node:assert/strict');
const { startFaultBroker, loadFlow, brokerNode, publishFlow, Side, statusWatch, helper } = require('./support/faults');
const { BROKER_URL, CREDENTIALS, requireBroker } = require('../../helpers/amqp');

const TEST_CREDENTIALS = { broker: CREDENTIALS };

/** Catch-all errors of a loaded flow, each with the msg it failed. */
/** A status is the reason cut at a word to fit under the node (40 characters); the whole reason is in `full`. */
function shortFormOf(status, full, what) {
  const start = status.replace(/…$/, '');
  assert.ok(status.length <= 40 && start.length > 5 && full.includes(start), `${what}: "${status}" / "${full}"`);
}

function errorsOf(id = 'errors') {
  const list = [];
  const waiters = [];
  helper.getNode(id).on('input', (msg) => {
    list.push(msg);
    for (const w of waiters.slice())
      if (list.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(list);
      }
  });
  return {
    list,
    next: (n) => (list.length >= n ? Promise.resolve(list) : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

const circular = {};
circular.self = circular;

describe('faults: bad input gives a clear error, never a crash', function () {
  this.timeout(60000);
  let side;
  before(async () => {
    requireBroker();
    side = await Side.open(process.env.AMQP_URL);
  });
  after(() => side.close());
  afterEach(() => helper.unload());

  describe('amqp publish: wrong types for every msg field it reads', function () {
    // [what, msg, expected error]
    const cases = [
      ['missing payload', {}, /msg\.payload is missing/],
      ['null payload', { payload: null }, /msg\.payload is missing/],
      ['function payload', { payload: () => 1 }, /msg\.payload is a function/],
      ['symbol payload', { payload: Symbol('s') }, /msg\.payload is a symbol/],
      ['circular payload', { payload: circular }, /msg\.payload cannot be serialised as JSON/],
      ['BigInt payload', { payload: { n: 10n } }, /msg\.payload cannot be serialised as JSON.*BigInt/],
      ['properties a string', { payload: 'x', properties: 'persistent' }, /msg\.properties must be an object/],
      ['properties an array', { payload: 'x', properties: [1] }, /msg\.properties must be an object/],
      ['properties a Buffer', { payload: 'x', properties: Buffer.from('x') }, /msg\.properties must be an object/],
      ['properties a number', { payload: 'x', properties: 5 }, /msg\.properties must be an object/],
      [
        'unknown property',
        { payload: 'x', properties: { colour: 'red' } },
        /msg\.properties\.colour is not an AMQP basic property/,
      ],
      [
        'contentType a number',
        { payload: 'x', properties: { contentType: 5 } },
        /msg\.properties\.contentType must be a string/,
      ],
      [
        'contentEncoding an object',
        { payload: 'x', properties: { contentEncoding: {} } },
        /msg\.properties\.contentEncoding must be a string/,
      ],
      [
        'headers a string',
        { payload: 'x', properties: { headers: 'h' } },
        /msg\.properties\.headers must be an object/,
      ],
      [
        'headers an array',
        { payload: 'x', properties: { headers: ['h'] } },
        /msg\.properties\.headers must be an object/,
      ],
      [
        'messageId over 255 bytes',
        { payload: 'x', properties: { messageId: 'm'.repeat(256) } },
        /msg\.properties\.messageId must be at most 255 bytes/,
      ],
      [
        'correlationId a number',
        { payload: 'x', properties: { correlationId: 7 } },
        /msg\.properties\.correlationId must be a string/,
      ],
      [
        'priority a word',
        { payload: 'x', properties: { priority: 'high' } },
        /msg\.properties\.priority must be an integer from 0 to 255/,
      ],
      [
        'priority 256',
        { payload: 'x', properties: { priority: 256 } },
        /msg\.properties\.priority must be an integer from 0 to 255/,
      ],
      [
        'priority 1.5',
        { payload: 'x', properties: { priority: 1.5 } },
        /msg\.properties\.priority must be an integer from 0 to 255/,
      ],
      [
        'expiration negative',
        { payload: 'x', properties: { expiration: -1 } },
        /msg\.properties\.expiration must be a whole number of milliseconds/,
      ],
      [
        'expiration a word',
        { payload: 'x', properties: { expiration: 'soon' } },
        /msg\.properties\.expiration must be a whole number of milliseconds/,
      ],
      ['appId an array', { payload: 'x', properties: { appId: [] } }, /msg\.properties\.appId must be a string/],
      ['type a boolean', { payload: 'x', properties: { type: false } }, /msg\.properties\.type must be a string/],
      [
        'timestamp a word',
        { payload: 'x', properties: { timestamp: 'now' } },
        /msg\.properties\.timestamp must be seconds since the epoch/,
      ],
      [
        'timestamp an invalid Date',
        { payload: 'x', properties: { timestamp: new Date('never') } },
        /msg\.properties\.timestamp must be seconds since the epoch/,
      ],
      ['replyTo an object', { payload: 'x', properties: { replyTo: {} } }, /msg\.properties\.replyTo must be a string/],
      ['userId a number', { payload: 'x', properties: { userId: 42 } }, /msg\.properties\.userId must be a string/],
      [
        'headers over the 64 KiB table limit',
        { payload: 'x', properties: { headers: { big: 'h'.repeat(70000) } } },
        /message could not be encoded: RangeError/,
      ],
      [
        'a header value of no AMQP type',
        { payload: 'x', properties: { headers: { fn: () => 1 } } },
        /message could not be encoded/,
      ],
      // Own keys naming Object.prototype's members, as JSON.parse or a change node makes them.
      ...['__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'toString'].map((name) => [
        `msg.properties.${name}`,
        { payload: 'x', properties: JSON.parse(`{"${name}": {"priority": 1}}`) },
        new RegExp(`msg\\.properties\\.${name} is not an AMQP basic property`),
      ]),
      [
        'a header named __proto__',
        { payload: 'x', properties: { headers: JSON.parse('{"__proto__": {"x-inherited": 1}}') } },
        /msg\.properties\.headers has a key named __proto__/,
      ],
      [
        'routing key an object',
        { payload: 'x', key: { not: 'a string' } },
        /msg\.key: routing key must be a string, not object/,
      ],
      ['routing key null', { payload: 'x', key: null }, /msg\.key: routing key must be a string, not null/],
      [
        'routing key missing',
        { payload: 'x', key: undefined },
        /msg\.key: routing key must be a string, not undefined/,
      ],
      ['routing key an array', { payload: 'x', key: ['a'] }, /msg\.key: routing key must be a string, not object/],
      ['routing key over 255 bytes', { payload: 'x', key: 'k'.repeat(256) }, /routing key is longer than 255 bytes/],
    ];

    it(`fails each of ${cases.length} bad messages with a message naming the field, publishes none of them, and goes on`, async () => {
      const queue = await side.queue(`faults-bad-${process.pid}`);
      await side.channel.purgeQueue(queue);
      await loadFlow(
        [
          brokerNode('broker', BROKER_URL),
          {
            id: 'pub',
            type: 'amqp-publish',
            broker: 'broker',
            routingKey: 'key',
            routingKeyType: 'msg',
            confirmTimeout: 10,
            wires: [['delivered'], []],
          },
          { id: 'delivered', type: 'helper' },
          { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
          { id: 'errors', type: 'helper' },
        ],
        TEST_CREDENTIALS,
      );
      const errors = errorsOf();
      const delivered = [];
      helper.getNode('delivered').on('input', (m) => delivered.push(m));
      const pub = helper.getNode('pub');
      cases.forEach(([_what, msg], i) => {
        pub.receive({ key: queue, ...msg, case: i });
      });
      await errors.next(cases.length);
      for (const [i, [what, , expected]] of cases.entries()) {
        const hit = errors.list.find((m) => m.case === i);
        assert.ok(hit, `no error for ${what}`);
        assert.match(hit.error.message, expected, what);
        assert.equal(hit.error.code, 'KUMO_BAD_INPUT', what);
      }
      pub.receive({ key: queue, payload: 'still working' });
      while (delivered.length === 0) await new Promise((resolve) => setImmediate(resolve)); // its output is the event
      assert.equal(delivered[0].amqp.status, 'Ack');
      assert.deepEqual(
        (await side.drain(queue)).map((m) => m.content.toString()),
        ['still working'],
        'no bad message reached the broker',
      );
      await side.channel.deleteQueue(queue);
    });

    it("a userId that is not the connection's user: the broker's 406 names it, and the channel reopens", async () => {
      const queue = await side.queue(`faults-userid-${process.pid}`);
      await loadFlow(
        publishFlow(brokerNode('broker', BROKER_URL), { routingKey: queue, confirmTimeout: 10 }),
        TEST_CREDENTIALS,
      );
      const errors = errorsOf();
      const statuses = statusWatch(helper.getNode('statuses'));
      await statuses.until((s) => s.fill === 'green');
      helper.getNode('pub').receive({ payload: 'x', properties: { userId: 'someone-else' } });
      const [err] = await errors.next(1);
      assert.match(err.error.message, /406.*user_id property set to 'someone-else'/);
      await statuses.next((s) => s.fill === 'green');
      const delivered = new Promise((resolve) => helper.getNode('delivered').on('input', resolve));
      helper.getNode('pub').receive({ payload: 'after' });
      assert.equal((await delivered).amqp.status, 'Ack');
      await side.channel.deleteQueue(queue);
    });

    it("a payload over the broker's max_message_size (1 MiB here) fails with the broker's 406, and the node goes on", async () => {
      const fb = await startFaultBroker();
      const big = await Side.open(fb.url);
      const queue = await big.queue('faults-oversize');
      await big.channel.purgeQueue(queue);
      await loadFlow(publishFlow(brokerNode('broker', fb.plainUrl), { routingKey: queue, confirmTimeout: 10 }), {
        broker: { username: 'guest', password: 'guest' },
      });
      const errors = errorsOf();
      const statuses = statusWatch(helper.getNode('statuses'));
      await statuses.until((s) => s.fill === 'green');
      helper.getNode('pub').receive({ payload: Buffer.alloc(2 * 1024 * 1024, 1) });
      const [err] = await errors.next(1);
      assert.match(err.error.message, /406.*message size 2097152 is larger than configured max size 1048576/);
      // It can never be delivered: bad input (a custom protocol bounces it at once), not broker trouble.
      assert.equal(err.error.code, 'KUMO_BAD_INPUT');
      await statuses.next((s) => s.fill === 'green');
      const delivered = new Promise((resolve) => helper.getNode('delivered').on('input', resolve));
      helper.getNode('pub').receive({ payload: Buffer.alloc(1000 * 1024, 2) });
      assert.equal((await delivered).amqp.status, 'Ack');
      const stored = await big.drain(queue);
      assert.deepEqual(
        stored.map((m) => m.content.length),
        [1000 * 1024],
      );
      await big.close();
    });

    it('a JSONata routing key that fails or is not a string is a clear error', async () => {
      await loadFlow(
        [
          brokerNode('broker', BROKER_URL),
          {
            id: 'a',
            type: 'amqp-publish',
            broker: 'broker',
            routingKey: '$error("no key for you")',
            routingKeyType: 'jsonata',
            wires: [[], []],
          },
          {
            id: 'b',
            type: 'amqp-publish',
            broker: 'broker',
            routingKey: 'payload',
            routingKeyType: 'jsonata',
            wires: [[], []],
          },
          { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
          { id: 'errors', type: 'helper' },
        ],
        TEST_CREDENTIALS,
      );
      const errors = errorsOf();
      helper.getNode('a').receive({ payload: 'x' });
      helper.getNode('b').receive({ payload: { an: 'object' } });
      const list = await errors.next(2);
      const of = (id) => list.find((m) => m.error.source.id === id).error.message;
      assert.match(of('a'), /routing key expression failed: no key for you/);
      assert.match(of('b'), /routing key must be a string, not object/);
    });
  });

  describe('queue config, custom protocol and reject: wrong types and invalid queue names', function () {
    it('each bad msg.queue, msg.queueConfig and msg.kumo fails with a message naming the field', async () => {
      await loadFlow([
        { id: 'qc', type: 'kumo-queue-config', queue: 'queue', queueType: 'msg', rules: [], wires: [['smtp']] },
        { id: 'cp', type: 'kumo-custom-protocol', eventName: 'make.faults.bad', timeout: 5, wires: [['attempts'], []] },
        {
          id: 'rej',
          type: 'kumo-reject',
          code: 'code',
          codeType: 'msg',
          message: 'no',
          messageType: 'str',
          wires: [[]],
        },
        { id: 'smtp', type: 'helper' },
        { id: 'attempts', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
      ]);
      const errors = errorsOf();
      const qcCases = [
        [undefined, /msg\.queue: queue is missing/],
        [42, /msg\.queue: queue must be a queue name string or an object with a domain, got number/],
        [true, /msg\.queue: .*got boolean/],
        [['amqp'], /msg\.queue: .*got an array/],
        [{}, /msg\.queue: queue domain is missing/],
        [{ domain: 5 }, /msg\.queue: queue domain must be a string, got number/],
        ['', /msg\.queue: queue name is empty/],
        ['a@b@c', /msg\.queue: .*more than one '@'/],
        ['!relay', /msg\.queue: .*empty domain/],
        ['tenant@', /msg\.queue: .*no domain after '@'/],
        ['@example.com', /msg\.queue: .*empty tenant/],
        ['x y@example.com', /msg\.queue: .*whitespace/],
        ['example.com!', /msg\.queue: .*empty routing domain/],
      ];
      const cpCases = [
        [{ queue: 42 }, /queue must be a queue name string/],
        [{ queueConfig: 'make.amqp' }, /queue config must be an object, got string/],
        [{ queueConfig: 5 }, /queue config must be an object, got number/],
        [{ queueConfig: [] }, /queue config must be an object, got an array/],
        [{ queueConfig: { protocol: 'smtp' } }, /protocol must be an object/],
        [{ queueConfig: { retry_interval: 'soon' } }, /retry_interval "soon"/],
        [{ queueConfig: { max_age: -1 } }, /max_age must not be negative/],
      ];
      const rejectCases = [
        [{}, /msg\.kumo is missing/],
        [{ kumo: 'abc' }, /msg\.kumo is missing/],
        [{ kumo: { id: 5, attempt: 1 } }, /msg\.kumo is missing/],
      ];
      const qc = helper.getNode('qc');
      const cp = helper.getNode('cp');
      const rej = helper.getNode('rej');
      for (const [i, [queue]] of qcCases.entries()) qc.receive({ payload: 'x', queue, case: `qc${i}` });
      for (const [i, [fields]] of cpCases.entries()) cp.receive({ payload: 'x', ...fields, case: `cp${i}` });
      for (const [i, [fields]] of rejectCases.entries())
        rej.receive({ payload: 'x', code: 451, ...fields, case: `rej${i}` });
      const total = qcCases.length + cpCases.length + rejectCases.length;
      await errors.next(total);
      const check = (prefix, cases) =>
        cases.forEach(([input, expected], i) => {
          const hit = errors.list.find((m) => m.case === `${prefix}${i}`);
          assert.ok(hit, `no error for ${prefix} ${JSON.stringify(input)}`);
          assert.match(hit.error.message, expected, `${prefix} ${JSON.stringify(input)}`);
        });
      check('qc', qcCases);
      check('cp', cpCases);
      check('rej', rejectCases);

      // A reject code from msg that is not 4xx/5xx ends the attempt as an error (a transient failure), with the reason.
      cp.receive({ payload: 'x', code: 'soon', case: 'code' });
      const attempt = await new Promise((resolve) => helper.getNode('attempts').once('input', resolve));
      rej.receive(attempt);
      const [codeError] = (await errors.next(total + 1)).slice(total);
      assert.match(codeError.error.message, /code: reject code must be a whole number from 400 to 599.*"soon"/);
      // And the nodes still work.
      qc.receive({ payload: 'fine', queue: 'tenant@example.com' });
      const routed = await new Promise((resolve) => helper.getNode('smtp').once('input', resolve));
      assert.equal(routed.queue.tenant, 'tenant');
    });
  });

  describe('broker settings: invalid URLs, unknown vhost, wrong credentials', function () {
    const urls = [
      ['not a url', /broker url "not a url" is not a valid URL/],
      ['http://example.com', /must start with amqp:\/\/ or amqps:\/\/, not http:\/\//],
      ['amqp://', /has no host name/],
      ['amqp://127.0.0.1:99999', /is not a valid URL/],
      ['amqp://a,,amqp://b', /empty entry/],
      ['amqp://127.0.0.1/%zz', /invalid %-escape in its vhost/],
      [42, /broker url must be a string/],
    ];

    it('each invalid URL is refused at deploy with a red status and a clear error for every message', async () => {
      const flow = [];
      urls.forEach(([url], i) => {
        flow.push(brokerNode(`b${i}`, url), {
          id: `p${i}`,
          type: 'amqp-publish',
          broker: `b${i}`,
          routingKey: 'k',
          wires: [[], []],
        });
      });
      flow.push(
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
        { id: 'watcher', type: 'status', scope: null, wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      );
      await loadFlow(flow);
      const statuses = statusWatch(helper.getNode('statuses'));
      const errors = errorsOf();
      const shown = [];
      for (const [i] of urls.entries()) {
        const red = await statuses.until((s) => s.source === `p${i}` && s.fill === 'red');
        shown.push(red.text);
        helper.getNode(`p${i}`).receive({ payload: 'x' });
      }
      await errors.next(urls.length);
      for (const [i, [url, expected]] of urls.entries()) {
        const err = errors.list.find((m) => m.error.source.id === `p${i}`);
        assert.match(err.error.message, expected, `error for ${url}`);
        // The status is the same reason, cut at a word to fit under the node.
        shortFormOf(shown[i], err.error.message, `status for ${url}`);
      }
    });

    it('an unknown vhost says the broker refused to open it', async () => {
      await loadFlow(
        [
          brokerNode('broker', `${BROKER_URL}/nope`),
          { id: 'pub', type: 'amqp-publish', broker: 'broker', routingKey: 'k', confirmTimeout: 10, wires: [[], []] },
          { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
          { id: 'errors', type: 'helper' },
          { id: 'watcher', type: 'status', scope: ['pub'], wires: [['statuses']] },
          { id: 'statuses', type: 'helper' },
        ],
        TEST_CREDENTIALS,
      );
      const statuses = statusWatch(helper.getNode('statuses'));
      const errors = errorsOf();
      const red = await statuses.until((s) => s.fill === 'red');
      // The status names it by the broker's code; the sentence is in the log, once.
      assert.match(red.text, /^disconnected: 530 NOT_ALLOWED/);
      const logged = helper
        .getNode('broker')
        .warn.getCalls()
        .map((c) => String(c.args[0]));
      assert.equal(
        logged.filter((line) => /cannot connect to the broker: .*refused to open virtual host "nope"/.test(line))
          .length,
        1,
        logged.join(' | '),
      );
      helper.getNode('pub').receive({ payload: 'x' });
      const [err] = await errors.next(1);
      assert.match(
        err.error.message,
        /refused to open virtual host "nope" \(530 NOT_ALLOWED: it does not exist, or the user may not use it\)/,
      );
    });

    it('wrong credentials say ACCESS_REFUSED at once, without the password', async () => {
      const secret = `wrong-${process.pid}-secret`;
      await loadFlow(
        [
          brokerNode('broker', BROKER_URL),
          { id: 'pub', type: 'amqp-publish', broker: 'broker', routingKey: 'k', confirmTimeout: 30, wires: [[], []] },
          { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
          { id: 'errors', type: 'helper' },
        ],
        { broker: { username: CREDENTIALS.username, password: secret } },
      );
      const errors = errorsOf();
      const t0 = Date.now();
      helper.getNode('pub').receive({ payload: 'x' });
      const [err] = await errors.next(1);
      assert.match(err.error.message, /ACCESS.REFUSED/);
      assert.ok(!err.error.message.includes(secret));
      assert.ok(Date.now() - t0 < 10000, 'failed at once, not after the confirm timeout');
    });
  });

  describe('keys naming Object.prototype members: data or a clear error, never a prototype', function () {
    const TOO_MANY = /PRECONDITION_FAILED - inequivalent arg 'x-max-length'/;

    /** Redeclares `queue` with `args` on a channel of its own (a refusal closes the channel): null or the broker's error. */
    async function redeclare(queue, args) {
      const channel = await side.connection.createChannel();
      channel.on('error', () => undefined);
      try {
        await channel.assertQueue(queue, { durable: true, arguments: args });
        await channel.close();
        return null;
      } catch (err) {
        return err;
      }
    }

    /** Whether the broker has `queue`, asked passively on a channel of its own (a 404 closes it). */
    async function exists(queue) {
      const channel = await side.connection.createChannel();
      channel.on('error', () => undefined);
      try {
        await channel.checkQueue(queue);
        await channel.close();
        return true;
      } catch (err) {
        assert.match(err.message, /NOT_FOUND/);
        return false;
      }
    }

    it('headers named constructor, toString and hasOwnProperty arrive as data', async () => {
      const queue = await side.queue(`faults-proto-headers-${process.pid}`);
      await side.channel.purgeQueue(queue);
      await loadFlow(publishFlow(brokerNode('broker', BROKER_URL), { routingKey: queue }), TEST_CREDENTIALS);
      const delivered = new Promise((resolve) => helper.getNode('delivered').on('input', resolve));
      const headers = JSON.parse('{"constructor": "c", "toString": 2, "hasOwnProperty": {"valueOf": true}}');
      helper.getNode('pub').receive({ payload: 'x', properties: { headers } });
      assert.equal((await delivered).amqp.status, 'Ack');
      const [stored] = await side.drain(queue);
      assert.deepEqual({ ...stored.properties.headers }, headers);
      await side.channel.deleteQueue(queue);
    });

    it('amqp consume refuses an x-argument named __proto__ at deploy and declares nothing', async () => {
      const queue = `faults-proto-args-${process.pid}`;
      await side.channel.deleteQueue(queue);
      await loadFlow(
        [
          brokerNode('broker', BROKER_URL),
          {
            id: 'consume',
            type: 'amqp-consume',
            broker: 'broker',
            queue,
            declare: true,
            queueArguments: '{"__proto__": {"x-max-length": 1}}',
            wires: [[]],
          },
          { id: 'watcher', type: 'status', scope: ['consume'], wires: [['statuses']] },
          { id: 'statuses', type: 'helper' },
        ],
        TEST_CREDENTIALS,
      );
      const statuses = statusWatch(helper.getNode('statuses'));
      const shown = await statuses.until((s) => s.fill !== 'yellow');
      assert.equal(shown.fill, 'red');
      const logged = helper
        .getNode('consume')
        .error.getCalls()
        .map((call) => String(call.args[0]));
      const full = logged.find((line) => /Arguments: __proto__ cannot name an argument/.test(line));
      assert.ok(full, JSON.stringify(logged));
      shortFormOf(shown.text, full, 'the status');
      assert.equal(await exists(queue), false, 'the queue was not declared');
    });

    it('amqp consume declares an x-argument named constructor as data, with the others given', async () => {
      const queue = `faults-proto-ctor-${process.pid}`;
      await side.channel.deleteQueue(queue);
      await loadFlow(
        [
          brokerNode('broker', BROKER_URL),
          {
            id: 'consume',
            type: 'amqp-consume',
            broker: 'broker',
            queue,
            declare: true,
            queueArguments: '{"constructor": "data", "x-max-length": 1}',
            wires: [[]],
          },
          { id: 'watcher', type: 'status', scope: ['consume'], wires: [['statuses']] },
          { id: 'statuses', type: 'helper' },
        ],
        TEST_CREDENTIALS,
      );
      const statuses = statusWatch(helper.getNode('statuses'));
      const shown = await statuses.until((s) => s.fill !== 'yellow');
      assert.equal(shown.fill, 'green', shown.text);
      // The broker compares x-max-length on a redeclaration: it holds 1, as given.
      assert.match(String((await redeclare(queue, { 'x-max-length': 2 }))?.message), TOO_MANY);
      assert.equal(await redeclare(queue, { 'x-max-length': 1, constructor: 'data' }), null);
      await helper.unload();
      await side.channel.deleteQueue(queue);
    });

    for (const [setting, value, expected] of [
      ['returnedAs', 'toString', /Returned: choose transient, permanent or delivered/],
      ['nackedAs', 'constructor', /Nack: choose permanent or transient/],
    ]) {
      it(`amqp publish refuses ${setting} "${value}" at deploy, failing each message with what to choose`, async () => {
        await loadFlow(
          publishFlow(brokerNode('broker', BROKER_URL), { routingKey: 'k', [setting]: value }),
          TEST_CREDENTIALS,
        );
        const statuses = statusWatch(helper.getNode('statuses'));
        const errors = errorsOf();
        const shown = await statuses.until((s) => s.fill !== 'yellow');
        assert.equal(shown.fill, 'red', shown.text);
        helper.getNode('pub').receive({ payload: 'x' });
        const [err] = await errors.next(1);
        assert.match(err.error.message, expected);
        shortFormOf(shown.text, err.error.message, 'the status');
      });
    }

    it('amqp publish refuses to declare a queue with an x-argument named __proto__, failing each message', async () => {
      const queue = `faults-proto-pub-${process.pid}`;
      await side.channel.deleteQueue(queue);
      await loadFlow(
        publishFlow(brokerNode('broker', BROKER_URL), {
          routingKey: queue,
          declareQueue: queue,
          declareArguments: '{"__proto__": {"x-max-length": 1}}',
        }),
        TEST_CREDENTIALS,
      );
      const statuses = statusWatch(helper.getNode('statuses'));
      const errors = errorsOf();
      const red = await statuses.until((s) => s.fill === 'red');
      assert.match(red.text, /queue arguments must be a JSON object/);
      helper.getNode('pub').receive({ payload: 'x' });
      const [err] = await errors.next(1);
      assert.match(err.error.message, /queue arguments must be a JSON object/);
      assert.equal(await exists(queue), false, 'the queue was not declared');
    });
  });

  describe('custom protocol: event-name collisions', function () {
    it('a predefined KumoMTA event, an empty or spaced name, a non-string and a duplicate each give a red status and an error per message', async () => {
      const names = [
        ['get_queue_config', /predefined KumoMTA event/],
        ['init', /predefined KumoMTA event/],
        ['smtp_server_message_received', /predefined KumoMTA event/],
        ['', /event name is empty/],
        ['make amqp', /whitespace/],
        [42, /event name must be a string/],
        ['make.faults.twice', null],
        ['make.faults.twice', /already bound|already used/],
      ];
      await loadFlow([
        ...names.map(([eventName], i) => ({ id: `cp${i}`, type: 'kumo-custom-protocol', eventName, wires: [[], []] })),
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
        { id: 'watcher', type: 'status', scope: null, wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ]);
      const statuses = statusWatch(helper.getNode('statuses'));
      const errors = errorsOf();
      let expectedErrors = 0;
      for (const [i, [name, expected]] of names.entries()) {
        if (!expected) continue;
        const red = await statuses.until((s) => s.source === `cp${i}` && s.fill === 'red');
        // The status is the error's start, short enough to read under the node; the whole error is logged.
        const logged = helper
          .getNode(`cp${i}`)
          .error.getCalls()
          .map((c) => String(c.args[0]));
        assert.ok(
          logged.some((e) => expected.test(e) && e.startsWith(red.text.replace(/…$/, ''))),
          `status ${JSON.stringify(red.text)} and log ${JSON.stringify(logged)} for ${JSON.stringify(name)}`,
        );
        assert.ok(red.text.length <= 40);
        helper.getNode(`cp${i}`).receive({ payload: 'x' });
        expectedErrors++;
      }
      const list = await errors.next(expectedErrors);
      assert.ok(list.every((m) => /custom protocol is not configured/.test(m.error.message)));
      // The first node with the shared name works.
      const ok = names.findIndex(([, expected]) => expected === null);
      const green = await statuses.until((s) => s.source === `cp${ok}`);
      assert.notEqual(green.fill, 'red');
    });
  });
});
