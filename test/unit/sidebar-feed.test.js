'use strict';
// The kumomta sidebar's feed (common/sidebar-feed.ts): what a snapshot holds, read from the
// metrics' members; at most one publish a second through RED.comms, retained; nothing (and
// no timer) while nothing is deployed; a source or a publish that throws stays inside the
// timer. Time is a manual clock: no test waits.

const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { ManualClock } = require('../helpers/manual-clock');
const { startSidebarFeed } = require('../../nodes/lib/common/sidebar-feed');
const metrics = require('../../nodes/lib/common/metrics');
const {
  AckCounts,
  BrokerCounts,
  ConsumeCounts,
  CustomProtocolCounts,
  LogHookCounts,
} = require('../../nodes/lib/common/metric-counts');

const SOURCES = {
  brokers: metrics.brokers,
  customProtocols: metrics.customProtocols,
  consumers: metrics.consumers,
  acks: metrics.ackers,
  logHooks: metrics.logHooks,
};

/** Node-RED's runtime API as the feed uses it: events, comms and the log. */
function fakeRed() {
  const red = {
    events: new EventEmitter(),
    published: [],
    errors: [],
    comms: {
      publish(topic, data, retain) {
        red.published.push({ topic, data, retain });
      },
    },
    log: { error: (message) => red.errors.push(message) },
    // No catalogue loaded: the core's English is used.
    _: (key) => key,
  };
  return red;
}

