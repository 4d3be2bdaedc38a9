'use strict';
// What RabbitMQ 4.x changes for amqp consume, amqp ack and amqp publish, where the
// 3.x test broker can show it (docs/rabbitmq.md): declarations RabbitMQ 4.3 refuses are
// refused at deploy before the broker sees them; one warning about a quorum queue's
// delivery limit; requeue as failed is a basic.reject with requeue on the wire (read by
// a proxy, since 3.x requeues both alike) and the message comes back; QoS is per consumer.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector } = require('../helpers/node-red');
const { SideChannel, uniqueName, BROKER_URL } = require('../helpers/amqp');
const { AmqpSniffer } = require('../helpers/amqp-sniffer');

function consumeNode(queue, overrides = {}) {
  return {
    id: 'in',
    type: 'amqp-consume',
    broker: 'broker',
    queue,
    declare: true,
    prefetch: 100,
    ackMode: 'manual',
    output: 'auto',
    wires: [['out']],
    ...overrides,
  };
}

/** The first status text a node shows, as a Status node reports it. */
function firstStatus(statusHelper) {
  return new Promise((resolve) => statusHelper.once('input', (msg) => resolve(msg.status.text)));
}

/** Whether the queue exists, asked on a channel of its own (a 404 closes the channel it is asked on). */
async function queueExists(side, queue) {
  const channel = await side.connection.createChannel();
  channel.on('error', () => undefined);
  try {
    await channel.checkQueue(queue);
    await channel.close();
    return true;
  } catch {
    return false;
  }
}

