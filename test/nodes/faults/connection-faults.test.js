'use strict';
// The broker closes the pack's connection, closes its channel with a 404, and
// blocks publishers with a memory alarm, each in the middle of a stream through
// queue config ⇒ custom protocol → amqp publish. The publish node says so in
// its status, holds or fails messages within its bound, resumes by itself, and
// every message is delivered in the end. And a redeploy while the broker is
// down does not wait for messages that can never be written.

const assert = require('node:assert/strict');
const {
  startFaultBroker,
  loadFlow,
  routingFlow,
  publishFlow,
  brokerNode,
  stream,
  Side,
  Ledger,
  audit,
  statusWatch,
  connectionsNamed,
  range,
  brokers,
  helper,
} = require('./support/faults');

const TOTAL = 3000;
// What a message written but unconfirmed when the connection went fails with: the broker may have stored it.
const CONNECTION_LOST =
  /connection to the broker lost before it confirmed the message \(.*CONNECTION.FORCED.*\); it may or may not have been delivered/;
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
    let errorArrived;
    const firstError = new Promise((resolve) => {
      errorArrived = resolve;
    });
    helper.getNode('errors').on('input', (msg) => {
      errors.push(msg.error.message);
      errorArrived();
    });
    await statuses.until((s) => s.fill === 'green');
    return { ledger, statuses, errors, firstError, qc: helper.getNode('qc') };
  }

  async function expectNothingLost(queue, ledger) {
    await ledger.allSettled();
    assert.equal(ledger.count('Delivery'), TOTAL, 'every message ends as a Delivery');
    assert.deepEqual(ledger.settledTwice, []);
    const unconfirmed = ledger.transient.filter((t) => !/not published within/.test(t.content)).length;
    const result = audit(await side.drain(queue), range(TOTAL));
    assert.deepEqual(result.lost, [], `${result.lost.length} messages lost`);
    assert.ok(
      result.duplicates <= unconfirmed,
      `${result.duplicates} duplicates but only ${unconfirmed} were unconfirmed when the fault hit`,
    );
    return { ...result, unconfirmed, retried: new Set(ledger.transient.map((t) => t.seq)).size };
  }

  describe("rabbitmqctl close_connection of the pack's connection", function () {
    it("shows disconnected with the broker's reason, reconnects by itself and delivers every message", async () => {
      const queue = await side.queue('faults-close-connection');
      await side.channel.purgeQueue(queue);
      const n = await start({ event: 'make.faults.close', queue });
      // The broker node names its connection (client property connection_name) after itself.
      const [pid] = await connectionsNamed(fb.instance, 'kumo-faults broker');
      assert.ok(pid, "the pack's connection is listed by its name");
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
      // One line each for the loss (with the broker's reason) and the regain (with how long it took); none per message.
      const broker = helper.getNode('broker');
      const lost = broker.warn
        .getCalls()
        .filter((c) => /connection to the broker lost: .*CONNECTION.FORCED/.test(c.args[0]));
      const regained = broker.log
        .getCalls()
        .filter((c) => /connection to the broker regained after \d+\.\d s/.test(c.args[0]));
      assert.equal(lost.length, 1);
      assert.equal(regained.length, 1);
      // Messages written but unconfirmed at the close are told the connection was lost (with the
      // broker's reason) and that they may have been delivered, not a bare "channel closed".
      const inFlight = n.ledger.transient.filter((t) => !/not published within/.test(t.content));
      const misreported = inFlight.filter((t) => !CONNECTION_LOST.test(t.content));
      assert.deepEqual(
        misreported.slice(0, 3),
        [],
        `${misreported.length} of the ${inFlight.length} messages in flight at the close do not say the connection was lost`,
      );
      assert.deepEqual(
        n.errors.filter((e) => /channel closed/.test(e)).slice(0, 3),
        [],
        'a connection loss was reported as a closed channel',
      );
      assert.equal(
        n.errors.filter((e) => CONNECTION_LOST.test(e)).length,
        inFlight.length,
        'each message in flight at the close reached Catch with the connection-lost error',
      );
      console.log(
        `      [figures] close_connection: ${TOTAL} messages, ${deliveredAtClose} confirmed before the close, ${result.unconfirmed} unconfirmed at the close, ${result.retried} retried, lost 0, ` +
          `duplicates ${result.duplicates}, reconnected ${((up.at - down.at) / 1000).toFixed(1)} s after the close was seen, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    });
  });

  describe('a channel closed by a 404 (the exchange was deleted mid-stream)', function () {
    it("fails the attempts with the broker's 404, reopens its channel once the exchange is back, and delivers every message", async () => {
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
      // The status names it short (the broker's code); the sentence is in the log, once.
      assert.match(down.text, /^channel closed: 404 NOT.FOUND/);
      assert.ok(
        helper
          .getNode('pub')
          .warn.getCalls()
          .some((c) => /channel closed by the broker: .*404/.test(c.args[0])),
      );
      await n.ledger.until(() => n.ledger.transient.length > 0);
      await n.firstError; // Catch hears of a failed attempt on a path of its own, not in step with the log record
      assert.ok(
        n.errors.some((e) => /404/.test(e) && e.includes(`no exchange '${exchange}'`)),
        `no error names the 404: ${n.errors.slice(0, 3).join(' | ')}`,
      );
      await side.channel.assertExchange(exchange, 'direct', { durable: false });
      await side.channel.bindQueue(queue, exchange, 'k');
      const up = await n.statuses.next((s) => s.fill === 'green');
      await fed;
      const result = await expectNothingLost(queue, n.ledger);
      await side.channel.deleteExchange(exchange);
      console.log(
        `      [figures] channel 404: ${TOTAL} messages, ${n.errors.length} attempts failed with an error, ${result.retried} retried, lost 0, duplicates ${result.duplicates}, ` +
          `channel reopened ${((up.at - down.at) / 1000).toFixed(1)} s after the error was seen, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    });
  });

  describe('a redeploy while the broker is down', function () {
    it('closes the publish node at once, failing every waiting message as closing instead of waiting for a broker that is not there', async () => {
      const [port] = await brokers.freePorts(1); // nothing listens there: the broker is down
      await loadFlow(
        publishFlow(brokerNode('broker', `amqp://127.0.0.1:${port}`), {
          routingKey: 'faults-down',
          confirmTimeout: 30,
        }),
        CREDENTIALS,
      );
      const statuses = statusWatch(helper.getNode('statuses'));
      await statuses.until((s) => s.fill === 'red' && /^disconnected: /.test(s.text));
      const pub = helper.getNode('pub');
      const failed = new Map(); // seq -> errors
      pub.on('call:error', (call) => {
        const [err, msg] = call.args;
        failed.set(msg.seq, [...(failed.get(msg.seq) || []), err]);
      });
      const WAITING = 50;
      const allFailed = new Promise((resolve) =>
        pub.on('call:error', () => {
          if (failed.size === WAITING) resolve();
        }),
      );
      for (let seq = 0; seq < WAITING; seq++) pub.receive({ payload: { seq }, seq });
      const started = Date.now();
      // Stops the flow as a redeploy does (unload would first remove the error spy); done once every message has its error.
      await Promise.all([helper.clearFlows(), allFailed]);
      const elapsed = Date.now() - started;
      // The close must not wait for confirms that can never come: that wait is the publisher's 15 s grace, and
      // anything near it fails here; 2 s leaves a busy runner room for the close itself.
      assert.ok(elapsed < 2000, `the redeploy took ${elapsed} ms with the broker down`);
      assert.equal(failed.size, WAITING, `${WAITING - failed.size} messages ended without an error`);
      for (const [seq, errors] of failed) {
        assert.equal(errors.length, 1, `message ${seq} failed ${errors.length} times`);
        assert.equal(errors[0].code, 'KUMO_CLOSING', `message ${seq}: ${errors[0].message}`);
        assert.match(errors[0].message, /closing; message not published/);
      }
      console.log(
        `      [figures] redeploy with the broker down: ${WAITING} messages waiting, closed in ${elapsed} ms, each failed once with KUMO_CLOSING`,
      );
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
      const broker = helper.getNode('broker');
      assert.equal(broker.warn.getCalls().filter((c) => /is holding publishing/.test(c.args[0])).length, 1);
      assert.equal(broker.log.getCalls().filter((c) => /lets publishing go on again/.test(c.args[0])).length, 1);
      assert.equal(n.ledger.transient.length, 0, 'a blocked message was failed instead of held');
      assert.ok(deliveredWhileBlocked < TOTAL);
      console.log(
        `      [figures] memory alarm: ${TOTAL} messages, ${Math.max(...seen)} held by the publish node while blocked (bound 128), ` +
          `blocked ${((up.at - held.at) / 1000).toFixed(1)} s, 0 failed, lost 0, duplicates ${result.duplicates}, all delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    });
  });
});
