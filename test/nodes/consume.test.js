'use strict';
// amqp consume and amqp ack in Node-RED against the real broker: the msg they
// make, nothing acknowledged before the flow says so, the three actions and
// msg.ack, dead-lettering through a real DLX, the errors Catch nodes see, auto
// mode, prefetch as the bound on what is in the flow under 10 000 messages with
// random failures, a relay that acks after the publisher confirm, the broker
// cancelling the consumer; and in a real Node-RED process a redeploy mid-stream
// and a stop (the example flow: consume-example.test.js).

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector, until } = require('../helpers/node-red');
const { SideChannel, uniqueName, BROKER_URL, CREDENTIALS } = require('../helpers/amqp');
const { startNodeRed } = require('../helpers/node-red-process');
const { eventually } = require('../helpers/eventually');

function consumeNode(queue, overrides = {}) {
  return {
    id: 'in',
    type: 'amqp-consume',
    broker: 'broker',
    queue,
    declare: false,
    prefetch: 100,
    ackMode: 'manual',
    output: 'auto',
    wires: [['out']],
    ...overrides,
  };
}

/** The statuses a node shows, as a Status node reports them. */
function statuses(node) {
  const list = [];
  const waiters = [];
  node.on('input', (msg) => {
    list.push(msg.status.text);
    for (const w of waiters.slice())
      if (w.predicate(msg.status.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg.status.text);
      }
  });
  return {
    list,
    until(predicate) {
      const hit = list.find(predicate);
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    next(predicate) {
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}

/** Ready messages in the queue once the broker reports `expected` (acks and requeues settle asynchronously). */
async function settledCount(side, queue, expected, ms = 5000) {
  const deadline = Date.now() + ms;
  let count = await side.count(queue);
  while (count !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20)); // the broker's counter is not an event we can wait for
    count = await side.count(queue);
  }
  return count;
}

describe('amqp consume → amqp ack against the real broker', function () {
  this.timeout(30000);
  let side;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  describe('the msg a delivery becomes', function () {
    it('payload by content type (JSON parsed, text a string, else a Buffer), msg.topic, msg.amqp and the handle', async () => {
      const queue = await side.queue(uniqueName('consume-shape'));
      await load([brokerConfig(), consumeNode(queue), { id: 'out', type: 'helper' }]);
      const out = collector(helper.getNode('out'));
      const record = { type: 'Bounce', recipient: 'gone@example.com' };
      side.channel.sendToQueue(queue, Buffer.from(JSON.stringify(record)), {
        contentType: 'application/json',
        messageId: 'm-1',
        headers: { 'x-tenant': 'acme' },
      });
      side.channel.sendToQueue(queue, Buffer.from('plain words'), { contentType: 'text/plain' });
      side.channel.sendToQueue(queue, Buffer.from([0, 1, 2]));
      const [json, text, bytes] = await out.next(3);
      assert.deepEqual(json.payload, record);
      assert.equal(json.amqp.content.toString(), JSON.stringify(record));
      assert.equal(json.topic, queue, 'the default exchange routes by queue name: the routing key');
      assert.equal(json.amqp.queue, queue);
      assert.equal(json.amqp.exchange, '');
      assert.equal(json.amqp.redelivered, false);
      assert.equal(typeof json.amqp.deliveryTag, 'number');
      assert.equal(json.amqp.deliveryCount, null);
      assert.deepEqual(json.amqp.properties, {
        contentType: 'application/json',
        messageId: 'm-1',
        headers: { 'x-tenant': 'acme' },
      });
      assert.match(json._amqpAck, /^amqp:/);
      assert.equal(text.payload, 'plain words');
      assert.ok(Buffer.isBuffer(bytes.payload));
      assert.deepEqual([...bytes.payload], [0, 1, 2]);
    });

    it("counts a quorum queue's deliveries in msg.amqp.deliveryCount", async () => {
      const queue = await side.queue(uniqueName('consume-quorum'), { arguments: { 'x-queue-type': 'quorum' } });
      await load([
        brokerConfig(),
        consumeNode(queue, { wires: [['out', 'once']] }),
        { id: 'once', type: 'function', func: 'return msg.amqp.redelivered ? null : msg;', wires: [['settle']] },
        { id: 'settle', type: 'amqp-ack', action: 'requeue', wires: [[]] },
        { id: 'out', type: 'helper' },
      ]);
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('q'));
      const [first, second] = await out.next(2);
      assert.equal(first.amqp.deliveryCount, null, 'no header on the first delivery');
      assert.equal(second.amqp.redelivered, true);
      assert.equal(second.amqp.deliveryCount, 1);
    });

    it('sends a body that should be JSON and is not to Catch (KUMO_BAD_INPUT), with its handle, so it can be rejected', async () => {
      const queue = await side.queue(uniqueName('consume-not-json'));
      await load([
        brokerConfig(),
        consumeNode(queue, { output: 'json' }),
        { id: 'out', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: ['in'], uncaught: false, wires: [['caught', 'deadletter']] },
        { id: 'caught', type: 'helper' },
        { id: 'deadletter', type: 'amqp-ack', action: 'reject', wires: [[]] },
      ]);
      const caught = collector(helper.getNode('caught'));
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('{"type": "Bounce"'));
      const [msg] = await caught.next(1);
      assert.equal(msg.error.code, 'KUMO_BAD_INPUT');
      assert.match(msg.error.message, /not JSON/);
      assert.equal(msg.payload.toString(), '{"type": "Bounce"');
      assert.equal(out.messages.length, 0);
      assert.equal(await settledCount(side, queue, 0), 0);
    });
  });

  describe('manual acknowledgements: at least once', function () {
    it('acknowledges nothing before the flow says so, shows the count, and a redeploy returns them redelivered', async () => {
      const queue = await side.queue(uniqueName('consume-held'));
      await load([
        brokerConfig(),
        consumeNode(queue, { prefetch: 10 }),
        { id: 'out', type: 'helper' },
        { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ]);
      const status = statuses(helper.getNode('statuses'));
      await status.until((s) => s === 'connected');
      const out = collector(helper.getNode('out'));
      for (let i = 0; i < 5; i++) side.channel.sendToQueue(queue, Buffer.from(String(i)));
      await out.next(5);
      await status.until((s) => s === '5 unacknowledged');
      assert.equal(await side.count(queue), 0, 'none ready: all five are in the flow, unacknowledged');
      await helper.unload();
      assert.equal(await settledCount(side, queue, 5), 5, 'the close returned all five to the queue');
      const back = await side.drain(queue);
      assert.ok(back.every((m) => m.fields.redelivered));
    });

    it('ack removes, requeue delivers again (redelivered), reject dead-letters through the DLX; msg.ack overrides the action', async () => {
      const queue = uniqueName('consume-actions');
      const dlx = await side.exchange(uniqueName('consume-dlx'), 'fanout');
      const dead = await side.queue(uniqueName('consume-dead'));
      await side.channel.bindQueue(dead, dlx, '');
      side.queues.push(queue);
      // The node declares the queue with the dead-letter exchange.
      await load([
        brokerConfig(),
        consumeNode(queue, { declare: true, deadLetterExchange: dlx, wires: [['decide']] }),
        // The body says what to do; a requeued one is acked when it comes back.
        {
          id: 'decide',
          type: 'function',
          func: 'msg.ack = msg.amqp.redelivered ? "ack" : msg.payload; return msg;',
          wires: [['settle']],
        },
        { id: 'settle', type: 'amqp-ack', action: 'reject', wires: [['settled']] },
        { id: 'settled', type: 'helper' },
        { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ]);
      await statuses(helper.getNode('statuses')).until((s) => s === 'connected'); // the queue is declared now
      const settled = collector(helper.getNode('settled'));
      for (const action of ['ack', 'requeue', 'reject'])
        side.channel.sendToQueue(queue, Buffer.from(action), { contentType: 'text/plain' });
      const all = await settled.next(4);
      assert.deepEqual(
        all.map((m) => [m.payload, m.ack, m.amqp.redelivered]).sort(),
        [
          ['ack', 'ack', false],
          ['reject', 'reject', false],
          ['requeue', 'ack', true],
          ['requeue', 'requeue', false],
        ].sort(),
      );
      assert.equal(await settledCount(side, queue, 0), 0);
      assert.equal(await settledCount(side, dead, 1), 1);
      const [letter] = await side.drain(dead);
      assert.equal(letter.content.toString(), 'reject');
      const [death] = letter.properties.headers['x-death'];
      assert.equal(death.reason, 'rejected');
      assert.equal(death.queue, queue);
    });

    it('the action setting applies when msg.ack is not set', async () => {
      const queue = await side.queue(uniqueName('consume-setting'));
      await load([
        brokerConfig(),
        consumeNode(queue, { wires: [['settle']] }),
        { id: 'settle', type: 'amqp-ack', action: 'requeue', wires: [['settled']] },
        { id: 'settled', type: 'helper' },
      ]);
      const settled = collector(helper.getNode('settled'));
      side.channel.sendToQueue(queue, Buffer.from('x'));
      const [first, second] = await settled.next(2);
      assert.equal(first.amqp.redelivered, false);
      assert.equal(second.amqp.redelivered, true, 'requeued and delivered again');
    });
  });

  describe('amqp ack errors reach Catch nodes with a code', function () {
    async function ackFlow(extra = []) {
      await load([
        brokerConfig(),
        { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [['settled']] },
        { id: 'settled', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
        ...extra,
      ]);
      return { errors: collector(helper.getNode('errors')), ack: helper.getNode('settle') };
    }

    it('a msg that did not come from amqp consume, a bad msg.ack, a handle of nothing: KUMO_BAD_INPUT', async () => {
      const { errors, ack } = await ackFlow();
      ack.receive({ payload: 'from elsewhere' });
      ack.receive({ payload: 'x', _amqpAck: 'amqp:00000000.1.1', ack: 'nack' });
      ack.receive({ payload: 'x', _amqpAck: { tag: 1 } });
      const [missing, badAction, notHandle] = await errors.next(3);
      for (const e of [missing, badAction, notHandle]) assert.equal(e.error.code, 'KUMO_BAD_INPUT');
      assert.match(missing.error.message, /msg\._amqpAck is missing/);
      assert.match(
        badAction.error.message,
        /msg\.ack must be "ack", "requeue", "requeue-failed" or "reject", got "nack"/,
      );
      assert.match(notHandle.error.message, /not a delivery handle/);
    });

    it('an action the node does not know: a red status at deploy, and a msg without msg.ack fails with KUMO_NOT_CONFIGURED', async () => {
      await load([
        brokerConfig(),
        { id: 'settle', type: 'amqp-ack', action: 'nack', wires: [[]] },
        { id: 'watch', type: 'status', scope: ['settle'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
      ]);
      const errors = collector(helper.getNode('errors'));
      const shown = await until(collector(helper.getNode('statuses')), (m) => m.status.fill === 'red');
      assert.equal(shown.status.shape, 'ring');
      assert.match(shown.status.text, /^Action: choose ack/);
      helper.getNode('settle').receive({ payload: 'x', _amqpAck: 'amqp:00000000.1.1' });
      const [error] = await errors.next(1);
      assert.equal(error.error.code, 'KUMO_NOT_CONFIGURED');
      assert.match(error.error.message, /Action: choose ack, requeue, requeue as failed or reject/);
    });

    it('a second ack of one message (a fork to two ack nodes) is refused, and the channel keeps working', async () => {
      const queue = await side.queue(uniqueName('consume-twice'));
      const { errors } = await ackFlow([
        consumeNode(queue, { wires: [['settle', 'settle2']] }),
        { id: 'settle2', type: 'amqp-ack', wires: [['settled']] },
      ]);
      const settled = collector(helper.getNode('settled'));
      side.channel.sendToQueue(queue, Buffer.from('one'));
      const [error] = await errors.next(1);
      assert.equal(error.error.code, 'KUMO_BAD_INPUT');
      assert.match(error.error.message, /acknowledged, requeued or rejected before/);
      await settled.next(1);
      side.channel.sendToQueue(queue, Buffer.from('two'));
      await until(settled, (m) => String(m.payload) === 'two');
      assert.equal(await settledCount(side, queue, 0), 0);
    });

    it('a msg whose channel is gone (the consume node was redeployed): KUMO_BROKER_UNAVAILABLE, and the broker delivers it again', async () => {
      const queue = await side.queue(uniqueName('consume-gone'));
      await load([brokerConfig(), consumeNode(queue), { id: 'out', type: 'helper' }]);
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('held'));
      const [held] = await out.next(1);
      await helper.unload();
      const { errors, ack } = await ackFlow();
      ack.receive(held);
      const [error] = await errors.next(1);
      assert.equal(error.error.code, 'KUMO_BROKER_UNAVAILABLE');
      assert.match(error.error.message, /channel it was consumed on is closed/);
      assert.equal(await settledCount(side, queue, 1), 1, 'the message is back in the queue');
    });
  });

  it('auto mode acknowledges on receipt: the queue empties with no ack node, and amqp ack has nothing to settle', async () => {
    const queue = await side.queue(uniqueName('consume-auto'));
    await load([
      brokerConfig(),
      consumeNode(queue, { ackMode: 'auto', prefetch: 5, wires: [['out', 'settle']] }),
      { id: 'out', type: 'helper' },
      { id: 'settle', type: 'amqp-ack', wires: [[]] },
      { id: 'catcher', type: 'catch', scope: ['settle'], uncaught: false, wires: [['errors']] },
      { id: 'errors', type: 'helper' },
    ]);
    const out = collector(helper.getNode('out'));
    const errors = collector(helper.getNode('errors'));
    for (let i = 0; i < 20; i++) side.channel.sendToQueue(queue, Buffer.from(String(i)));
    await out.next(20);
    assert.ok(out.messages.every((m) => !('_amqpAck' in m)));
    await errors.next(20);
    assert.ok(errors.messages.every((m) => m.error.code === 'KUMO_BAD_INPUT'));
    await helper.unload();
    assert.equal(await settledCount(side, queue, 0), 0, 'nothing came back on close');
  });

  it('10 000 messages with random processing failures (Catch → requeue): each processed, the queue empty, never more than prefetch unacknowledged', async function () {
    this.timeout(120000);
    const TOTAL = Number(process.env.CONSUME_MESSAGES || 10000);
    const PREFETCH = 50;
    const queue = await side.queue(uniqueName('consume-10k'));
    await load([
      brokerConfig(),
      consumeNode(queue, { prefetch: PREFETCH, output: 'string', wires: [['work']] }),
      // One attempt in ten fails, redelivered ones too.
      {
        id: 'work',
        type: 'function',
        func: 'if (Math.random() < 0.1) throw new Error("random failure"); return msg;',
        wires: [['settle']],
      },
      { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [[]] },
      { id: 'catcher', type: 'catch', scope: ['work'], uncaught: false, wires: [['retry']] },
      { id: 'retry', type: 'amqp-ack', action: 'requeue', wires: [[]] },
    ]);
    // Counted where they happen: a delivery as the consume node sends it, a settle once amqp ack has written it.
    const consume = helper.getNode('in');
    let inFlight = 0;
    let maxInFlight = 0;
    let failures = 0;
    let redelivered = 0;
    const processed = new Set();
    let done;
    const finished = new Promise((resolve) => {
      done = resolve;
    });
    const send = consume.send;
    consume.send = function (msg) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (msg.amqp.redelivered) redelivered++;
      return send.call(this, msg);
    };
    helper.getNode('settle').on('input', (msg) => {
      inFlight--;
      processed.add(msg.payload);
      if (processed.size === TOTAL) done();
    });
    helper.getNode('retry').on('input', () => {
      inFlight--;
      failures++;
    });
    const t0 = Date.now();
    for (let i = 0; i < TOTAL; i++) side.channel.sendToQueue(queue, Buffer.from(String(i)), { persistent: false });
    await finished;
    const ms = Date.now() - t0;
    assert.equal(processed.size, TOTAL, 'each message processed at least once');
    assert.ok(failures > TOTAL * 0.05, `only ${failures} random failures: the test proved little`);
    assert.ok(redelivered >= failures, `${failures} requeued, ${redelivered} came back flagged redelivered`);
    assert.ok(maxInFlight <= PREFETCH, `${maxInFlight} unacknowledged at once, prefetch ${PREFETCH}`);
    assert.equal(maxInFlight, PREFETCH, 'the window was used');
    assert.equal(await settledCount(side, queue, 0), 0, 'the queue is empty');
    await helper.unload();
    assert.equal(await settledCount(side, queue, 0), 0, 'and nothing was left unacknowledged');
    console.log(
      `      [figures] ${TOTAL} messages, ${failures} failures requeued, ${redelivered} redeliveries, at most ${maxInFlight} unacknowledged (prefetch ${PREFETCH}), ${Math.round((TOTAL * 1000) / ms)} msg/s`,
    );
  });

  it('a relay, consume → amqp publish (confirm) → amqp ack, acks each message after its confirm', async () => {
    const from = await side.queue(uniqueName('relay-from'));
    const to = await side.queue(uniqueName('relay-to'));
    await load([
      brokerConfig(),
      consumeNode(from, { prefetch: 20, wires: [['pub']] }),
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: to,
        routingKeyType: 'str',
        wires: [['settle'], []],
      },
      { id: 'settle', type: 'amqp-ack', wires: [['settled']] },
      { id: 'settled', type: 'helper' },
    ]);
    const settled = collector(helper.getNode('settled'));
    for (let i = 0; i < 200; i++) side.channel.sendToQueue(from, Buffer.from(String(i)));
    const all = await settled.next(200);
    assert.ok(
      all.every((m) => m.amqp.status === 'Ack'),
      'amqp ack got the msg after the confirm (msg.amqp is the confirm result)',
    );
    assert.equal(await settledCount(side, from, 0), 0);
    const relayed = await side.drain(to);
    assert.deepEqual(
      relayed.map((m) => Number(m.content.toString())).sort((a, b) => a - b),
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it('says "cancelled by the broker" when its queue is deleted, and consumes again once the queue is back', async () => {
    const queue = await side.queue(uniqueName('consume-cancel'), { durable: false });
    await load([
      brokerConfig(),
      consumeNode(queue),
      { id: 'out', type: 'helper' },
      { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
      { id: 'statuses', type: 'helper' },
    ]);
    const status = statuses(helper.getNode('statuses'));
    await status.until((s) => s === 'connected');
    const cancelled = status.next((s) => s === 'cancelled by the broker');
    await side.channel.deleteQueue(queue);
    await cancelled;
    const back = status.next((s) => s === 'connected');
    await side.queue(queue, { durable: false });
    await back;
    const out = collector(helper.getNode('out'));
    side.channel.sendToQueue(queue, Buffer.from('after'));
    const [msg] = await out.next(1);
    assert.equal(msg.payload.toString(), 'after');
  });

  it('shows "disconnected: " with the broker\'s 404 for a queue that does not exist, and consumes once it does', async () => {
    const queue = uniqueName('consume-missing');
    await load([
      brokerConfig(),
      consumeNode(queue),
      { id: 'out', type: 'helper' },
      { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
      { id: 'statuses', type: 'helper' },
    ]);
    const status = statuses(helper.getNode('statuses'));
    const down = await status.until((s) => s.startsWith('disconnected: '));
    assert.match(down, /404|NOT_FOUND/);
    await side.queue(queue, { durable: false });
    await status.until((s) => s === 'connected');
  });

  it('with the broker unreachable, says why and that it dials again: "disconnected: ECONNREFUSED, retrying"', async () => {
    await load([
      brokerConfig('broker', { url: 'amqp://127.0.0.1:1' }),
      consumeNode(uniqueName('consume-unreachable')),
      { id: 'out', type: 'helper' },
      { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
      { id: 'statuses', type: 'helper' },
    ]);
    const status = statuses(helper.getNode('statuses'));
    const down = await status.until((s) => s.startsWith('disconnected'));
    // The reason and the count do not both fit in 40 characters: the reason stays (the backoff's own
    // times are tested in state-machines/broker-connection.test.js).
    assert.equal(down, 'disconnected: ECONNREFUSED, retrying');
  });
});

describe('amqp consume in a real Node-RED process', function () {
  this.timeout(60000);
  let side;
  let nodeRed;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  function brokerNode(id = 'broker') {
    return {
      id,
      type: 'amqp-broker',
      name: 'test broker',
      url: BROKER_URL,
      heartbeat: 10,
      connectionName: 'consume-process',
    };
  }

  it('a Node-RED stop returns the messages still unacknowledged in the flow to the queue', async () => {
    const queue = await side.queue(uniqueName('stop'));
    for (let i = 0; i < 30; i++) side.channel.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
    nodeRed = await startNodeRed(
      [
        { id: 'tab', type: 'tab', label: 'held' },
        brokerNode(),
        {
          id: 'in',
          z: 'tab',
          type: 'amqp-consume',
          broker: 'broker',
          queue,
          declare: false,
          prefetch: 10,
          ackMode: 'manual',
          wires: [['hold']],
        },
        // A flow that never finishes with its messages: it logs each, and never acks.
        {
          id: 'hold',
          z: 'tab',
          type: 'function',
          func: "node.warn('holding ' + msg.payload); return null;",
          wires: [],
        },
      ],
      { credentials: { broker: CREDENTIALS } },
    );
    await nodeRed.waitForLog(/holding 9\b/);
    assert.equal(await side.count(queue), 20, 'ten in the flow (prefetch), twenty still ready');
    await nodeRed.stop();
    nodeRed = null;
    const back = await side.drain(queue);
    assert.equal(back.length, 30, 'the ten held in the flow are back in the queue');
    assert.deepEqual(
      back
        .filter((m) => m.fields.redelivered)
        .map((m) => Number(m.content.toString()))
        .sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  it('a redeploy mid-stream of a relay loses nothing: every message relayed, the duplicates flagged redelivered; a stop returns what is unacknowledged', async () => {
    const TOTAL = 3000;
    const from = await side.queue(uniqueName('redeploy-from'));
    const to = await side.queue(uniqueName('redeploy-to'));
    const flow = (name) => [
      { id: 'tab', type: 'tab', label: 'relay' },
      brokerNode(),
      {
        id: 'in',
        z: 'tab',
        type: 'amqp-consume',
        name,
        broker: 'broker',
        queue: from,
        declare: false,
        prefetch: 50,
        ackMode: 'manual',
        output: 'buffer',
        wires: [['mark']],
      },
      // The relayed copy says whether it came from a redelivery.
      {
        id: 'mark',
        z: 'tab',
        type: 'function',
        func: 'msg.properties = { headers: { redelivered: msg.amqp.redelivered } }; return msg;',
        wires: [['pub']],
      },
      {
        id: 'pub',
        z: 'tab',
        type: 'amqp-publish',
        broker: 'broker',
        routingKey: to,
        routingKeyType: 'str',
        wires: [['settle'], []],
      },
      { id: 'settle', z: 'tab', type: 'amqp-ack', action: 'ack', wires: [[]] },
    ];
    // What arrives in `to`, read as it arrives: seq -> the redelivered flag of each copy.
    const copies = new Map();
    let arrived;
    const allArrived = new Promise((resolve) => {
      arrived = resolve;
    });
    const reader = await side.connection.createChannel();
    await reader.prefetch(500);
    await reader.consume(to, (m) => {
      const seq = Number(m.content.toString());
      copies.set(seq, [...(copies.get(seq) || []), m.properties.headers.redelivered]);
      reader.ack(m);
      if (copies.size === TOTAL) arrived();
    });

    nodeRed = await startNodeRed(flow('relay'), { credentials: { broker: CREDENTIALS } });
    for (let i = 0; i < TOTAL; i++) side.channel.sendToQueue(from, Buffer.from(String(i)), { persistent: true });
    await eventually('a part of the stream relayed', () => copies.size >= TOTAL / 5, 30000);
    const response = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flow('relay (redeployed)')),
    });
    assert.ok(response.ok, `deploy answered ${response.status}: ${await response.text()}`);
    const relayedAtRedeploy = copies.size;
    assert.ok(relayedAtRedeploy < TOTAL, 'the redeploy came after the stream had finished: the test proved nothing');
    await allArrived;
    await eventually('the source queue drained', async () => (await side.count(from)) === 0);
    // A stop now returns what is still unacknowledged (relayed, its ack not yet written): those come back flagged.
    await nodeRed.stop();
    nodeRed = null;
    const returned = await side.drain(from);
    assert.ok(returned.length <= 50, `${returned.length} returned at the stop: more than prefetch`);
    assert.ok(
      returned.every((m) => m.fields.redelivered && copies.has(Number(m.content.toString()))),
      'what the stop returned had been relayed already, and comes back flagged redelivered',
    );
    await reader.close();
    let duplicates = 0;
    for (const [seq, list] of copies) {
      if (list.length < 2) continue;
      duplicates += list.length - 1;
      assert.ok(
        list.filter((r) => r).length >= list.length - 1,
        `message ${seq} relayed ${list.length} times, ${list.filter((r) => r).length} of them flagged redelivered`,
      );
    }
    assert.ok(
      duplicates <= 50,
      `${duplicates} duplicates: more than the prefetch window of 50 in flight at the redeploy`,
    );
    console.log(
      `      [figures] redeploy: ${TOTAL} messages, ${relayedAtRedeploy} relayed before it, lost 0, ${duplicates} relayed twice (flagged redelivered), ${returned.length} returned by the stop`,
    );
  });
});
