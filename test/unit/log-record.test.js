'use strict';

const assert = require('node:assert/strict');
const {
  buildLogRecord,
  expirationResponse,
  internalErrorResponse,
  siteName,
} = require('../../nodes/lib/core/kumo/log-record');
const { parseQueueName } = require('../../nodes/lib/core/kumo/queue-name');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { settle } = require('../../nodes/lib/core/kumo/delivery-outcomes');
const { makeQueueConfig, timingsOf } = require('../../nodes/lib/core/kumo/queue-config');
const { ManualClock } = require('../helpers/manual-clock');

// The Delivery record of reference/log_record.md (comments removed).
const KUMOMTA_DELIVERY = Object.freeze({
  type: 'Delivery',
  id: '1d98076abbbc11ed940250ebf67f93bd',
  sender: 'user@sender.example.com',
  recipient: 'user@recipient.example.com',
  queue: 'campaign:tenant@domain',
  site: 'source2->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com.',
  size: 1047,
  response: {
    code: 250,
    enhanced_code: { class: 2, subject: 0, detail: 0 },
    content: 'OK ids=8a5475ccbbc611eda12250ebf67f93bd',
    command: '.',
  },
  peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
  timestamp: 1678069691,
  created: 1678069691,
  num_attempts: 0,
  bounce_classification: 'Uncategorized',
  egress_pool: 'pool0',
  egress_source: 'source2',
  source_address: { address: '10.0.0.1:53210', protocol: 'socks5', server: '192.168.1.1:5000' },
  feedback_report: null,
  meta: {},
  headers: {},
  delivery_protocol: 'ESMTP',
  reception_protocol: 'ESMTP',
  nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
  tls_cipher: 'TLS_AES_256_GCM_SHA384',
  tls_protocol_version: 'TLSv1.3',
  tls_peer_subject_name: ['C=US', 'CN=do.havedane.net'],
  session_id: '9bcd689e-23d9-41b7-a015-63a1382f8b57',
});

// KumoMTA leaves these out of a record when they do not apply (skip_serializing_if),
// and they never apply to a Lua delivery.
const OMITTED_WHEN_NOT_APPLICABLE = ['tls_cipher', 'tls_protocol_version', 'tls_peer_subject_name'];
const SESSION = 'c0c1cc3a-5a3f-4f0e-9d2b-8b1f0e6a4d21';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const CREATED_MS = 1678069691000; // 2023-03-06T02:28:11Z, the fixture's created
const NOW_MS = CREATED_MS + 1500;
const ACK = '250 {"status":"Ack","reply_code":null,"reply_text":null,"exchange":"","routing_key":"logging"}';

