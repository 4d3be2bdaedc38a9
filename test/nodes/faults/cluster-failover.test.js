'use strict';
// A cluster of three RabbitMQ nodes on loopback, a quorum
// queue replicated on all three, and a broker node whose url lists the three.
// The node the pack is connected to is stopped mid-stream: the pack moves to
// the next member by itself and, with the custom protocol's retries, every
// message ends in the queue.

const assert = require('node:assert/strict');
const {
  clusterOptions,
  loadFlow,
  routingFlow,
  stream,
  Side,
  Ledger,
  audit,
  statusWatch,
  range,
  brokers,
  helper,
} = require('./support/faults');

const TOTAL = 5000;

describe('faults: cluster failover', function () {
  this.timeout(120000);
  let cluster;
  let clusterStartSec;
  let side;

  before(async function () {
    const t0 = Date.now();
    cluster = await brokers.startCluster(await clusterOptions());
    clusterStartSec = ((Date.now() - t0) / 1000).toFixed(1);
  });
  afterEach(async () => {
    await helper.unload();
    if (side) await side.close();
    side = null;
  });
  after(async function () {
    if (cluster) await cluster.stop();
  });

  /**
   * Streams TOTAL messages into a quorum queue declared through member
   * `leader` (its leader is then on that member), stops the member the pack
   * is connected to once 500 are confirmed, and waits until every message has
   * its final outcome.
   */
  async function failover(queueName, leader) {
    side = await Side.open(cluster.url(leader));
    const queue = await side.queue(queueName, { arguments: { 'x-queue-type': 'quorum' } });
    await loadFlow(routingFlow({ event: 'make.faults.cluster', url: cluster.urlList, queue }), {
      broker: { username: 'guest', password: 'guest' },
    });
    const ledger = new Ledger(TOTAL);
    ledger.watchRecords(helper.getNode('records'));
    const bounces = [];
    helper.getNode('records').on('input', (msg) => {
      if (msg.payload.type === 'Bounce') bounces.push(msg.payload.response);
    });
    const statuses = statusWatch(helper.getNode('statuses'));
    await statuses.until((s) => s.fill === 'green');
    const connection = helper.getNode('broker').connection;
    const connectedTo = () =>
      cluster.members.findIndex((m) => (connection.status.endpoint || '').includes(`:${m.port}`));
    const first = connectedTo();
    assert.equal(first, 0, `the pack connects to the first member of the list, not ${connection.status.endpoint}`);

    const t0 = Date.now();
    const fed = stream(helper.getNode('qc'), TOTAL, { perTick: 50 });
    await ledger.until(() => ledger.count('Delivery') >= 500);
    const events = {};
    connection.once('disconnected', () => {
      events.lost = Date.now();
    });
    const reconnected = new Promise((resolve) =>
      connection.once('connected', () => {
        events.back = Date.now();
        resolve(events.back);
      }),
    );
    await cluster.stopMember(first);
    await reconnected;
    const second = connectedTo();
    assert.ok(second > 0, `the pack is connected to another member, not ${connection.status.endpoint}`);
    await statuses.until((s) => s.at >= events.back && s.fill === 'green');
    await fed;
    await ledger.allSettled();
    assert.deepEqual(ledger.settledTwice, []);

    await side.close();
    side = await Side.open(cluster.url(second));
    const stored = await side.drain(queue);
    await side.channel.deleteQueue(queue);
    const unconfirmed = ledger.transient.filter((t) => !/not published within/.test(t.content)).length;
    return {
      ledger,
      stored,
      bounces,
      unconfirmed,
      first,
      second,
      failoverSec: ((events.back - events.lost) / 1000).toFixed(1),
      elapsedSec: ((Date.now() - t0) / 1000).toFixed(1),
      retried: new Set(ledger.transient.map((t) => t.seq)).size,
    };
  }

  it('the node the pack is connected to stops mid-stream: it fails over to another member, nothing lost', async function () {
    // The queue's leader on member 2: the stopped member (1) holds a follower.
    const r = await failover('faults-quorum', 1);
    assert.equal(
      r.ledger.count('Delivery'),
      TOTAL,
      `not all delivered: ${r.ledger.count('Bounce')} bounced (${JSON.stringify(r.bounces[0])}), ${r.ledger.count('Expiration')} expired`,
    );
    const result = audit(r.stored, range(TOTAL));
    assert.deepEqual(result.lost, [], `${result.lost.length} messages lost`);
    assert.ok(
      result.duplicates <= r.unconfirmed,
      `${result.duplicates} duplicates, but only ${r.unconfirmed} were unconfirmed at the stop`,
    );
    console.log(
      `      [figures] cluster: 3 nodes up in ${clusterStartSec} s; ${TOTAL} messages, stopped node ${r.first + 1} mid-stream, ` +
        `publishing through node ${r.second + 1} ${r.failoverSec} s after losing node ${r.first + 1}, ${r.unconfirmed} unconfirmed at the stop, ` +
        `${r.retried} retried, lost 0, duplicates ${result.duplicates}, all delivered in ${r.elapsedSec} s`,
    );
  });

  it('when the stopped node also led the quorum queue, every message is still confirmed or reported (a Nack bounces)', async function () {
    // Member 1 back (it rejoins the cluster from its data directory), the queue's leader on it.
    await brokers.startInChild(cluster.members[0]);
    const r = await failover('faults-quorum-leader', 0);
    // While the queue elects a new leader RabbitMQ may Nack publishes ("the
    // queue could not take it"); KumoMTA's seed turns a Nack into
    // kumo.reject(500), a Bounce. A Bounce is reported, never silent.
    assert.equal(
      r.ledger.count('Delivery') + r.ledger.count('Bounce'),
      TOTAL,
      `${r.ledger.count('Expiration')} expired`,
    );
    for (const response of r.bounces) {
      assert.equal(response.code, 500);
      assert.equal(JSON.parse(response.content).status, 'Nack');
    }
    const delivered = new Set([...r.ledger.outcomes].filter(([, list]) => list[0] === 'Delivery').map(([seq]) => seq));
    const result = audit(r.stored, range(TOTAL));
    const lostConfirmed = result.lost.filter((seq) => delivered.has(seq));
    assert.deepEqual(lostConfirmed, [], `${lostConfirmed.length} confirmed messages are missing from the queue`);
    console.log(
      `      [figures] cluster, leader stopped: ${TOTAL} messages, ${r.ledger.count('Delivery')} confirmed, ${r.bounces.length} Nacked (Bounce 500), ` +
        `confirmed but lost 0, failover ${r.failoverSec} s, ${r.retried} retried, duplicates ${result.duplicates}, done in ${r.elapsedSec} s`,
    );
  });
});