/** The Status node watching 'in', and a wait for the node to consume (its queue declared by then). */
const WATCH = [
  { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
  { id: 'statuses', type: 'helper' },
];
function consuming() {
  const statuses = helper.getNode('statuses');
  return new Promise((resolve) => {
    const check = (msg) => {
      if (msg.status.text !== 'connected') return;
      statuses.removeListener('input', check);
      resolve();
    };
    statuses.on('input', check);
  });
}

/** The whole reason is in the node's log; its status is the same reason cut at a word to fit under the node. */
function refusedWith(status, id, reason) {
  const logged = helper
    .getNode(id)
    .error.getCalls()
    .map((call) => String(call.args[0]));
  const full = logged.find((line) => reason.test(line));
  assert.ok(full, `no logged error matches ${reason}: ${JSON.stringify(logged)}`);
  const shown = status.replace(/…$/, '');
  assert.ok(status.length <= 40 && shown.length > 5 && full.startsWith(shown), `${status} / ${full}`);
}

function warnings(id) {
  return helper
    .getNode(id)
    .warn.getCalls()
    .map((call) => String(call.args[0]));
}

describe('RabbitMQ 4 without surprises', function () {
  this.timeout(20000);
  let side;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  describe('a declaration RabbitMQ 4.3 refuses is refused at deploy, with the reason, and nothing is declared', function () {
    const cases = [
      [
        'a queue that is not durable (deprecated feature transient_nonexcl_queues)',
        { durable: false },
        /^Durable: RabbitMQ 4\.3 refuses a queue that is neither durable nor exclusive \(deprecated feature transient_nonexcl_queues/,
      ],
      [
        'x-queue-mode (classic queue storage v1 removed)',
        { queueArguments: '{"x-queue-mode": "lazy"}' },
        /^Arguments: RabbitMQ 4\.3 refuses x-queue-mode \(classic queue storage v1 was removed/,
      ],
      [
        'x-queue-master-locator (deprecated feature queue_master_locator)',
        { queueArguments: '{"x-queue-master-locator": "min-masters"}' },
        /^Arguments: RabbitMQ 4\.3 refuses x-queue-master-locator \(deprecated feature queue_master_locator/,
      ],
    ];
    for (const [what, settings, shown] of cases) {
      it(`amqp consume: ${what}`, async () => {
        const queue = uniqueName('rmq4-refused');
        side.queues.push(queue);
        await load([
          brokerConfig(),
          consumeNode(queue, settings),
          { id: 'out', type: 'helper' },
          { id: 'watch', type: 'status', scope: ['in'], wires: [['statuses']] },
          { id: 'statuses', type: 'helper' },
        ]);
        // The 3.x broker would take it: the node must refuse it before asking.
        refusedWith(await firstStatus(helper.getNode('statuses')), 'in', shown);
        assert.equal(await queueExists(side, queue), false);
      });
    }

    it("amqp publish: x-queue-mode in Declare queue's arguments", async () => {
      const queue = uniqueName('rmq4-publish-refused');
      side.queues.push(queue);
      await load([
        brokerConfig(),
        {
          id: 'pub',
          type: 'amqp-publish',
          broker: 'broker',
          routingKey: queue,
          declareQueue: queue,
          declareArguments: '{"x-queue-mode": "lazy"}',
          wires: [[], []],
        },
        { id: 'watch', type: 'status', scope: ['pub'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ]);
      refusedWith(await firstStatus(helper.getNode('statuses')), 'pub', /^.*RabbitMQ 4\.3 refuses x-queue-mode/);
      assert.equal(await queueExists(side, queue), false);
    });

    it('declares a durable queue with x-queue-version 2 as before', async () => {
      const queue = uniqueName('rmq4-cqv2');
      side.queues.push(queue);
      await load([
        brokerConfig(),
        consumeNode(queue, { queueArguments: '{"x-queue-version": 2}' }),
        { id: 'out', type: 'helper' },
        ...WATCH,
      ]);
      await consuming();
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('v2'));
      const [msg] = await out.next(1);
      assert.equal(msg.payload.toString(), 'v2');
    });
  });

  describe("one warning about a quorum queue's delivery limit", function () {
    /** consume → (first delivery: requeue, then ack) → ack; `out` sees every delivery. */
    function requeueOnce(queue, overrides) {
      return [
        brokerConfig(),
        consumeNode(queue, { wires: [['out', 'decide']], ...overrides }),
        {
          id: 'decide',
          type: 'function',
          func: 'msg.ack = msg.amqp.redelivered ? "ack" : "requeue"; return msg;',
          wires: [['settle']],
        },
        { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [[]] },
        { id: 'out', type: 'helper' },
        ...WATCH,
      ];
    }

    it('at deploy, when it declares a quorum queue without a dead-letter exchange; not again when messages carry x-delivery-count', async () => {
      const queue = uniqueName('rmq4-quorum-no-dlx');
      side.queues.push(queue);
      await load(requeueOnce(queue, { queueType: 'quorum' }));
      await consuming();
      const deployed = warnings('in');
      assert.equal(deployed.length, 1, deployed.join('\n'));
      assert.match(
        deployed[0],
        new RegExp(
          `queue "${queue}" is a quorum queue without a dead-letter exchange: .*passes its delivery limit \\(20\\) is dropped`,
        ),
      );
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('q'));
      const [, again] = await out.next(2);
      assert.equal(again.amqp.deliveryCount, 1);
      assert.equal(warnings('in').length, 1);
    });

    it('names the delivery limit the arguments set, and none with a dead-letter exchange', async () => {
      const limited = uniqueName('rmq4-quorum-limit');
      side.queues.push(limited);
      await load(requeueOnce(limited, { queueType: 'quorum', queueArguments: '{"x-delivery-limit": 5}' }));
      assert.match(warnings('in').join('\n'), /passes its delivery limit \(5\) is dropped/);
      await helper.unload();

      const withDlx = uniqueName('rmq4-quorum-dlx');
      side.queues.push(withDlx);
      const dlx = await side.exchange(uniqueName('rmq4-dlx'), 'fanout');
      await load(requeueOnce(withDlx, { queueType: 'quorum', deadLetterExchange: dlx }));
      await consuming();
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(withDlx, Buffer.from('q'));
      const [, again] = await out.next(2);
      assert.equal(again.amqp.deliveryCount, 1);
      assert.deepEqual(warnings('in'), []);
    });

    it('at the first x-delivery-count of a queue it does not declare (its arguments unknown), once', async () => {
      const queue = await side.queue(uniqueName('rmq4-quorum-undeclared'), {
        arguments: { 'x-queue-type': 'quorum' },
      });
      await load([
        brokerConfig(),
        consumeNode(queue, { declare: false, wires: [['out', 'decide']] }),
        // Requeued until its third delivery: x-delivery-count 1, then 2.
        {
          id: 'decide',
          type: 'function',
          func: 'msg.ack = (msg.amqp.deliveryCount || 0) < 2 ? "requeue" : "ack"; return msg;',
          wires: [['settle']],
        },
        { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [[]] },
        { id: 'out', type: 'helper' },
      ]);
      assert.deepEqual(warnings('in'), [], 'nothing is known at deploy');
      const out = collector(helper.getNode('out'));
      side.channel.sendToQueue(queue, Buffer.from('q'));
      const [first] = await out.next(1);
      assert.equal(first.amqp.deliveryCount, null);
      assert.deepEqual(warnings('in'), [], 'no x-delivery-count yet');
      const all = await out.next(3);
      assert.deepEqual(
        all.map((m) => m.amqp.deliveryCount),
        [null, 1, 2],
      );
      const said = warnings('in');
      assert.equal(said.length, 1, said.join('\n'));
      assert.match(said[0], new RegExp(`queue "${queue}" is a quorum queue .*does not know its arguments`));
    });
  });

  describe('amqp ack on the wire (read by a proxy in front of the broker)', function () {
    let sniffer;
    beforeEach(async () => {
      const url = new URL(BROKER_URL);
      sniffer = await AmqpSniffer.start({ host: url.hostname, port: Number(url.port || 5672) });
    });
    afterEach(async () => {
      await helper.unload();
      await sniffer.close();
    });

    it('requeue-failed sends basic.reject with requeue and the message comes back counted; requeue sends basic.nack; QoS is per consumer', async () => {
      const queue = await side.queue(uniqueName('rmq4-reject'), { arguments: { 'x-queue-type': 'quorum' } });
      await load([
        brokerConfig('broker', { url: sniffer.url(BROKER_URL) }),
        consumeNode(queue, { declare: false, wires: [['decide']] }),
        // The body names the action of its first delivery; a redelivered one is acked.
        {
          id: 'decide',
          type: 'function',
          func: 'msg.ack = msg.amqp.redelivered ? "ack" : msg.payload; return msg;',
          wires: [['settle']],
        },
        { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [['settled']] },
        { id: 'settled', type: 'helper' },
      ]);
      const settled = collector(helper.getNode('settled'));
      side.channel.sendToQueue(queue, Buffer.from('requeue-failed'), { contentType: 'text/plain' });
      side.channel.sendToQueue(queue, Buffer.from('requeue'), { contentType: 'text/plain' });
      const all = await settled.next(4);
      const first = (action) => all.find((m) => m.ack === action && m.payload === action);
      const again = (payload) => all.find((m) => m.ack === 'ack' && m.payload === payload);
      assert.ok(first('requeue-failed') && first('requeue'), JSON.stringify(all.map((m) => [m.payload, m.ack])));
      for (const payload of ['requeue-failed', 'requeue']) {
        assert.equal(again(payload).amqp.redelivered, true);
        assert.equal(again(payload).amqp.deliveryCount, 1);
      }

      const failedTag = first('requeue-failed').amqp.deliveryTag;
      const requeueTag = first('requeue').amqp.deliveryTag;
      const reject = await sniffer.waitFor((m) => m.name === 'basic.reject');
      assert.deepEqual([reject.deliveryTag, reject.requeue], [failedTag, true]);
      const nack = await sniffer.waitFor((m) => m.name === 'basic.nack');
      assert.deepEqual([nack.deliveryTag, nack.requeue, nack.multiple], [requeueTag, true, false]);
      assert.equal(sniffer.methods.filter((m) => m.name === 'basic.reject').length, 1);
      assert.equal(sniffer.methods.filter((m) => m.name === 'basic.nack').length, 1);

      // RabbitMQ 4.3 denies global QoS (deprecated feature global_qos).
      const qos = sniffer.methods.filter((m) => m.name === 'basic.qos');
      assert.ok(qos.length >= 1);
      for (const q of qos) assert.deepEqual([q.prefetchCount, q.global], [100, false]);
      assert.equal(sniffer.unreadable, false);
    });
  });
});
