'use strict';
// log hook in (kumo-log-hook) in a real Node-RED process, against the real broker:
// the shared secret, the body and record limits, elements that are not log records,
// the 422 verdict, every record type KumoMTA writes, text/plain answers, and the
// deadline. Its routing (queue config ⇒ custom protocol → amqp publish) is the pack's.

const assert = require('node:assert/strict');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed } = require('../helpers/node-red-process');

const HOOK = 'hook';

/**
 * log hook in → queue config (queue "webhook" → custom_lua `event`) ⇒ custom protocol → amqp publish
 * on `queue`; output 2 to a debug node that writes each element's reason to the log.
 */
function hookFlow({ queue, event, hook = {}, publish = true, protocol = {}, logRecords = [], alsoOut = [] }) {
  const tab = { id: 'tab', type: 'tab', label: 'log hook' };
  const any = { op: 'any', value: '' };
  return [
    tab,
    {
      id: HOOK,
      type: 'kumo-log-hook',
      z: 'tab',
      path: '/kumomta/log',
      queue: 'webhook',
      queueType: 'str',
      ...hook,
      wires: [['qc', ...alsoOut.map((n) => n.id)], ['other']],
    },
    ...alsoOut,
    {
      id: 'other',
      type: 'debug',
      z: 'tab',
      name: 'not a log record',
      active: true,
      tosidebar: false,
      console: true,
      complete: 'reason',
      targetType: 'msg',
      wires: [],
    },
    {
      id: 'qc',
      type: 'kumo-queue-config',
      z: 'tab',
      queue: 'queue',
      queueType: 'msg',
      rules: [
        {
          match: { domain: { op: 'eq', value: 'webhook' }, tenant: any, campaign: any, routing_domain: any },
          protocol: 'custom_lua',
          constructor: event,
          retry_interval: '1s',
          max_retry_interval: '2s',
          max_age: '20s',
        },
      ],
      wires: [[]],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      z: 'tab',
      eventName: event,
      timeout: '10',
      maxInFlight: '128',
      ...protocol,
      wires: [publish ? ['pub'] : [], logRecords.map((n) => n.id)],
    },
    ...logRecords,
    {
      id: 'pub',
      type: 'amqp-publish',
      z: 'tab',
      broker: 'broker',
      exchange: '',
      routingKey: queue,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: '10',
      declareQueue: queue,
      wires: [[], []],
    },
    { id: 'broker', type: 'amqp-broker', name: 'test broker', url: AMQP_URL },
  ];
}

function record(type, i, extra = {}) {
  return {
    type,
    id: `${String(i).padStart(6, '0')}bbc11ed940250ebf67f93bd`.slice(0, 32),
    sender: 'noreply@example.com',
    recipient: `user${i}@example.com`,
    queue: 'campaign:tenant@example.com',
    site: '',
    size: 1047,
    response: { code: 250, enhanced_code: null, content: 'OK', command: '.' },
    peer_address: null,
    timestamp: 1757675281,
    event_time: '2025-09-12T11:08:01.440526026Z',
    created: 1757675281,
    created_time: '2025-09-12T11:08:01.440526026Z',
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: { tenant: 'tenant' },
    headers: {},
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
    ...extra,
  };
}

