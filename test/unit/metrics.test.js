'use strict';
// The metrics' pure parts: histogram buckets, how a publish ends in the counts, the
// health verdict, and the registry's series appearing and leaving with their nodes.

const assert = require('node:assert/strict');
const promClient = require('prom-client');
const {
  BucketCounts,
  CountsBy,
  errorCode,
  PublishCounts,
  failureResult,
} = require('../../nodes/lib/common/metric-counts');
const {
  registry,
  publishers,
  logHooks,
  customProtocols,
  brokers,
  consumers,
  ackers,
  healthOf,
  labelsOf,
} = require('../../nodes/lib/common/metrics');
const { PublishError } = require('../../nodes/lib/core/amqp/confirm-publisher');
const {
  LogHookCounts,
  CustomProtocolCounts,
  BrokerCounts,
  ConsumeCounts,
  AckCounts,
} = require('../../nodes/lib/common/metric-counts');

const ack = (extra = {}) => ({
  status: 'Ack',
  reply_code: null,
  reply_text: null,
  exchange: '',
  routing_key: 'logging',
  ...extra,
});

describe('metrics: what nodes count', function () {
  it('a histogram bucket counts values up to and including its bound; le buckets are cumulative', () => {
    const b = new BucketCounts([1, 5, 10]);
    for (const v of [0, 1, 1.5, 5, 11, 100]) b.observe(v);
    assert.deepEqual(b.counts, [2, 2, 0, 2]);
    assert.deepEqual(b.cumulative(), [2, 4, 4]);
    assert.equal(b.count, 6);
    assert.equal(b.sum, 118.5);
  });

  it('counts by a label value, starting with the values given', () => {
    const c = new CountsBy(['a']);
    c.add('b');
    c.add('b');
    assert.deepEqual(
      [...c.entries()],
      [
        ['a', 0],
        ['b', 2],
      ],
    );
    assert.equal(errorCode({ code: 'KUMO_OVERLOADED' }, 'X'), 'KUMO_OVERLOADED');
    assert.equal(errorCode(new Error('no code'), 'KUMO_BAD_INPUT'), 'KUMO_BAD_INPUT');
  });

  describe('a publish counts each AMQP message by result', function () {
    it('Ack, NotRequested and Nack by status; a returned message as returned, whatever its confirm', () => {
      const p = new PublishCounts();
      p.ended({ error: null, amqp: ack(), reject: null }, 0.002);
      p.ended({ error: null, amqp: ack({ status: 'NotRequested' }), reject: null }, 0.001);
      p.ended({ error: null, amqp: ack({ status: 'Nack' }), reject: { code: 500, message: '' } }, 0.003);
      p.ended({ error: null, amqp: ack({ reply_code: 312, reply_text: 'NO_ROUTE' }), reject: null }, 0.004);
      assert.equal(p.results.get('Ack'), 1);
      assert.equal(p.results.get('NotRequested'), 1);
      assert.equal(p.results.get('Nack'), 1);
      assert.equal(p.results.get('returned'), 1);
      assert.equal(p.confirmSeconds.count, 4);
    });

    it('an array published element by element counts every element', () => {
      const p = new PublishCounts();
      const results = [ack(), ack(), ack({ status: 'Nack' }), { status: 'Error', error: 'channel closed' }];
      p.ended({ error: new Error('one failed'), amqp: { ...ack({ status: 'Error' }), results } }, 0.01);
      assert.equal(p.results.get('Ack'), 2);
      assert.equal(p.results.get('Nack'), 1);
      assert.equal(p.results.get('error'), 1);
      assert.equal(p.confirmSeconds.count, 0, 'no latency for a msg that failed');
    });

    it('a failure: timeout, error (connection or channel lost), or refused (never written)', () => {
      const said = { key: 'confirm-publisher.closing', params: {} };
      assert.equal(failureResult(new PublishError('timeout', said)), 'timeout');
      assert.equal(failureResult(new PublishError('connection-lost', said)), 'error');
      assert.equal(failureResult(new PublishError('channel-closed', said)), 'error');
      assert.equal(failureResult(new PublishError('overloaded', said)), 'refused');
      assert.equal(failureResult(new PublishError('not-connected', said)), 'refused');
      assert.equal(failureResult(new Error('bad routing key')), 'refused');
    });
  });
});

