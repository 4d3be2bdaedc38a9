'use strict';
// The broker crashes and comes back while messages flow through
// queue config ⇒ custom protocol → amqp publish. Every message ends confirmed
// (and is in the queue), after retries where its attempt failed; none is lost,
// and the only duplicates are messages the broker had stored but not yet
// confirmed when it died (at-least-once, as KumoMTA itself is).

const assert = require('node:assert/strict');
const {
  startFaultBroker,
  loadFlow,
  routingFlow,
  Side,
  Ledger,
  audit,
  body,
  statusWatch,
  range,
  brokers,
  helper,
} = require('./support/faults');

const TOTAL = Number(process.env.FAULTS_RESTART_MESSAGES || 10000);
const EVENT = 'make.faults.restart';
// What a message in flight at the crash fails with: the broker may have stored it before it died.
const CONNECTION_LOST =
  /connection to the broker lost before it confirmed the message \(.+\); it may or may not have been delivered/;

describe('faults: the broker crashes and restarts while 10 000 messages flow', function () {
  this.timeout(360000);
  let fb;
  let side;

  before(async function () {
    fb = await startFaultBroker();
  });
  afterEach(async () => {
    await helper.unload();
    if (side) await side.close();
    side = null;
  });

  it('confirms every message (retrying those in flight at the crash): 0 lost, duplicates only among the unconfirmed', async () => {
    side = await Side.open(fb.url);
    const queue = await side.queue('faults-restart').catch((err) => {
      throw new Error(`declaring the test's queue on the fault broker failed before the test began: ${err.message}`);
    });
    await side.channel.purgeQueue(queue);
    // The queue must outlive the crash: its declaration is put on disk now
    // (RabbitMQ writes it there within 2 s by itself; the crash may come sooner).
    await brokers.syncDefinitions(fb.instance);
    await loadFlow(routingFlow({ event: EVENT, url: fb.plainUrl, queue }), {
      broker: { username: 'guest', password: 'guest' },
    });
    const ledger = new Ledger(TOTAL);
    ledger.watchRecords(helper.getNode('records'));
    const statuses = statusWatch(helper.getNode('statuses'));
    await statuses.until((s) => s.fill === 'green');

    const started = Date.now();
    const qc = helper.getNode('qc');
    for (let seq = 0; seq < TOTAL; seq++) qc.receive({ payload: body(seq), queue: 'amqp', seq });

    // Crash mid-stream: once a quarter of the messages are confirmed.
    await ledger.until(() => ledger.count('Delivery') >= TOTAL / 4);
    const confirmedBeforeCrash = ledger.count('Delivery');
    const crashAt = Date.now();
    await brokers.crashBroker(fb.instance);
    const down = await statuses.until((s) => s.at >= crashAt && s.fill === 'red');
    assert.match(down.text, /disconnected/, 'the publish node says it lost the broker');
    await brokers.restartBroker(fb.instance);
    const restartedAt = Date.now();
    // The queue is durable and was on disk: if it is gone, say so here (the
    // suite prints the broker's log), not later as a bare 404 from the count.
    await side.close();
    side = await Side.open(fb.url);
    await side.count(queue).catch((err) => {
      throw new Error(
        `after the crash RabbitMQ no longer has the durable queue '${queue}', declared and synced to disk before it (${err.message})`,
      );
    });
    // until, not next: the node may have reconnected while the queue was checked.
    const up = await statuses.until((s) => s.at >= down.at && s.fill === 'green');

    await ledger.allSettled();
    const elapsed = Date.now() - started;
    assert.equal(
      ledger.count('Delivery'),
      TOTAL,
      `not all delivered: ${JSON.stringify({ bounce: ledger.count('Bounce'), expired: ledger.count('Expiration') })}`,
    );
    assert.deepEqual(ledger.settledTwice, [], 'a message got two final outcomes');
    assert.ok(confirmedBeforeCrash < TOTAL, 'the crash came after the stream had finished');

    // An attempt that was written to the broker but never confirmed may or may
    // not have been stored: those are the only candidates for a duplicate.
    const unconfirmed = ledger.transient.filter((t) => !/not published within/.test(t.content));
    const retried = new Set(ledger.transient.map((t) => t.seq));
    assert.ok(unconfirmed.length > 0, 'the crash hit no message in flight: the test proved nothing');
    // Users are told the connection was lost and the message may have been delivered, not a bare "channel closed".
    const misreported = unconfirmed.filter((t) => !CONNECTION_LOST.test(t.content));
    assert.deepEqual(
      misreported.slice(0, 3),
      [],
      `${misreported.length} of the ${unconfirmed.length} messages in flight at the crash do not say the connection was lost`,
    );

    const stored = await side.drain(queue);
    const result = audit(stored, range(TOTAL));
    assert.deepEqual(result.lost, [], `${result.lost.length} confirmed messages are missing from the queue`);
    assert.deepEqual(result.unexpected, []);
    assert.ok(
      result.duplicates <= unconfirmed.length,
      `${result.duplicates} duplicates, more than the ${unconfirmed.length} messages unconfirmed at the crash`,
    );
    console.log(
      `      [figures] restart: ${TOTAL} messages, ${confirmedBeforeCrash} confirmed before the crash, ${unconfirmed.length} unconfirmed at the crash, ` +
        `${retried.size} retried, lost 0, duplicates ${result.duplicates}, broker down ${((restartedAt - crashAt) / 1000).toFixed(1)} s, ` +
        `publishing again ${(Math.max(0, up.at - restartedAt) / 1000).toFixed(1)} s after it was back, all confirmed in ${(elapsed / 1000).toFixed(1)} s`,
    );
  });
});