describe('sidebar feed: the kumomta tab’s snapshots through RED.comms', function () {
  let removals;
  let clock;
  let red;

  const deploy = (members, node, source) => removals.push(members.add(node, source));
  const undeployAll = () => {
    for (const remove of removals.splice(0)) remove();
  };
  const flowsStarted = () => red.events.emit('flows:started', { type: 'full' });
  const liveTimers = () => clock.timers.filter((t) => !t.cancelled).length;

  beforeEach(() => {
    removals = [];
    clock = new ManualClock();
    red = fakeRed();
    startSidebarFeed(red, SOURCES, clock);
  });

  afterEach(() => undeployAll());

  it('holds every deployed node with its id, name (or id), flow, type and what its source reads', () => {
    const since = clock.now() - 180000;
    deploy(
      metrics.brokers,
      { id: 'b1', name: 'local RabbitMQ' },
      {
        counts: new BrokerCounts(),
        view: () => ({
          state: 'connected',
          sinceMs: since,
          endpoint: 'amqp://127.0.0.1:5672',
          reason: null,
          endpoints: ['amqp://127.0.0.1:5672'],
          blockedSinceMs: null,
        }),
      },
    );
    const protocol = new CustomProtocolCounts();
    protocol.accepted = 12;
    protocol.delivered = 9;
    protocol.bounced = 1;
    protocol.expired = 1;
    protocol.retries = 3;
    protocol.failed.add('KUMO_OVERLOADED');
    protocol.failed.add('KUMO_OVERLOADED');
    deploy(
      metrics.customProtocols,
      { id: 'cp1', name: 'make.amqp', z: 'tab1' },
      {
        counts: protocol,
        state: () => ({ queued: 4, inFlight: 2, waiting: 1, oldestWaitingSeconds: 30 }),
      },
    );
    // A custom protocol that could not be set up: counts, but no queue to read.
    deploy(
      metrics.customProtocols,
      { id: 'cp2', z: 'tab1' },
      { counts: new CustomProtocolCounts(), state: () => null },
    );
    const consumed = new ConsumeCounts();
    consumed.delivered = 20;
    consumed.timedOut.add('requeue');
    deploy(
      metrics.consumers,
      { id: 'c1', name: 'logs in', z: 'tab2' },
      { counts: consumed, held: () => ({ unacknowledged: 5, oldestSeconds: 2.5 }) },
    );
    const acks = new AckCounts();
    acks.acked = 14;
    acks.requeued.add('reject');
    acks.rejected = 1;
    deploy(metrics.ackers, { id: 'a1', name: '', z: 'tab2' }, acks);
    const hook = new LogHookCounts();
    hook.answers.add('200');
    hook.answers.add('200');
    hook.answers.add('503');
    hook.records.observe(8);
    hook.records.observe(1);
    hook.records.observe(0);
    deploy(metrics.logHooks, { id: 'h1', name: 'kumomta logs', z: 'tab3' }, hook);

    flowsStarted();
    clock.advance(0);

    assert.equal(red.published.length, 1);
    const { topic, data, retain } = red.published[0];
    assert.equal(topic, 'kumo/sidebar');
    assert.equal(retain, true, 'retained: an editor opened later gets the last snapshot at once');
    assert.deepEqual(data, {
      at: clock.now(),
      brokers: [
        {
          id: 'b1',
          name: 'local RabbitMQ',
          flow: '',
          type: 'amqp-broker',
          state: 'connected',
          sinceMs: since,
          endpoint: 'amqp://127.0.0.1:5672',
          reason: null,
        },
      ],
      customProtocols: [
        {
          id: 'cp1',
          name: 'make.amqp',
          flow: 'tab1',
          type: 'kumo-custom-protocol',
          accepted: 12,
          delivered: 9,
          bounced: 1,
          expired: 1,
          retries: 3,
          failed: { KUMO_OVERLOADED: 2 },
          queued: 4,
          inFlight: 2,
          waiting: 1,
          oldestWaitingSeconds: 30,
        },
        {
          id: 'cp2',
          name: 'cp2',
          flow: 'tab1',
          type: 'kumo-custom-protocol',
          accepted: 0,
          delivered: 0,
          bounced: 0,
          expired: 0,
          retries: 0,
          failed: {},
          queued: null,
          inFlight: null,
          waiting: null,
          oldestWaitingSeconds: null,
        },
      ],
      consumers: [
        {
          id: 'c1',
          name: 'logs in',
          flow: 'tab2',
          type: 'amqp-consume',
          delivered: 20,
          unacknowledged: 5,
          oldestSeconds: 2.5,
          timedOut: { requeue: 1, 'requeue-failed': 0, reject: 0 },
        },
      ],
      acks: [
        {
          id: 'a1',
          name: 'a1',
          flow: 'tab2',
          type: 'amqp-ack',
          acked: 14,
          requeued: { nack: 0, reject: 1 },
          rejected: 1,
        },
      ],
      logHooks: [
        {
          id: 'h1',
          name: 'kumomta logs',
          flow: 'tab3',
          type: 'kumo-log-hook',
          requests: { 200: 2, 503: 1 },
          records: 9,
        },
      ],
    });
    assert.doesNotThrow(() => JSON.stringify(data), 'comms sends it as JSON');
  });

  it('reads the counts anew for each snapshot', () => {
    const counts = new CustomProtocolCounts();
    deploy(metrics.customProtocols, { id: 'cp', z: 't' }, { counts, state: () => null });
    flowsStarted();
    clock.advance(0);
    counts.delivered = 5;
    clock.advance(1000);
    assert.deepEqual(
      red.published.map((p) => p.data.customProtocols[0].delivered),
      [0, 5],
    );
  });

  it('publishes at most once a second, however often flows start', () => {
    deploy(metrics.logHooks, { id: 'h', z: 't' }, new LogHookCounts());
    flowsStarted();
    flowsStarted();
    clock.advance(0);
    assert.equal(red.published.length, 1);
    // A deploy right after a snapshot: the next one still waits for its second.
    flowsStarted();
    clock.advance(999);
    assert.equal(red.published.length, 1);
    clock.advance(1);
    assert.equal(red.published.length, 2);
    for (let i = 0; i < 10; i++) {
      flowsStarted();
      clock.advance(500);
    }
    assert.equal(red.published.length, 7, 'five more seconds, five more snapshots');
    const times = red.published.map((p) => p.data.at);
    for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 1000, `snapshots at ${times}`);
    assert.equal(liveTimers(), 1, 'one timer, not one per deploy');
  });

  it('publishes nothing and keeps no timer while nothing is deployed', () => {
    flowsStarted();
    assert.equal(liveTimers(), 0);
    clock.advance(60000);
    assert.deepEqual(red.published, []);
  });

  it('sends one empty snapshot once the last node has gone, then stops its timer', () => {
    deploy(metrics.consumers, { id: 'c', z: 't' }, { counts: new ConsumeCounts(), held: () => null });
    flowsStarted();
    clock.advance(0);
    assert.equal(red.published.length, 1);
    undeployAll();
    flowsStarted(); // the deploy that removed it
    clock.advance(1000);
    assert.equal(red.published.length, 2);
    assert.deepEqual(red.published[1].data, {
      at: clock.now(),
      brokers: [],
      customProtocols: [],
      consumers: [],
      acks: [],
      logHooks: [],
    });
    assert.equal(liveTimers(), 0);
    clock.advance(60000);
    assert.equal(red.published.length, 2);
  });

  it('after it stopped, waits out the second before the next snapshot', () => {
    deploy(metrics.ackers, { id: 'a', z: 't' }, new AckCounts());
    flowsStarted();
    clock.advance(0);
    undeployAll();
    clock.advance(1000); // the empty snapshot; the timer stops
    assert.equal(liveTimers(), 0);
    clock.advance(100);
    deploy(metrics.ackers, { id: 'a2', z: 't' }, new AckCounts());
    flowsStarted();
    clock.advance(899);
    assert.equal(red.published.length, 2);
    clock.advance(1);
    assert.equal(red.published.length, 3);
    assert.deepEqual(
      red.published[2].data.acks.map((r) => r.id),
      ['a2'],
    );
  });

  it('keeps other rows and goes on when a source throws; the fault is logged once, not every second', () => {
    deploy(
      metrics.customProtocols,
      { id: 'broken', name: 'broken', z: 't' },
      {
        counts: new CustomProtocolCounts(),
        state: () => {
          throw new Error('queue state unreadable');
        },
      },
    );
    deploy(metrics.ackers, { id: 'a', z: 't' }, new AckCounts());
    flowsStarted();
    assert.doesNotThrow(() => clock.advance(5000));
    assert.equal(red.published.length, 6);
    for (const { data } of red.published) {
      assert.deepEqual(data.customProtocols, []);
      assert.deepEqual(
        data.acks.map((r) => r.id),
        ['a'],
      );
    }
    assert.equal(red.errors.length, 1, red.errors.join('\n'));
    assert.match(red.errors[0], /an internal error was contained.*queue state unreadable/);
  });

  it('goes on when publishing throws', () => {
    deploy(metrics.ackers, { id: 'a', z: 't' }, new AckCounts());
    let calls = 0;
    red.comms.publish = () => {
      calls++;
      throw new Error('comms gone');
    };
    flowsStarted();
    assert.doesNotThrow(() => clock.advance(2000));
    assert.equal(calls, 3, 'a snapshot at 0, 1 s and 2 s');
    assert.equal(red.errors.length, 3);
    assert.match(red.errors[0], /comms gone/);
    assert.equal(liveTimers(), 1);
  });

  it('starts once per Node-RED, whichever node type asks first', () => {
    deploy(metrics.ackers, { id: 'a', z: 't' }, new AckCounts());
    startSidebarFeed(red, SOURCES, clock);
    flowsStarted();
    clock.advance(0);
    assert.equal(red.published.length, 1);
  });

  it('on Node.js’s own timers, keeps no Node-RED alive (its timer is unref()ed)', async () => {
    const own = fakeRed();
    const first = new Promise((resolve) => {
      own.comms.publish = (_topic, data) => resolve(data);
    });
    startSidebarFeed(own, SOURCES);
    deploy(metrics.ackers, { id: 'a', z: 't' }, new AckCounts());
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    own.events.emit('flows:started', { type: 'full' });
    assert.equal(timeouts(), before, 'a timer that keeps the event loop alive');
    // The timer is there all the same: the first snapshot comes.
    const data = await first;
    assert.deepEqual(
      data.acks.map((r) => r.id),
      ['a'],
    );
  });
});