describe('metrics: the registry', function () {
  it('is the pack’s own, not prom-client’s global one', () => {
    assert.notEqual(registry, promClient.register);
    assert.equal(promClient.register.getSingleMetric('kumo_amqp_publish_messages_total'), undefined);
    assert.ok(registry.getSingleMetric('kumo_amqp_publish_messages_total'));
  });

  it('labels a node by its name, or its id when it has none, and its flow', () => {
    assert.deepEqual(labelsOf({ id: 'n1', name: 'pub', z: 'tab' }), { node: 'pub', id: 'n1', flow: 'tab' });
    assert.deepEqual(labelsOf({ id: 'n1', name: '', z: undefined }), { node: 'n1', id: 'n1', flow: '' });
  });

  it('reads a node’s counts at scrape time, and drops its series once it closes', async () => {
    const counts = new PublishCounts();
    const remove = publishers.add({ id: 'p1', name: 'unit publish', z: 'tab' }, { counts, waiting: () => 7 });
    counts.ended({ error: null, amqp: ack(), reply: null }, 0.0007);
    let text = await registry.metrics();
    assert.match(text, /kumo_amqp_publish_messages_total\{node="unit publish",id="p1",flow="tab",result="Ack"\} 1\n/);
    assert.match(text, /kumo_amqp_publish_waiting\{node="unit publish",id="p1",flow="tab"\} 7\n/);
    assert.match(text, /kumo_amqp_publish_confirm_seconds_bucket\{le="0.0005",node="unit publish",[^}]*\} 0\n/);
    assert.match(text, /kumo_amqp_publish_confirm_seconds_bucket\{le="0.001",node="unit publish",[^}]*\} 1\n/);
    assert.match(text, /kumo_amqp_publish_confirm_seconds_count\{node="unit publish",[^}]*\} 1\n/);
    counts.ended({ error: null, amqp: ack(), reply: null }, 0.0007);
    text = await registry.metrics();
    assert.match(text, /result="Ack"\} 2\n/, 'a second scrape reads the counts again');
    remove();
    text = await registry.metrics();
    assert.doesNotMatch(text, /unit publish/);
  });

  it('reads every other series from its node: failures by code, ages, seconds blocked, timeouts, requeues by method', async () => {
    const node = { id: 'n9', name: 'unit', z: 'tab' };
    const protocol = new CustomProtocolCounts();
    protocol.failed.add('KUMO_OVERLOADED');
    protocol.failed.add('KUMO_OVERLOADED');
    protocol.failed.add('KUMO_BAD_INPUT');
    const state = { queued: 1, inFlight: 2, waiting: 3, oldestWaitingSeconds: 42.5 };
    const broker = new BrokerCounts();
    broker.blockedSeconds = 10;
    const blockedSinceMs = Date.now() - 5000; // blocked again, for 5 s so far
    const view = {
      state: 'blocked',
      sinceMs: blockedSinceMs,
      endpoint: 'amqp://h',
      reason: 'low on memory',
      endpoints: ['amqp://h'],
      blockedSinceMs,
    };
    const consume = new ConsumeCounts();
    consume.timedOut.add('requeue');
    const acks = new AckCounts();
    acks.requeued.add('nack');
    acks.requeued.add('reject');
    acks.requeued.add('reject');
    const removes = [
      customProtocols.add(node, { counts: protocol, state: () => state }),
      brokers.add(node, { counts: broker, view: () => view }),
      consumers.add(node, { counts: consume, held: () => ({ unacknowledged: 4, oldestSeconds: 7.25 }) }),
      ackers.add(node, acks),
    ];
    const text = await registry.metrics();
    for (const remove of removes) remove();
    const value = (series, extra = '') => {
      const m = new RegExp(`^${series}\\{node="unit",id="n9",flow="tab"${extra}\\} (\\S+)$`, 'm').exec(text);
      assert.ok(m, `${series}${extra} in:\n${text}`);
      return Number(m[1]);
    };
    assert.equal(value('kumo_custom_protocol_failed_total', ',code="KUMO_OVERLOADED"'), 2);
    assert.equal(value('kumo_custom_protocol_failed_total', ',code="KUMO_BAD_INPUT"'), 1);
    assert.equal(value('kumo_custom_protocol_oldest_waiting_seconds'), 42.5);
    assert.equal(value('kumo_custom_protocol_waiting'), 3);
    const blocked = value('kumo_amqp_broker_blocked_seconds_total');
    assert.ok(blocked >= 15 && blocked < 25, `the seconds counted plus the ongoing block: ${blocked}`);
    assert.equal(value('kumo_amqp_broker_blocked'), 1);
    assert.equal(value('kumo_amqp_consume_oldest_unacknowledged_seconds'), 7.25);
    assert.equal(value('kumo_amqp_consume_unacknowledged'), 4);
    assert.equal(value('kumo_amqp_consume_timed_out_total', ',action="requeue"'), 1);
    assert.equal(value('kumo_amqp_consume_timed_out_total', ',action="reject"'), 0);
    assert.equal(value('kumo_amqp_ack_requeued_total', ',method="nack"'), 1);
    assert.equal(value('kumo_amqp_ack_requeued_total', ',method="reject"'), 2);
  });

  it('counts log hook answers by status code and records per request', async () => {
    const counts = new LogHookCounts();
    const remove = logHooks.add({ id: 'h1', z: 'tab' }, counts);
    counts.answers.add('200');
    counts.answers.add('503');
    counts.answers.add('200');
    counts.records.observe(100);
    const text = await registry.metrics();
    remove();
    assert.match(text, /kumo_log_hook_requests_total\{node="h1",id="h1",flow="tab",code="200"\} 2\n/);
    assert.match(text, /kumo_log_hook_requests_total\{node="h1",id="h1",flow="tab",code="503"\} 1\n/);
    assert.match(text, /kumo_log_hook_records_per_request_sum\{node="h1",id="h1",flow="tab"\} 100\n/);
  });
});

