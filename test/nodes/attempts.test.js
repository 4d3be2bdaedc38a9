'use strict';
// Each delivery attempt leaves the custom protocol as its own msg. An attempt
// still downstream after its timeout (a slow node) keeps its own msg.kumo, so
// its late report never settles the attempt that followed it.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector } = require('../helpers/node-red');
const { SideChannel, uniqueName } = require('../helpers/amqp');

// Holds attempt 1 until attempt 2 arrives, then lets attempt 1 go on (late: it
// timed out already) and keeps attempt 2 until attempt 1 was published.
const SLOW_FIRST_ATTEMPT = `
const held = context.get('held') || {};
if (msg.kumo.attempt === 1) { held.first = msg; context.set('held', held); return null; }
held.second = msg;
context.set('held', held);
global.set('releaseSecond', () => node.send(held.second));
return held.first;`;

const RELEASE_SECOND = `
const release = global.get('releaseSecond');
if (release && msg.kumo.attempt === 1) { global.set('releaseSecond', null); release(); }
return null;`;

describe('attempts: each attempt travels as its own msg', function () {
  let side;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it('a report that arrives after its attempt timed out never settles the next attempt', async function () {
    this.timeout(20000);
    const queue = await side.queue(uniqueName('late-report'));
    await load([
      brokerConfig(),
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        eventName: 'make.late',
        timeout: 0.3,
        maxInFlight: 8,
        wires: [['slow'], ['records']],
      },
      { id: 'slow', type: 'function', func: SLOW_FIRST_ATTEMPT, outputs: 1, wires: [['pub', 'published']] },
      {
        id: 'pub',
        type: 'amqp-publish',
        broker: 'broker',
        exchange: '',
        routingKey: queue,
        routingKeyType: 'str',
        persistent: true,
        waitForConfirm: true,
        confirmTimeout: 10,
        wires: [['confirmed', 'release'], []],
      },
      { id: 'release', type: 'function', func: RELEASE_SECOND, outputs: 1, wires: [['slow']] },
      { id: 'published', type: 'helper' },
      { id: 'confirmed', type: 'helper' },
      { id: 'records', type: 'helper' },
    ]);
    const events = [];
    const published = collector(helper.getNode('published'));
    const confirmed = collector(helper.getNode('confirmed'));
    const records = collector(helper.getNode('records'));
    helper.getNode('confirmed').on('input', (msg) => events.push(`confirmed attempt ${msg.kumo.attempt}`));
    helper.getNode('records').on('input', (msg) => events.push(`${msg.payload.type} of attempt ${msg.kumo.attempt}`));
    // A retry 0.1 s after the timeout; the queue name is the constructor's own.
    helper.getNode('cp').receive({
      payload: 'late',
      queueConfig: { protocol: { custom_lua: { constructor: 'make.late' } }, retry_interval: 0.1, max_age: 60 },
    });
    await confirmed.next(2);
    await records.next(2);
    assert.deepEqual(
      published.messages.map((m) => m.kumo.attempt),
      [1, 2],
      'each attempt keeps its own msg.kumo',
    );
    assert.notEqual(published.messages[0], published.messages[1], 'two attempts, two msgs');
    // The publish node reports the outcome before it sends the msg on.
    assert.deepEqual(events, [
      'TransientFailure of attempt 1',
      'confirmed attempt 1',
      'Delivery of attempt 2',
      'confirmed attempt 2',
    ]);
    assert.equal(records.messages[1].payload.num_attempts, 1);
    // At least once: the late attempt was published too; the outcome is the current attempt's.
    assert.equal(await side.count(queue), 2);
  });
});