function delivery(overrides) {
  return buildLogRecord({
    type: 'Delivery',
    id: '1d98076abbbc11ed940250ebf67f93bd',
    queue: parseQueueName('amqp'),
    constructorName: 'make.amqp',
    response: { code: 200, content: ACK },
    sender: 'user@sender.example.com',
    recipient: 'user@recipient.example.com',
    size: 1047,
    createdMs: CREATED_MS,
    nowMs: NOW_MS,
    numAttempts: 0,
    sessionId: SESSION,
    ...overrides,
  });
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

describe("log records: shaped like KumoMTA's", function () {
  it('has every field of the documented Delivery record', function () {
    const record = delivery();
    for (const key of Object.keys(KUMOMTA_DELIVERY)) {
      if (OMITTED_WHEN_NOT_APPLICABLE.includes(key)) continue;
      assert.ok(key in record, `missing ${key}`);
    }
    assert.deepEqual(Object.keys(record.response).sort(), Object.keys(KUMOMTA_DELIVERY.response).sort());
    assert.deepEqual(Object.keys(record.peer_address).sort(), Object.keys(KUMOMTA_DELIVERY.peer_address).sort());
  });

  it('uses the documented JSON types (or null where there is nothing to say)', function () {
    const record = delivery();
    for (const [key, value] of Object.entries(KUMOMTA_DELIVERY)) {
      if (OMITTED_WHEN_NOT_APPLICABLE.includes(key)) continue;
      const actual = typeOf(record[key]);
      assert.ok(actual === typeOf(value) || actual === 'null', `${key}: ${actual} where KumoMTA has ${typeOf(value)}`);
    }
  });

  it('survives JSON unchanged, as it is published', function () {
    const record = delivery({ meta: { tenant: 'acme' } });
    assert.deepEqual(JSON.parse(JSON.stringify(record)), record);
  });
});

describe('log records: a Delivery through custom protocol make.amqp', function () {
  it("records what KumoMTA's Lua dispatcher records", function () {
    const record = delivery();
    assert.equal(record.type, 'Delivery');
    assert.equal(record.id, '1d98076abbbc11ed940250ebf67f93bd');
    assert.equal(record.queue, 'amqp');
    assert.equal(record.site, 'unspecified->amqp@lua:make.amqp');
    assert.deepEqual(record.response, { code: 200, enhanced_code: null, content: ACK, command: null });
    assert.deepEqual(record.peer_address, { name: 'Lua via make.amqp', addr: '0.0.0.0' });
    assert.equal(record.delivery_protocol, 'Lua');
    assert.equal(record.egress_pool, 'unspecified');
    assert.equal(record.egress_source, 'unspecified');
    assert.equal(record.bounce_classification, 'Uncategorized');
    assert.equal(record.num_attempts, 0);
    assert.equal(record.size, 1047);
    assert.equal(record.sender, 'user@sender.example.com');
    assert.equal(record.recipient, 'user@recipient.example.com');
  });

  it('writes timestamp and created as whole epoch seconds, and their RFC 3339 forms', function () {
    const record = delivery();
    assert.equal(record.timestamp, 1678069692);
    assert.equal(record.created, 1678069691);
    assert.equal(record.event_time, '2023-03-06T02:28:12.500Z');
    assert.equal(record.created_time, '2023-03-06T02:28:11.000Z');
  });

  it('says null for an envelope it does not have', function () {
    const record = delivery({ sender: undefined, recipient: null });
    assert.equal(record.sender, null);
    assert.equal(record.recipient, null);
  });

  it('copies meta, so later changes to the message do not rewrite the record', function () {
    const meta = { tenant: 'acme' };
    const record = delivery({ meta });
    meta.tenant = 'other';
    assert.deepEqual(record.meta, { tenant: 'acme' });
    assert.deepEqual(delivery().meta, {});
  });

  it('carries the node id and reception protocol when given', function () {
    const record = delivery({ nodeId: '557f3ad4-2c8c-11ee-976e-782d7e12e173', receptionProtocol: 'HTTP' });
    assert.equal(record.nodeid, '557f3ad4-2c8c-11ee-976e-782d7e12e173');
    assert.equal(record.reception_protocol, 'HTTP');
    assert.match(delivery().nodeid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('log records: site is the ready queue name', function () {
  it('uses the routing domain when the queue has one', function () {
    const record = delivery({ queue: parseQueueName('spring:acme@example.com!relay.example.net') });
    assert.equal(record.site, 'unspecified->relay.example.net@lua:make.amqp');
    assert.equal(record.queue, 'spring:acme@example.com!relay.example.net');
  });

  it('leaves tenant and campaign out, and uses the domain otherwise', function () {
    assert.equal(
      siteName(parseQueueName('spring:acme@example.com'), 'make.amqp'),
      'unspecified->example.com@lua:make.amqp',
    );
  });

  it('names the egress source when one is set', function () {
    const record = delivery({ egressSource: 'ip-1', egressPool: 'pool-a' });
    assert.equal(record.site, 'ip-1->amqp@lua:make.amqp');
    assert.equal(record.egress_source, 'ip-1');
    assert.equal(record.egress_pool, 'pool-a');
  });

  it('names the constructor of the log hook queue', function () {
    const record = delivery({ queue: parseQueueName('webhook.log_hook'), constructorName: 'make.webhook.log_hook' });
    assert.equal(record.site, 'unspecified->webhook.log_hook@lua:make.webhook.log_hook');
  });
});

describe('log records: enhanced status codes, as KumoMTA logs a Lua delivery', function () {
  it('gives a reject none, even when its content starts with one (lua_deliver.rs parses none)', function () {
    const record = delivery({ type: 'Bounce', response: { code: 550, content: '5.1.1 no such user' } });
    assert.deepEqual(record.response, {
      code: 550,
      enhanced_code: null,
      content: '5.1.1 no such user',
      command: null,
    });
    assert.equal(record.site, 'unspecified->amqp@lua:make.amqp');
    assert.equal(record.delivery_protocol, 'Lua');
    assert.deepEqual(record.peer_address, { name: 'Lua via make.amqp', addr: '0.0.0.0' });
  });

  it('gives a Delivery none', function () {
    assert.equal(delivery({ type: 'Delivery', response: { code: 200, content: ACK } }).response.enhanced_code, null);
  });
});

describe('log records: a TransientFailure from an error that is not a reject', function () {
  it("uses KumoMTA's internal error response, code 400", function () {
    // lua_deliver.rs: `.context("sender:send method failed")`, joined by anyhow's {:#}.
    const response = internalErrorResponse('connect ECONNREFUSED 127.0.0.1:5672');
    assert.deepEqual(response, {
      code: 400,
      content:
        'KumoMTA internal: error in deliver_message: sender:send method failed: connect ECONNREFUSED 127.0.0.1:5672',
      internal: true,
    });
    assert.equal(
      internalErrorResponse('x', true).content,
      'KumoMTA internal: error in deliver_message: sender:send_batch method failed: x',
    );
    const record = delivery({ type: 'TransientFailure', response, numAttempts: 2 });
    assert.equal(record.type, 'TransientFailure');
    assert.equal(record.response.code, 400);
    assert.equal(record.response.enhanced_code, null);
    assert.equal(record.num_attempts, 2);
    assert.equal(record.site, 'unspecified->amqp@lua:make.amqp');
    assert.equal(record.peer_address, null, 'logged from the ready queue, with no peer (ready_queue.rs)');
  });
});

describe('log records: an Expiration, as KumoMTA words it', function () {
  it("has code 551, enhanced code 5.4.7 and the ages in humantime's format", function () {
    assert.deepEqual(expirationResponse(7 * 86400 + 2400, 7 * 86400), {
      code: 551,
      enhanced_code: { class: 5, subject: 4, detail: 7 },
      content: 'Next delivery time would be 7days 40m after creation, which exceeds max_age=7days',
    });
  });

  it('drops float noise below a millisecond from the ages', function () {
    assert.equal(
      expirationResponse(45.30000000001, 45).content,
      'Next delivery time would be 45s 300ms after creation, which exceeds max_age=45s',
    );
  });

  it('is logged from the scheduled queue: no site, source or delivery protocol', function () {
    const record = delivery({ type: 'Expiration', response: expirationResponse(50, 45), numAttempts: 4 });
    assert.equal(record.type, 'Expiration');
    assert.equal(record.site, '');
    assert.equal(record.peer_address, null);
    assert.equal(record.egress_source, null);
    assert.equal(record.egress_pool, null);
    assert.equal(record.delivery_protocol, null);
    assert.equal(record.queue, 'amqp');
    assert.deepEqual(record.response.enhanced_code, { class: 5, subject: 4, detail: 7 });
    assert.equal(record.num_attempts, 4);
  });
});

describe('log records: session_id, one per attempt', function () {
  // KumoMTA sets session_id on every Lua Delivery, TransientFailure and Bounce (the
  // dispatcher session's UUID: lua_deliver.rs, ready_queue.rs) and leaves it out of an
  // Expiration (queue.rs). The pack has no session: an attempt (a batch) is its session.
  it('is carried by a Delivery, TransientFailure and Bounce, and left out of an Expiration', function () {
    for (const type of ['Delivery', 'TransientFailure', 'Bounce']) {
      assert.equal(delivery({ type }).session_id, SESSION, type);
    }
    const expired = delivery({ type: 'Expiration', response: expirationResponse(3600, 1800) });
    assert.ok(!('session_id' in expired), 'an Expiration has no session');
    assert.ok(!('session_id' in JSON.parse(JSON.stringify(delivery({ sessionId: undefined })))));
  });

  function queueHarness() {
    const clock = new ManualClock();
    const records = [];
    const batches = [];
    const queue = new DeliveryQueue(
      { constructorName: 'make.batch', attemptTimeoutMs: 60000, maxInFlight: 100 },
      {
        send: (_delivery, kumo) => batches.push({ kumos: [kumo] }),
        sendBatch: (_deliveries, kumos) => batches.push({ kumos }),
        log: (_delivery, record) => records.push(record),
        changed() {},
        clock,
        random: () => 0.5,
      },
    );
    const cfg = makeQueueConfig({
      protocol: { custom_lua: { constructor: 'make.batch', batch_size: 3, min_batch_size: 3 } },
      retry_interval: '10s',
      max_age: '15s',
    });
    const queueName = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
    const submit = (payload) => queue.submit({ payload }, queueName, cfg, timingsOf(cfg));
    return { queue, clock, records, batches, submit };
  }

  it('is shared by the records of one batch, new for each attempt, and absent from the Expiration', async function () {
    const h = queueHarness();
    try {
      for (let i = 0; i < 3; i++) h.submit(`m${i}`);
      assert.equal(h.batches.length, 1);
      for (const [i, kumo] of h.batches[0].kumos.entries()) {
        settle(
          kumo,
          i === 0 ? { kind: 'rejected', code: 451, message: 'later' } : { kind: 'delivered', disposition: '250 ok' },
        );
      }
      const first = h.records.map((r) => r.session_id);
      assert.equal(first.length, 3);
      assert.match(first[0], UUID);
      assert.deepEqual(first, [first[0], first[0], first[0]], 'one session for the whole batch');
      // The failed message's retry is a new attempt: due 10 s later, it goes alone once max_batch_latency has passed.
      h.clock.advance(10000);
      h.clock.advance(60000);
      const retried = h.batches.at(-1);
      assert.equal(retried.kumos[0].attempt, 2);
      settle(retried.kumos[0], { kind: 'rejected', code: 451, message: 'later' });
      const second = h.records.at(-2);
      assert.equal(second.type, 'TransientFailure');
      assert.match(second.session_id, UUID);
      assert.notEqual(second.session_id, first[0], 'each attempt is its own session');
      // Its next retry would pass max_age (15 s): expired at once, with no session.
      const expired = h.records.at(-1);
      assert.equal(expired.type, 'Expiration');
      assert.ok(!('session_id' in expired));
    } finally {
      const closed = h.queue.close(0);
      h.clock.advance(0);
      await closed;
    }
  });
});
