'use strict';
// Issue 5 item 2: the broker closes the pack's connection, closes its channel
// with a 404, and blocks publishers with a memory alarm, each in the middle of
// a stream through queue config ⇒ custom protocol → amqp publish. The publish
// node says so in its status, holds or fails messages within its bound,
// resumes by itself, and every message is delivered in the end.

const assert = require('node:assert/strict');
const { startFaultBroker, loadFlow, routingFlow, stream, Side, Ledger, audit, statusWatch, connectionsNamed, range, brokers, helper } = require('./support/faults');

const TOTAL = 3000;
const CREDENTIALS = { broker: { username: 'guest', password: 'guest' } };

describe('faults: connection closed, channel closed, memory alarm', function () {
  this.timeout(60000);
  let fb;
  let side;

  before(async function () {
    fb = await startFaultBroker();
  });
  beforeEach(async () => {
    side = await Side.open(fb.url);
  });
  afterEach(async () => {
    await brokers.setMemoryAlarm(fb.instance, false);
    await helper.unload();
    await side.close();
  });

  async function start(options) {
    await loadFlow(routingFlow({ url: fb.plainUrl, ...options }), CREDENTIALS);
    const ledger = new Ledger(TOTAL);
    ledger.watchRecords(helper.getNode('records'));
    const statuses = statusWatch(helper.getNode('statuses'));
    const errors = [];
    helper.getNode('errors').on('input', (msg) => errors.push(msg.error.message));
    await statuses.until((s) => s.fill === 'green');
    return { ledger, statuses, errors, qc: helper.getNode('qc') };
  }

  async function expectNothingLost(queue, ledger) {
    await ledger.allSettled();
    assert.equal(ledger.count('Delivery'), TOTAL, 'every message ends as a Delivery');
    assert.deepEqual(ledger.settledTwice, []);
    const unconfirmed = ledger.transient.filter((t) => !/not published within/.test(t.content)).length;
    const result = audit(await side.drain(queue), range(TOTAL));
    assert.deepEqual(result.lost, [], `${result.lost.length} messages lost`);
    assert.ok(result.duplicates <= unconfirmed, `${result.duplicates} duplicates but only ${unconfirmed} were unconfirmed when the fault hit`);
    return { ...result, unconfirmed, retried: new Set(ledger.transient.map((t) => t.seq)).size };
  }

  describe('rabbitmqctl close_connection of the pack\'s connection', function () {
    it('shows disconnected with the broker\'s reason, reconnects by itself and delivers every message', async () => {
      const queue = await side.queue('faults-close-connection');
      await side.channel.purgeQueue(queue);
      const n = await start({ event: 'make.faults.close', queue });
      // The broker node names its connection (client property connection_name) after itself.
      const [pid] = await connectionsNamed(fb.instance, 'kumo-faults broker');
      assert.ok(pid, 'the pack\'s connection is listed by its name');
      const t0 = Date.now();
      // ~1000 messages a second for 3 s: rabbitmqctl takes about a second to act, the stream must still be flowing then.
      const fed = stream(n.qc, TOTAL, { perTick: 50 });
      await n.ledger.until(() => n.ledger.count('Delivery') >= 300);
      const closedAt = Date.now();
      await brokers.ctl(fb.instance, ['close_connection', pid, 'closed by the faults suite']);
      // The status names the broker's reason (a reconnect takes ~0.2 s: state changes are not throttled away).
      const down = await n.statuses.until((s) => s.at >= closedAt && /CONNECTION.FORCED/.test(s.text));
      const deliveredAtClose = n.ledger.count('Delivery');
      assert.equal(down.fill, 'red');
      assert.match(down.text, /^disconnected: /);
      const up = await n.statuses.next((s) => s.fill === 'green');
      await fed;
      const result = await expectNothingLost(queue, n.ledger);
      assert.ok(deliveredAtClose < TOTAL, 'the close came after the stream had finished: the test proved nothing');
      const [again] = await connectionsNamed(fb.instance, 'kumo-faults broker');
      assert.ok(again && again !== pid, 'a new connection replaced the closed one');
      console.log(`      [figures] close_connection: ${TOTAL} messages, ${deliveredAtClose} confirmed before the close, ${result.unconfirmed} unconfirmed at the close, ${result.retried} retried, lost 0, ` +
        `duplicates ${result.duplicates}, reconnected ${((up.at - down.at) / 1000).toFixed(1)} s after the close was seen, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });

  describe('a channel closed by a 404 (the exchange was deleted mid-stream)', function () {
    it('fails the attempts with the broker\'s 404, reopens its channel once the exchange is back, and delivers every message', async () => {
      const exchange = 'faults-404';
      await side.channel.assertExchange(exchange, 'direct', { durable: false });
      const queue = await side.queue('faults-404-queue');
      await side.channel.purgeQueue(queue);
      await side.channel.bindQueue(queue, exchange, 'k');
      const n = await start({ event: 'make.faults.404', queue, exchange, routingKey: 'k' });
      const t0 = Date.now();
      const fed = stream(n.qc, TOTAL);
      await n.ledger.until(() => n.ledger.count('Delivery') >= 300);
      const deletedAt = Date.now();
      await side.channel.deleteExchange(exchange);
      const down = await n.statuses.until((s) => s.at >= deletedAt && s.fill === 'red');
      assert.match(down.text, /channel closed by the broker: .*404/);
      await n.ledger.until(() => n.ledger.transient.length > 0);
      assert.ok(n.errors.some((e) => /404/.test(e) && e.includes(`no exchange '${exchange}'`)), `no error names the 404: ${n.errors.slice(0, 3).join(' | ')}`);
      await side.channel.assertExchange(exchange, 'direct', { durable: false });
      await side.channel.bindQueue(queue, exchange, 'k');
      const up = await n.statuses.next((s) => s.fill === 'green');
      await fed;
      const result = await expectNothingLost(queue, n.ledger);
      await side.channel.deleteExchange(exchange);
      console.log(`      [figures] channel 404: ${TOTAL} messages, ${n.errors.length} attempts failed with an error, ${result.retried} retried, lost 0, duplicates ${result.duplicates}, ` +
        `channel reopened ${((up.at - down.at) / 1000).toFixed(1)} s after the error was seen, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });

  describe('a memory alarm (connection.blocked)', function () {
    it('shows blocked with the messages it holds (within its bound), and delivers them all after the alarm clears', async () => {
      const queue = await side.queue('faults-alarm');
      await side.channel.purgeQueue(queue);
      // A confirm timeout longer than the alarm: blocked messages are held, not failed.
      const n = await start({ event: 'make.faults.alarm', queue, confirmTimeout: 30 });
      const t0 = Date.now();
      const fed = stream(n.qc, TOTAL);
      await n.ledger.until(() => n.ledger.count('Delivery') >= 300);
      const alarmAt = Date.now();
      await brokers.setMemoryAlarm(fb.instance, true);
      const isBlocked = (s) => /blocked by the broker \(\d+ waiting\)/.test(s.text);
      const blocked = await n.statuses.until((s) => s.at >= alarmAt && isBlocked(s));
      assert.equal(blocked.fill, 'yellow');
      // Wait until the held messages show in the status, and check the bound: at most maxInFlight (128) reach the publisher.
      const held = await n.statuses.until((s) => isBlocked(s) && Number(/\((\d+) waiting\)/.exec(s.text)[1]) >= 100);
      const deliveredWhileBlocked = n.ledger.count('Delivery');
      await fed;
      const seen = n.statuses.list.filter(isBlocked).map((s) => Number(/\((\d+) waiting\)/.exec(s.text)[1]));
      assert.ok(Math.max(...seen) <= 128, `more held than the custom protocol lets through: ${Math.max(...seen)}`);
      await brokers.setMemoryAlarm(fb.instance, false);
      const up = await n.statuses.next((s) => s.fill === 'green');
      const result = await expectNothingLost(queue, n.ledger);
      assert.equal(n.ledger.transient.length, 0, 'a blocked message was failed instead of held');
      assert.ok(deliveredWhileBlocked < TOTAL);
      console.log(`      [figures] memory alarm: ${TOTAL} messages, ${Math.max(...seen)} held by the publish node while blocked (bound 128), ` +
        `blocked ${((up.at - held.at) / 1000).toFixed(1)} s, 0 failed, lost 0, duplicates ${result.duplicates}, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });
});