describe('log hook in (a real Node-RED, the real broker)', function () {
  this.timeout(60000);
  let side;
  let nodeRed = null;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  async function start(options) {
    // Declared here first (as the publish node declares it), so a count before the node has connected is certain.
    const queue = await side.queue(uniqueName('log-hook'));
    const event = `make.${uniqueName('hook')}`;
    nodeRed = await startNodeRed(hookFlow({ queue, event, ...options }), { credentials: options.credentials });
    return queue;
  }

  async function post(body, headers = {}) {
    const response = await fetch(`${nodeRed.url}/kumomta/log`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      ...(typeof body === 'object' && body && !(body instanceof Uint8Array) ? { duplex: 'half' } : {}),
    });
    const answer = {
      status: response.status,
      type: response.headers.get('content-type'),
      retryAfter: response.headers.get('retry-after'),
      verdict: response.headers.get('x-kumo-verdict'),
      text: await response.text(),
    };
    assert.equal(answer.type, 'text/plain; charset=utf-8', `answer ${answer.status} is not text/plain`);
    return answer;
  }

  /** Lines of Node-RED's log that name the log hook node, after `mark`. */
  const hookLines = (mark) =>
    nodeRed.log
      .slice(mark)
      .split('\n')
      .filter((line) => line.includes(`[kumo-log-hook:${HOOK}]`));

  describe('the shared secret', function () {
    it('answers 401 without the header or with a wrong one, reading nothing; 200 with the right one', async () => {
      const queue = await start({ credentials: { [HOOK]: { secret: 's3cret-value' } } });
      const body = JSON.stringify(record('Delivery', 1));
      const mark = nodeRed.log.length;
      const none = await post(body);
      assert.equal(none.status, 401);
      assert.match(none.text, /X-Kumo-Secret/);
      for (const wrong of ['s3cret-valuE', 's3cret-valu', 'x'.repeat(5000)]) {
        assert.equal((await post(body, { 'X-Kumo-Secret': wrong })).status, 401, JSON.stringify(wrong).slice(0, 20));
      }
      assert.equal(await side.count(queue), 0, 'nothing published without the secret');
      const right = await post(body, { 'x-kumo-secret': 's3cret-value' });
      assert.equal(right.status, 200, right.text);
      assert.equal(hookLines(mark).length, 4, 'one log line per refused request');
      const stored = await side.drain(queue);
      assert.deepEqual(
        stored.map((m) => m.content.toString()),
        [body],
      );
    });

    it('takes the secret in the header named by the setting', async () => {
      await start({
        hook: { secretHeader: 'X-Hook-Token' },
        credentials: { [HOOK]: { secret: 'abc' } },
      });
      const body = JSON.stringify(record('Delivery', 2));
      assert.equal((await post(body, { 'X-Kumo-Secret': 'abc' })).status, 401);
      assert.equal((await post(body, { 'X-Hook-Token': 'abc' })).status, 200);
    });
  });

  describe('limits', function () {
    it('answers 413 to a body over Max body, declared or streamed, and reads no further', async () => {
      const queue = await start({ hook: { maxBody: String(4096 / 1048576) } });
      const big = JSON.stringify([record('Delivery', 1, { pad: 'x'.repeat(5000) })]);
      const declared = await post(big);
      assert.equal(declared.status, 413);
      assert.match(declared.text, /over 4096 bytes/);
      // No Content-Length: the body is counted as it arrives.
      const chunks = [Buffer.from('['), Buffer.from('x'.repeat(3000)), Buffer.from('y'.repeat(3000))];
      const stream = new ReadableStream({
        pull(controller) {
          if (chunks.length) controller.enqueue(chunks.shift());
          else controller.close();
        },
      });
      const streamed = await post(stream);
      assert.equal(streamed.status, 413);
      const fits = JSON.stringify(record('Delivery', 2));
      assert.equal((await post(fits)).status, 200, 'a body within the limit still goes through');
      assert.equal((await side.drain(queue)).length, 1);
    });

    it('answers 413 to more records than Max records, publishing none of them', async () => {
      const queue = await start({ hook: { maxRecords: '5' } });
      const six = await post(JSON.stringify(Array.from({ length: 6 }, (_, i) => record('Delivery', i))));
      assert.equal(six.status, 413);
      assert.match(six.text, /more than 5 records/);
      const five = await post(JSON.stringify(Array.from({ length: 5 }, (_, i) => record('Delivery', i))));
      assert.equal(five.status, 200, five.text);
      assert.equal(five.text, '250 5 records confirmed');
      assert.equal((await side.drain(queue)).length, 5);
    });
  });

  describe('the log records of a record it carries', function () {
    it("carry the posted record's sender and recipient, as KumoMTA's log hook message does", async () => {
      // Each field on a line of its own in Node-RED's log (a debug node writing to the console).
      const field = (id, property) => ({
        id,
        type: 'debug',
        z: 'tab',
        active: true,
        tosidebar: false,
        console: true,
        complete: property,
        targetType: 'msg',
        wires: [],
      });
      await start({
        logRecords: [
          field('lr-type', 'payload.type'),
          field('lr-sender', 'payload.sender'),
          field('lr-recipient', 'payload.recipient'),
        ],
      });
      const mark = nodeRed.log.length;
      const posted = record('Bounce', 7, { sender: 'bounces@example.com', recipient: 'gone@example.org' });
      assert.equal((await post(JSON.stringify(posted))).status, 200);
      await nodeRed.waitForLog(/\[debug:lr-recipient\][^\n]*\n?[^\n]*gone@example\.org/);
      const lines = nodeRed.log.slice(mark);
      assert.match(lines, /\[debug:lr-type\][^\n]*Delivery/);
      assert.match(lines, /\[debug:lr-sender\][^\n]*bounces@example\.com/);
    });
  });

  describe('one msg per request (Records: one msg per request)', function () {
    // A debug node beside queue config logs each msg of output 1: how many records it carries.
    const counter = {
      id: 'count',
      type: 'debug',
      z: 'tab',
      name: 'output 1',
      active: true,
      tosidebar: false,
      console: true,
      complete: 'messages.length',
      targetType: 'msg',
      wires: [],
    };
    const outputLines = (mark) =>
      nodeRed.log
        .slice(mark)
        .split('\n')
        .filter((line) => line.includes('[debug:output 1]'));

    it('sends one msg whose msg.messages holds each record whole; each is published and the request answered 200', async () => {
      const queue = await start({ hook: { output: 'request' }, alsoOut: [counter] });
      const records = [record('Delivery', 1), record('Bounce', 2), record('TransientFailure', 3)];
      const mark = nodeRed.log.length;
      const answer = await post(`[${records.map((r) => JSON.stringify(r)).join(',')}, 7]`);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.text, '250 3 records confirmed');
      const stored = await side.drain(queue);
      assert.deepEqual(
        stored.map((m) => JSON.parse(m.content.toString())).sort((a, b) => a.id.localeCompare(b.id)),
        records,
      );
      assert.ok(stored.every((m) => m.properties.contentType === 'application/json'));
      await nodeRed.waitForLog(/not a KumoMTA log record: number/);
      const lines = outputLines(mark);
      assert.equal(lines.length, 1, `output 1 sent:\n${lines.join('\n')}`);
      assert.match(lines[0], /\b3$/);
    });

    it("keeps each record's own outcome: records refused as overloaded are answered 503 with the others unsettled", async () => {
      await start({
        hook: { output: 'request', deadline: '3' },
        publish: false,
        protocol: { timeout: '30', maxQueued: '5' },
      });
      const answer = await post(JSON.stringify(Array.from({ length: 50 }, (_, i) => record('Delivery', i))));
      assert.equal(answer.status, 503);
      assert.match(answer.text, /^50 of 50 records not confirmed; the first: .*not keeping up/);
      await nodeRed.waitForLog(/50 records \(0 confirmed, 0 bounced, 0 expired, 45 not taken, 5 unsettled\)/);
    });

    it('sends each record as its own msg by default', async () => {
      await start({ alsoOut: [counter] });
      const mark = nodeRed.log.length;
      const answer = await post(JSON.stringify([record('Delivery', 1), record('Delivery', 2)]));
      assert.equal(answer.status, 200, answer.text);
      await nodeRed.waitForLog(/\[debug:output 1\][^\n]*\n[^\n]*\[debug:output 1\]/);
      assert.equal(outputLines(mark).length, 2);
    });

    it('refuses an unknown Records setting at deploy', async () => {
      await start({ hook: { output: 'sometimes' } });
      await nodeRed.waitForLog(/records output must be "each" or "request", not "sometimes"/);
      const response = await fetch(`${nodeRed.url}/kumomta/log`, { method: 'POST', body: '{"type":"Delivery"}' });
      assert.equal(response.status, 404, 'nothing listens on the path');
    });
  });

  describe('what is not a log record', function () {
    it('sends elements that are not log records to output 2 with the reason, and answers 200 for the rest', async () => {
      const queue = await start({});
      const records = [record('Delivery', 1), record('Bounce', 2)];
      const mark = nodeRed.log.length;
      const answer = await post(
        `[${JSON.stringify(records[0])}, 7, {"no":"type"}, ${JSON.stringify(records[1])}, {"type":1,"x":${'['.repeat(
          500,
        )}${']'.repeat(500)}}]`,
      );
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.verdict, null);
      assert.equal(answer.text, '250 2 records confirmed');
      const stored = await side.drain(queue);
      assert.deepEqual(
        stored.map((m) => JSON.parse(m.content.toString())),
        records,
      );
      assert.ok(stored.every((m) => m.properties.contentType === 'application/json'));
      await nodeRed.waitForLog(/nested deeper than 64 levels/);
      const logged = nodeRed.log.slice(mark);
      assert.match(logged, /not a KumoMTA log record: number, not an object/);
      assert.match(logged, /not a KumoMTA log record: an object without a string "type"/);
      assert.equal(hookLines(mark).length, 0, 'a 200 logs nothing');
    });

    it('answers 422 with X-Kumo-Verdict only when no element is a log record, and publishes nothing', async () => {
      const queue = await start({});
      for (const body of ['nope', '', '[]', '[1,2]', '{"type":7}', '"Delivery"']) {
        const answer = await post(body);
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.verdict, 'not-a-log-record');
        assert.match(answer.text, /^(not JSON|not a KumoMTA log record)/);
      }
      assert.equal((await post(JSON.stringify(record('Delivery', 1)))).status, 200);
      assert.equal((await side.drain(queue)).length, 1);
    });
  });

  describe('every record KumoMTA writes', function () {
    it('accepts every type, recipient as an array, size 0 and RFC 3339 times, each published byte for byte as application/json', async () => {
      const queue = await start({});
      const types = [
        'Reception',
        'Delivery',
        'TransientFailure',
        'Bounce',
        'Expiration',
        'AdminBounce',
        'OOB',
        'Feedback',
        'Rejection',
        'Delayed',
        'AdminRebind',
        'XferOut',
        'XferIn',
        'DeferredInjectionRebind',
        'SomeTypeOfTomorrow',
      ];
      const bodies = types.map((type, i) =>
        // KumoMTA's own spacing varies by writer; the bytes must survive as they are.
        JSON.stringify(
          record(type, i, {
            recipient: i % 2 ? ['a@example.com', 'b@example.com'] : 'c@example.com',
            size: i === 0 ? 0 : 1047,
            feedback_report: type === 'Feedback' ? { feedback_type: 'abuse', version: 1 } : null,
          }),
          null,
          i % 3 === 0 ? 2 : undefined,
        ),
      );
      for (const body of bodies) {
        const answer = await post(body);
        assert.equal(answer.status, 200, `${JSON.parse(body).type}: ${answer.text}`);
        assert.match(answer.text, /^250 \{"status":"Ack"/);
      }
      const batch = types.map((type, i) => record(type, 100 + i));
      assert.equal((await post(JSON.stringify(batch))).text, `250 ${types.length} records confirmed`);
      const stored = await side.drain(queue);
      assert.deepEqual(
        stored.slice(0, bodies.length).map((m) => m.content.toString()),
        bodies,
      );
      assert.deepEqual(
        stored.slice(bodies.length).map((m) => JSON.parse(m.content.toString())),
        batch,
      );
      assert.ok(stored.every((m) => m.properties.contentType === 'application/json'));
    });
  });

  describe('records the pack cannot take are answered, not each logged', function () {
    it('answers 503 for records refused as overloaded, with one summary line and no error per record', async () => {
      // Five records fit and stay in flight (nothing reports them); the other 45 are refused at once.
      await start({ hook: { deadline: '3' }, publish: false, protocol: { timeout: '30', maxQueued: '5' } });
      const mark = nodeRed.log.length;
      const answer = await post(JSON.stringify(Array.from({ length: 50 }, (_, i) => record('Delivery', i))));
      assert.equal(answer.status, 503);
      assert.equal(answer.retryAfter, '5');
      assert.match(answer.text, /^50 of 50 records not confirmed; the first: .*not keeping up/);
      await nodeRed.waitForLog(/answered 503/);
      const lines = nodeRed.log.slice(mark).split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `log lines:\n${lines.slice(0, 5).join('\n')}`);
      assert.match(lines[0], /50 records \(0 confirmed, 0 bounced, 0 expired, 45 not taken, 5 unsettled\)/);
    });

    it('answers 500 at once for a record whose queue config is not custom_lua (routed nowhere)', async () => {
      await start({ hook: { queue: 'elsewhere.example', deadline: '20' } });
      const started = Date.now();
      const answer = await post(JSON.stringify(record('Delivery', 1)));
      assert.equal(answer.status, 500);
      assert.match(answer.text, /queue elsewhere\.example has no custom_lua protocol/);
      assert.ok(Date.now() - started < 5000, 'answered at once, not at the deadline');
    });
  });

  describe('the deadline', function () {
    it('answers 503 with Retry-After when a record is not settled within Answer within', async () => {
      // Nothing after the custom protocol: its attempt never reports (it would time out in 30 s).
      await start({ hook: { deadline: '2' }, publish: false, protocol: { timeout: '30' } });
      const started = Date.now();
      const mark = nodeRed.log.length;
      const answer = await post(JSON.stringify([record('Delivery', 1), record('Delivery', 2)]));
      const elapsed = Date.now() - started;
      assert.equal(answer.status, 503);
      assert.equal(answer.retryAfter, '5');
      assert.match(answer.text, /2 records not settled within 2 s/);
      // Not before the 2 s deadline, and not at the attempt's 30 s timeout, which a request its deadline did not answer
      // would wait for: 5 s leaves a loaded runner 3 s of room and is far from 30 s.
      assert.ok(elapsed >= 1900 && elapsed < 5000, `answered after ${elapsed} ms`);
      await nodeRed.waitForLog(/answered 503/);
      assert.equal(hookLines(mark).length, 1, 'one summary line for the request');
      assert.match(hookLines(mark)[0], /2 records \(0 confirmed.*2 unsettled\)/);
    });
  });
});
