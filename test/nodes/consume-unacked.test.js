'use strict';
// amqp consume never stalls on a message the flow drops: past "held at most" the
// node settles it itself (requeue, requeue as failed or reject, as set), warns naming it, and the
// status shows the oldest unacknowledged age.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector } = require('../helpers/node-red');
const { SideChannel, uniqueName, BROKER_URL } = require('../helpers/amqp');
const { AmqpSniffer } = require('../helpers/amqp-sniffer');

// Drops a message the first time it is delivered (as a function returning null would), acks it when it comes back.
const DROP_FIRST_DELIVERY = 'return msg.amqp.redelivered ? msg : null;';

function consumeFlow(queue, overrides = {}) {
  return [
    brokerConfig(),
    {
      id: 'in',
      type: 'amqp-consume',
      broker: 'broker',
      queue,
      declare: false,
      prefetch: 2,
      ackMode: 'manual',
      output: 'auto',
      unackedTimeout: 1,
      unackedAction: 'requeue',
      wires: [['drop', 'seen']],
      ...overrides,
    },
    { id: 'drop', type: 'function', func: DROP_FIRST_DELIVERY, outputs: 1, wires: [['acker']] },
    { id: 'acker', type: 'amqp-ack', action: 'ack', wires: [['acked']] },
    { id: 'seen', type: 'helper' },
    { id: 'acked', type: 'helper' },
  ];
}

describe('amqp consume: a message the flow drops does not stall the consumer', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it('requeues what stays unacknowledged past the limit, warns naming it, and consumption goes on past prefetch', async function () {
    this.timeout(20000);
    const queue = await side.queue(uniqueName('unacked-requeue'));
    for (let i = 0; i < 5; i++) side.channel.sendToQueue(queue, Buffer.from(`m${i}`), { messageId: `id-${i}` });
    await load(consumeFlow(queue));
    const acked = collector(helper.getNode('acked'));
    const warnings = [];
    helper.getNode('in').on('call:warn', (call) => warnings.push(String(call.args[0])));
    // Prefetch 2, and every first delivery is dropped: without the limit the consumer stalls after two.
    await acked.next(5);
    assert.deepEqual(acked.messages.map((m) => m.payload.toString()).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.ok(acked.messages.every((m) => m.amqp.redelivered));
    assert.ok(warnings.length >= 1);
    assert.match(warnings[0], /stayed unacknowledged in the flow for more than 1 s .* requeued by this node/);
    assert.match(warnings.join('\n'), /message id "id-0"/);
    assert.equal(await side.count(queue), 0);
  });

  it('requeues as failed when so set: basic.reject with requeue on the wire, and the message comes back', async function () {
    this.timeout(20000);
    const url = new URL(BROKER_URL);
    const sniffer = await AmqpSniffer.start({ host: url.hostname, port: Number(url.port || 5672) });
    try {
      const queue = await side.queue(uniqueName('unacked-requeue-failed'));
      side.channel.sendToQueue(queue, Buffer.from('dropped once'), { messageId: 'id-f' });
      const flow = consumeFlow(queue, { unackedAction: 'requeue-failed' });
      flow[0] = brokerConfig('broker', { url: sniffer.url(BROKER_URL) });
      await load(flow);
      const acked = collector(helper.getNode('acked'));
      const [back] = await acked.next(1);
      assert.equal(back.payload.toString(), 'dropped once');
      assert.equal(back.amqp.redelivered, true);
      const reject = await sniffer.waitFor((m) => m.name === 'basic.reject');
      assert.equal(reject.requeue, true);
      assert.equal(sniffer.methods.filter((m) => m.name === 'basic.nack').length, 0);
    } finally {
      await helper.unload();
      await sniffer.close();
    }
  });

  it('rejects instead when so set: with a dead-letter exchange the message is dead-lettered', async function () {
    this.timeout(20000);
    const dlx = await side.exchange(uniqueName('unacked-dlx'), 'fanout');
    const dead = await side.queue(uniqueName('unacked-dead'));
    await side.channel.bindQueue(dead, dlx, '');
    const queue = await side.queue(uniqueName('unacked-reject'), { arguments: { 'x-dead-letter-exchange': dlx } });
    side.channel.sendToQueue(queue, Buffer.from('dropped'));
    const flow = consumeFlow(queue, { unackedAction: 'reject' });
    flow[2].func = 'return null;';
    await load(flow);
    const seen = collector(helper.getNode('seen'));
    await seen.next(1);
    let messages = [];
    for (let tries = 0; messages.length === 0 && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 50)); // the broker's dead-lettering is not an event we can wait for
      messages = await side.drain(dead);
    }
    assert.deepEqual(
      messages.map((m) => m.content.toString()),
      ['dropped'],
    );
  });
});