describe('health: up when every broker in use is connected and not blocked', function () {
  const broker = (id, state, extra = {}) => ({
    labels: { node: `broker ${id}`, id, flow: '' },
    view: {
      state,
      sinceMs: Date.UTC(2026, 10, 1),
      endpoint: null,
      reason: null,
      endpoints: [],
      blockedSinceMs: null,
      ...extra,
    },
  });

  it('200 with every broker connected (and with none deployed)', () => {
    const health = healthOf([broker('a', 'connected', { endpoint: 'amqp://h' }), broker('b', 'connected')]);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'up');
    assert.deepEqual(health.body.brokers[0], {
      broker: 'broker a',
      id: 'a',
      flow: '',
      state: 'connected',
      since: '2026-11-01T00:00:00.000Z',
      url: 'amqp://h',
    });
    assert.equal(healthOf([]).status, 200);
  });

  it('a broker node nobody uses (idle) is listed and does not count', () => {
    const health = healthOf([broker('a', 'connected'), broker('b', 'idle')]);
    assert.equal(health.status, 200);
    assert.equal(health.body.brokers.length, 2);
  });

  for (const state of ['blocked', 'connecting', 'disconnected', 'closed', 'error']) {
    it(`503 when one is ${state}, naming it and why`, () => {
      const health = healthOf([broker('a', 'connected'), broker('b', state, { reason: 'ECONNREFUSED' })]);
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'down');
      assert.equal(health.body.brokers[1].broker, 'broker b');
      assert.equal(health.body.brokers[1].state, state);
      assert.equal(health.body.brokers[1].reason, 'ECONNREFUSED');
    });
  }
});
