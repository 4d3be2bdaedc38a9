'use strict';
// The spool (custom protocol, Spool on): a delivery is on disk before its
// acceptance is answered, the accepts of one turn share one write and one
// fdatasync, and what a crash leaves is taken back with its attempts and due time.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { DurableRetries } = require('../../nodes/lib/core/store/durable-retries');
const { settle } = require('../../nodes/lib/core/kumo/delivery-outcomes');
const { RetryStore, storeFileName } = require('../../nodes/lib/core/store/retry-store');
const { QUEUE, CONFIG, TIMINGS } = require('../helpers/kumo-queue');
const { countDiskSyncs } = require('../helpers/disk-syncs');

describe('the spool: accepted means kept', function () {
  let dir;
  const queues = [];
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-spool-'));
  });
  afterEach(async function () {
    for (const q of queues.splice(0)) await q.close(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function node() {
    const sent = [];
    const durable = DurableRetries.open(dir, 'make.spool', assert.fail);
    const queue = new DeliveryQueue(
      { constructorName: 'make.spool', attemptTimeoutMs: 60000, maxInFlight: 2 },
      {
        send: (delivery, kumo) => sent.push({ delivery, kumo }),
        log() {},
        changed() {},
        retrying: (delivery, change) => durable.changed(delivery, change),
        ended: (delivery) => durable.changed(delivery, 'finished'),
      },
    );
    queues.push(queue);
    durable.restoreInto(queue, () => 'restored');
    const accept = (payload) => durable.accepted(queue.submit({ payload }, QUEUE, CONFIG, TIMINGS));
    return { durable, queue, sent, accept };
  }

  it('answers the accepts of one turn after one write and one fdatasync, and each is on disk by then', async function () {
    const n = node();
    await n.accept('first'); // the first write makes the file (a snapshot)
    const syncs = await countDiskSyncs();
    let answered = 0;
    try {
      const accepts = Array.from({ length: 100 }, (_, i) => n.accept(`m${i}`).then(() => answered++));
      assert.equal(answered, 0, 'not answered before the write');
      await Promise.all(accepts);
    } finally {
      syncs.stop();
    }
    assert.equal(syncs.count, 1, 'one fdatasync for the 100 accepts of one turn');
    // What a crash now would leave: every accepted delivery, read by a new store.
    const left = new RetryStore(storeFileName(dir, 'make.spool'), 'make.spool').load();
    assert.equal(left.deliveries.length, 101);
  });

  it('after a crash, every delivery that had not ended comes back with its attempts and due time; an ended one does not', async function () {
    const n = node();
    await Promise.all(['a', 'b', 'c', 'd'].map((p) => n.accept(p)));
    // a is delivered, b failed once (waiting to retry), c is in flight, d is queued (max in flight 2).
    settle(n.sent[0].kumo, { kind: 'delivered', disposition: '250 ok' });
    settle(n.sent[1].kumo, { kind: 'rejected', code: 451, message: 'later' });
    await n.durable.store.flush();
    // The crash: nothing closes; a new node reads the file.
    const again = node();
    const back = again.queue.retryingDeliveries.map((d) => [d.msg.payload, d.attempts]);
    back.sort();
    assert.deepEqual(
      back.map(([payload]) => payload),
      ['b', 'c', 'd'],
    );
    const b = again.queue.retryingDeliveries.find((d) => d.msg.payload === 'b');
    assert.equal(b.attempts, 1);
    assert.ok(b.dueMs > Date.now(), 'b keeps its retry time');
  });
});
