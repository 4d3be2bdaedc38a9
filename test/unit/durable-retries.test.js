'use strict';

// What ties a custom protocol's delivery queue to its retry store, without
// Node-RED: taking back what an earlier run kept, and a message wired straight in.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { DurableRetries, unfinishedCounts } = require('../../nodes/lib/core/store/durable-retries');
const { ERROR_CODES } = require('../../nodes/lib/core/text/errors');
const { directRouting } = require('../../nodes/lib/core/kumo/protocol-bindings');
const { RetryStore, storeFileName } = require('../../nodes/lib/core/store/retry-store');

const { QUEUE, CONFIG } = require('../helpers/kumo-queue');
const DAY_MS = 86_400_000;

function stored(id, extra = {}) {
  return {
    id,
    payload: { type: 'string', value: `payload of ${id}` },
    queue: QUEUE,
    queueConfig: CONFIG,
    createdMs: Date.now() - 1000,
    attempts: 2,
    dueMs: Date.now() + DAY_MS,
    props: { topic: id, sender: 'a@example.com' },
    ...extra,
  };
}

describe('durable retries: what an earlier run kept comes back', function () {
  let dir;
  let queue;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-durable-'));
    queue = new DeliveryQueue(
      { constructorName: 'make.amqp', attemptTimeoutMs: 60000, maxInFlight: 8 },
      { send() {}, log() {}, changed() {} },
    );
  });
  afterEach(async function () {
    await queue.close(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('restores each delivery with its msg properties, queue, config and attempts, and skips a damaged one with why', async function () {
    const earlier = new RetryStore(storeFileName(dir, 'make.amqp'), 'make.amqp');
    earlier.load();
    for (const d of [stored('kept-1'), stored('bad-queue', { queue: { domain: 'a@b' } }), stored('kept-2')])
      earlier.put(d);
    await earlier.flush();

    const errors = [];
    const durable = DurableRetries.open(dir, 'make.amqp', (err) => errors.push(err));
    let ids = 0;
    const { restored, problem, skipped } = durable.restoreInto(queue, () => `msg-${++ids}`);

    assert.equal(restored, 2);
    assert.equal(problem, null);
    assert.deepEqual(
      skipped.map((s) => s.id),
      ['bad-queue'],
    );
    assert.match(skipped[0].error.message, /must not contain '@'/);
    assert.deepEqual(queue.counts, { queued: 0, inFlight: 0, waiting: 2 });
    const back = queue.retryingDeliveries;
    assert.deepEqual(back.map((d) => d.id).sort(), ['kept-1', 'kept-2']);
    const one = back.find((d) => d.id === 'kept-1');
    assert.equal(one.attempts, 2);
    assert.equal(one.msg.payload, 'payload of kept-1');
    assert.equal(one.msg.topic, 'kept-1');
    assert.equal(one.msg.sender, 'a@example.com');
    assert.match(one.msg._msgid, /^msg-\d$/);
    assert.equal(one.msg.queue.name, 'amqp');
    assert.deepEqual(unfinishedCounts(back), { inFlight: 0, queued: 0, waiting: 2 });
    assert.deepEqual(errors, []);
  });

  it('reports an unreadable store as a problem and restores nothing', function () {
    fs.writeFileSync(storeFileName(dir, 'make.amqp'), 'not a store\n');
    const durable = DurableRetries.open(dir, 'make.amqp', () => undefined);
    const { restored, problem } = durable.restoreInto(queue, () => 'id');
    assert.equal(restored, 0);
    assert.match(problem, /is not valid .*moved to .*unreadable/);
  });
});

describe('a message wired straight into a custom protocol', function () {
  it('without a queue or config: the queue is named after the constructor, with the constructor as its protocol', function () {
    const routing = directRouting(undefined, undefined, 'make.amqp');
    assert.equal(routing.queue.name, 'make.amqp');
    assert.deepEqual(routing.config.protocol, { custom_lua: { constructor: 'make.amqp' } });
    assert.ok(routing.timings.retryIntervalSec > 0);
  });

  it('a bad msg.queueConfig or msg.queue is the message fault: coded bad input', function () {
    for (const [queue, config] of [
      [undefined, { protocol: { custom_lua: 'no' } }],
      ['', undefined],
      [42, undefined],
    ]) {
      assert.throws(
        () => directRouting(queue, config, 'make.amqp'),
        (err) => err.code === ERROR_CODES.badInput && typeof err.key === 'string',
      );
    }
  });
});
