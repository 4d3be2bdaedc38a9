'use strict';
// amqp consume → work → amqp ack while the broker closes the connection
// (rabbitmqctl close_connection) and while it restarts, on the fault suite's
// own broker. Nothing is lost: every message is processed, those in the flow at
// the fault come back flagged redelivered (their acks fail with
// KUMO_BROKER_UNAVAILABLE), the status says disconnected and then connected,
// and the queue is empty at the end.

const assert = require('node:assert/strict');
const {
  startFaultBroker,
  loadFlow,
  brokerNode,
  Side,
  statusWatch,
  connectionsNamed,
  brokers,
  helper,
} = require('./support/faults');

const TOTAL = Number(process.env.CONSUME_FAULT_MESSAGES || 3000);
const PREFETCH = 20;
// Per message: the stream (about 400 messages a second) outlasts rabbitmqctl's second to act, and a
// graceful broker stop, which lets the acks already on their way land, still finds messages in the flow.
const WORK_MS = 50;
const CREDENTIALS = { broker: { username: 'guest', password: 'guest' } };

describe('faults: amqp consume while the broker closes the connection or restarts', function () {
  this.timeout(120000);
  let fb;
  let side;

  before(async function () {
    fb = await startFaultBroker();
  });
  beforeEach(async () => {
    side = await Side.open(fb.url);
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  /** TOTAL persistent messages in a fresh durable queue, confirmed by the broker (on disk before any fault). */
  async function fill(queue) {
    await side.queue(queue);
    await side.channel.purgeQueue(queue);
    const confirm = await side.connection.createConfirmChannel();
    for (let seq = 0; seq < TOTAL; seq++) confirm.sendToQueue(queue, Buffer.from(String(seq)), { persistent: true });
    await confirm.waitForConfirms();
    await confirm.close();
  }

  /**
   * consume → work (`workMs` per message, so the stream lasts through the fault and
   * messages are in the flow when it hits) → ack; Catch on ack collects its errors.
   * Records every message the work step sees.
   */
  async function start(queue, workMs) {
    await loadFlow(
      [
        brokerNode('broker', fb.plainUrl),
        {
          id: 'in',
          type: 'amqp-consume',
          broker: 'broker',
          queue,
          declare: false,
          prefetch: PREFETCH,
          ackMode: 'manual',
          output: 'string',
          wires: [['work']],
        },
        {
          id: 'work',
          type: 'function',
          func: `return new Promise((resolve) => setTimeout(() => resolve(msg), ${workMs}));`,
          wires: [['settle']],
        },
        { id: 'settle', type: 'amqp-ack', action: 'ack', wires: [[]] },
        { id: 'catcher', type: 'catch', scope: ['settle'], uncaught: false, wires: [['errors']] },
        { id: 'errors', type: 'helper' },
        { id: 'watcher', type: 'status', scope: ['in'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ],
      CREDENTIALS,
    );
    const run = { seen: new Map(), acked: 0, errors: [], statuses: statusWatch(helper.getNode('statuses')) };
    let all;
    run.allSeen = new Promise((resolve) => {
      all = resolve;
    });
    helper.getNode('work').on('input', (msg) => {
      const flags = run.seen.get(msg.payload) || [];
      flags.push(msg.amqp.redelivered);
      run.seen.set(msg.payload, flags);
      if (run.seen.size === TOTAL) all();
    });
    helper.getNode('settle').on('input', () => {
      run.acked++;
    });
    helper.getNode('errors').on('input', (msg) => run.errors.push(msg.error));
    await run.statuses.until((s) => s.fill === 'green');
    return run;
  }

  /** Nothing lost, every second copy flagged, the ack errors the fault caused, the queue empty. */
  async function expectAtLeastOnce(queue, run, at) {
    await run.allSeen;
    // The last deliveries settle after the last is seen: the status counts them down to plain "connected".
    await run.statuses.until((s) => s.at >= Date.now() - 1000 && s.text === 'connected');
    const lost = [];
    for (let seq = 0; seq < TOTAL; seq++) if (!run.seen.has(String(seq))) lost.push(seq);
    assert.deepEqual(lost, [], `${lost.length} messages never processed`);
    let duplicates = 0;
    for (const [seq, flags] of run.seen) {
      if (flags.length < 2) continue;
      duplicates += flags.length - 1;
      assert.ok(flags.slice(1).every(Boolean), `message ${seq} came again without the redelivered flag: ${flags}`);
    }
    assert.ok(duplicates > 0, 'no message was in the flow at the fault: the test proved nothing');
    assert.ok(
      run.errors.every((e) => e.code === 'KUMO_BROKER_UNAVAILABLE'),
      `ack errors: ${JSON.stringify(run.errors.slice(0, 3))}`,
    );
    assert.ok(
      at < TOTAL,
      `the fault came after the stream had finished (${at} processed when the disconnect was seen)`,
    );
    let ready = await side.count(queue);
    for (let i = 0; ready !== 0 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20)); // the broker's counter is not an event
      ready = await side.count(queue);
    }
    assert.equal(ready, 0, 'the queue is empty at the end');
    return { duplicates };
  }

  it("close_connection mid-stream: disconnected with the broker's reason, consumes again, nothing lost, redeliveries flagged", async () => {
    const queue = 'faults-consume-close';
    await fill(queue);
    const run = await start(queue, WORK_MS);
    await run.statuses.until(() => run.seen.size >= TOTAL / 5);
    const [pid] = await connectionsNamed(fb.instance, 'kumo-faults broker');
    assert.ok(pid, "the pack's connection is listed by its name");
    const closedAt = Date.now();
    const processedAtFault = run.seen.size;
    await brokers.ctl(fb.instance, ['close_connection', pid, 'closed by the consume faults suite']);
    const down = await run.statuses.until((s) => s.at >= closedAt && s.text.startsWith('disconnected: '));
    const processedAtDisconnect = run.seen.size;
    assert.match(down.text, /CONNECTION.FORCED|closed by the consume faults suite/);
    const up = await run.statuses.next((s) => s.fill === 'green');
    const result = await expectAtLeastOnce(queue, run, processedAtDisconnect);
    console.log(
      `      [figures] consume close_connection: ${TOTAL} messages, ${processedAtFault} processed before it, ${result.duplicates} redelivered and processed again, ${run.errors.length} acks refused (channel gone), consuming again ${((up.at - down.at) / 1000).toFixed(1)} s after`,
    );
  });

  it('a broker restart mid-stream: disconnected, consumes again once it is back, nothing lost, redeliveries flagged', async () => {
    const queue = 'faults-consume-restart';
    await fill(queue);
    const run = await start(queue, WORK_MS);
    await run.statuses.until(() => run.seen.size >= TOTAL / 5);
    const stoppedAt = Date.now();
    const processedAtFault = run.seen.size;
    await brokers.restartBroker(fb.instance);
    const down = await run.statuses.until((s) => s.at >= stoppedAt && s.text.startsWith('disconnected: '));
    const processedAtDisconnect = run.seen.size;
    const up = await run.statuses.until((s) => s.at >= down.at && s.fill === 'green');
    // The side connection died with the broker.
    await side.close();
    side = await Side.open(fb.url);
    const result = await expectAtLeastOnce(queue, run, processedAtDisconnect);
    console.log(
      `      [figures] consume restart: ${TOTAL} messages, ${processedAtFault} processed before it, ${result.duplicates} redelivered and processed again, ${run.errors.length} acks refused, consuming again ${((up.at - down.at) / 1000).toFixed(1)} s after the disconnect`,
    );
  });
});
