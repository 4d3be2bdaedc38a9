'use strict';
// The pure parts of amqp consume: a delivery as a msg (payload by content
// type, msg.amqp, the handle), the queue declaration its settings describe,
// and the handles amqp ack reads (acknowledged on a real channel in consumer.test.js).

const assert = require('node:assert/strict');
const { decodeDelivery } = require('../../nodes/lib/core/amqp/consumer-message');
const {
  queueDeclaration,
  queueNameProblems,
  parseArguments,
  dropsPastDeliveryLimit,
} = require('../../nodes/lib/core/amqp/consumer-queue');
const { render } = require('../../nodes/lib/core/text/messages');
const { parseHandle, acknowledge } = require('../../nodes/lib/core/amqp/consumer-handles');
const { isAckAction } = require('../../nodes/lib/core/amqp/consumer-ack');

/** A delivery as amqplib hands it over: every basic property present, undefined when not set. */
function delivery(body, properties = {}, fields = {}) {
  const all = {
    contentType: undefined,
    contentEncoding: undefined,
    headers: {},
    deliveryMode: undefined,
    priority: undefined,
    correlationId: undefined,
    replyTo: undefined,
    expiration: undefined,
    messageId: undefined,
    timestamp: undefined,
    type: undefined,
    userId: undefined,
    appId: undefined,
    clusterId: undefined,
    ...properties,
  };
  return {
    content: Buffer.from(body),
    fields: {
      consumerTag: 'ctag',
      deliveryTag: 7,
      redelivered: false,
      exchange: '',
      routingKey: 'logging',
      ...fields,
    },
    properties: all,
  };
}

// A KumoMTA Bounce log record (reference/log_record.md), as a log hook publishes it.
const BOUNCE = {
  type: 'Bounce',
  id: '1d98076abbbc11ed940250ebf67f93bd',
  sender: 'noreply@example.com',
  recipient: 'gone@example.com',
  queue: 'example.com',
  site: 'source2->mx.example.com@smtp_client',
  size: 1047,
  response: {
    code: 550,
    enhanced_code: { class: 5, subject: 1, detail: 1 },
    content: 'no such user',
    command: 'RCPT TO',
  },
  timestamp: 1678069691,
  created: 1678069691,
  num_attempts: 0,
  bounce_classification: 'InvalidRecipient',
  delivery_protocol: 'ESMTP',
};

describe('amqp consume: a delivery becomes a msg', function () {
  it('parses an application/json body and keeps the bytes as received in msg.amqp.content', function () {
    const body = JSON.stringify(BOUNCE);
    const { msg, jsonError } = decodeDelivery(
      delivery(body, { contentType: 'application/json; charset=utf-8' }),
      'logging',
      'auto',
      'h',
    );
    assert.equal(jsonError, null);
    assert.deepEqual(msg.payload, BOUNCE);
    assert.equal(msg.amqp.content.toString(), body);
  });

  it('reads a +json media type as JSON too', function () {
    const { msg } = decodeDelivery(
      delivery('{"a":1}', { contentType: 'application/vnd.kumo+json' }),
      'q',
      'auto',
      null,
    );
    assert.deepEqual(msg.payload, { a: 1 });
  });

  it('gives a text/* body as a UTF-8 string and anything else as the Buffer received', function () {
    assert.equal(
      decodeDelivery(delivery('grüße', { contentType: 'text/plain' }), 'q', 'auto', null).msg.payload,
      'grüße',
    );
    const raw = decodeDelivery(delivery('{"a":1}'), 'q', 'auto', null).msg;
    assert.ok(Buffer.isBuffer(raw.payload), 'no content type: a Buffer');
    assert.equal(raw.amqp.content, undefined, 'no second copy of a body that was not parsed');
  });

  it('reads the body as the Payload setting says, whatever the content type', function () {
    const record = delivery(JSON.stringify(BOUNCE)); // KumoMTA publishes log records without a content type
    assert.deepEqual(decodeDelivery(record, 'q', 'json', null).msg.payload, BOUNCE);
    assert.equal(decodeDelivery(record, 'q', 'string', null).msg.payload, JSON.stringify(BOUNCE));
    const json = delivery('{"a":1}', { contentType: 'application/json' });
    assert.ok(Buffer.isBuffer(decodeDelivery(json, 'q', 'buffer', null).msg.payload));
  });

  it('says when a body that should be JSON is not, and leaves it as received', function () {
    const { msg, jsonError } = decodeDelivery(
      delivery('{"type": "Bounce"', { contentType: 'application/json' }),
      'q',
      'auto',
      'h',
    );
    assert.match(jsonError, /JSON/);
    assert.ok(Buffer.isBuffer(msg.payload));
    assert.equal(msg._amqpAck, 'h', 'the flow can still reject it');
  });

  it('sets msg.topic, msg.amqp (only the properties the publisher set) and the handle', function () {
    const { msg } = decodeDelivery(
      delivery(
        'x',
        { messageId: 'm-1', headers: { 'x-delivery-count': 2 } },
        { redelivered: true, exchange: 'ex', routingKey: 'rk', deliveryTag: 42 },
      ),
      'logging',
      'auto',
      'amqp:handle',
    );
    assert.equal(msg.topic, 'rk');
    assert.deepEqual(msg.amqp, {
      queue: 'logging',
      exchange: 'ex',
      routingKey: 'rk',
      redelivered: true,
      deliveryTag: 42,
      deliveryCount: 2,
      properties: { messageId: 'm-1', headers: { 'x-delivery-count': 2 } },
    });
    assert.equal(msg._amqpAck, 'amqp:handle');
  });

  it('has no handle in auto mode and a null deliveryCount without the quorum header', function () {
    const { msg } = decodeDelivery(delivery('x'), 'q', 'auto', null);
    assert.equal('_amqpAck' in msg, false);
    assert.equal(msg.amqp.deliveryCount, null);
  });
});

describe('amqp consume: the queue declaration its settings describe', function () {
  it('declares a durable classic queue with no arguments by default', function () {
    assert.deepEqual(queueDeclaration({ queue: 'logging' }), {
      declaration: { queue: 'logging', durable: true, arguments: {}, bind: null },
      problems: [],
    });
  });

  it('turns quorum, dead-letter exchange and key, TTL and further arguments into x-arguments', function () {
    const { declaration, problems } = queueDeclaration({
      queue: 'logging',
      queueType: 'quorum',
      deadLetterExchange: 'logging.dlx',
      deadLetterRoutingKey: 'failed',
      messageTtl: '60000',
      queueArguments: '{"x-max-length": 10000}',
      exchange: 'kumo',
      exchangeType: 'topic',
      routingKey: 'log.#',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(declaration.arguments, {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': 'logging.dlx',
      'x-dead-letter-routing-key': 'failed',
      'x-message-ttl': 60000,
      'x-max-length': 10000,
    });
    assert.deepEqual(declaration.bind, { exchange: 'kumo', exchangeType: 'topic', routingKey: 'log.#' });
  });

  const refused = [
    [{ queue: '' }, 'queue', 'empty'],
    [{ queue: 'x'.repeat(256) }, 'queue', 'too-long'],
    [{ queue: 'amq.logging' }, 'queue', 'reserved'],
    [{ queue: 'q', queueType: 'stream' }, 'queueType', 'unknown-type'],
    [{ queue: 'q', queueType: 'quorum', durable: false }, 'queueType', 'quorum-not-durable'],
    [{ queue: 'q', messageTtl: '1.5' }, 'messageTtl', 'not-whole-number'],
    [{ queue: 'q', messageTtl: '-1' }, 'messageTtl', 'not-whole-number'],
    [{ queue: 'q', queueArguments: '{x' }, 'queueArguments', 'not-json'],
    [{ queue: 'q', queueArguments: '[1]' }, 'queueArguments', 'not-object'],
    [{ queue: 'q', messageTtl: '5', queueArguments: '{"x-message-ttl": 6}' }, 'queueArguments', 'set-twice'],
    [{ queue: 'q', queueArguments: '{"__proto__": {"x-max-length": 1}}' }, 'queueArguments', 'proto-name'],
    [{ queue: 'q', queueArguments: JSON.parse('{"__proto__": {"x-max-length": 1}}') }, 'queueArguments', 'proto-name'],
    [{ queue: 'q', queueArguments: `{"${'k'.repeat(256)}": 1}` }, 'queueArguments', 'too-long'],
    [{ queue: 'q', routingKey: 'k' }, 'routingKey', 'routing-key-without-exchange'],
    [{ queue: 'q', exchange: 'amq.topic', exchangeType: 'topic' }, 'exchange', 'reserved'],
    [{ queue: 'q', exchange: 'e', exchangeType: 'x-delayed' }, 'exchangeType', 'unknown-type'],
  ];
  // The editor and the runtime word a problem as errors.<field>-<kind> of the node's catalogue.
  const words = require('../../src/nodes/amqp-consume/locale.json')['amqp-consume'].errors;
  for (const [settings, field, kind] of refused) {
    it(`refuses ${JSON.stringify(settings).slice(0, 80)}: ${field} ${kind}`, function () {
      const { declaration, problems } = queueDeclaration(settings);
      assert.equal(declaration, null);
      assert.ok(
        problems.some((p) => p.field === field && p.kind === kind),
        `problems: ${JSON.stringify(problems)}`,
      );
      for (const p of problems) assert.ok(words[`${p.field}-${p.kind}`], `no words for ${p.field}-${p.kind}`);
    });
  }

  it('binds to an amq.* exchange that exists (only declaring one is refused)', function () {
    const { declaration } = queueDeclaration({ queue: 'q', exchange: 'amq.topic', exchangeType: '', routingKey: '#' });
    assert.deepEqual(declaration.bind, { exchange: 'amq.topic', exchangeType: '', routingKey: '#' });
  });

  it('consumes an amq.* queue it does not declare', function () {
    assert.deepEqual(queueNameProblems('amq.gen-xyz', false), []);
  });

  it('declares arguments named constructor, toString or valueOf as data, not as fields set twice', function () {
    const { declaration, problems } = queueDeclaration({
      queue: 'q',
      messageTtl: '5',
      queueArguments: '{"constructor": "c", "toString": 1, "valueOf": true, "hasOwnProperty": null}',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(declaration.arguments, {
      'x-message-ttl': 5,
      constructor: 'c',
      toString: 1,
      valueOf: true,
      hasOwnProperty: null,
    });
  });

  it('declares no argument the arguments object inherits (amqplib reads them with for…in)', function () {
    const { value, problem } = parseArguments('{"__proto__": {"x-max-length": 1}}');
    assert.equal(problem.kind, 'proto-name');
    assert.equal(problem.detail, '__proto__');
    const inherited = [];
    for (const name in value) inherited.push(name);
    assert.deepEqual(inherited, []);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  });

  it('reads empty arguments as none', function () {
    assert.deepEqual(parseArguments(''), { value: {}, problem: null });
    assert.deepEqual(parseArguments('  '), { value: {}, problem: null });
  });
});

describe('what RabbitMQ 4.3 refuses by default is refused by the shared validator (editor and deploy)', function () {
  const words = require('../../src/nodes/amqp-consume/locale.json')['amqp-consume'].errors;
  const denied = [
    [
      { queue: 'q', durable: false },
      'durable',
      /^RabbitMQ 4\.3 refuses a queue that is neither durable nor exclusive \(deprecated feature transient_nonexcl_queues, denied by default\)/,
    ],
    [
      { queue: 'q', queueArguments: '{"x-queue-mode": "lazy"}' },
      'queueArguments',
      /^RabbitMQ 4\.3 refuses x-queue-mode /,
    ],
    [{ queue: 'q', queueArguments: '{"x-queue-mode": "default"}' }, 'queueArguments', /refuses x-queue-mode /],
    [
      { queue: 'q', queueArguments: '{"x-queue-version": 1}' },
      'queueArguments',
      /refuses x-queue-version other than 2/,
    ],
    [
      { queue: 'q', queueArguments: '{"x-queue-master-locator": "client-local"}' },
      'queueArguments',
      /refuses x-queue-master-locator \(deprecated feature queue_master_locator, denied by default\): use x-queue-leader-locator/,
    ],
  ];
  for (const [settings, field, reason] of denied) {
    it(`refuses ${JSON.stringify(settings)}, saying why`, function () {
      const { declaration, problems } = queueDeclaration(settings);
      assert.equal(declaration, null);
      const problem = problems.find((p) => p.kind === 'denied');
      assert.equal(problem?.field, field, JSON.stringify(problems));
      assert.match(render(problem.said), reason);
      assert.match(words[`${field}-denied`], /__reason__/);
    });
  }

  it("refuses x-queue-mode in amqp publish's Declare queue arguments (parseArguments), saying why", function () {
    const { value, problem } = parseArguments('{"x-max-length": 5, "x-queue-mode": "lazy"}');
    assert.deepEqual(value, {});
    assert.deepEqual([problem.field, problem.kind, problem.detail], ['queueArguments', 'denied', 'x-queue-mode']);
    assert.match(render(problem.said), /^RabbitMQ 4\.3 refuses x-queue-mode/);
  });

  it('declares a durable queue, x-queue-version 2 and x-queue-leader-locator as before', function () {
    const { declaration, problems } = queueDeclaration({
      queue: 'q',
      queueArguments: '{"x-queue-version": 2, "x-queue-leader-locator": "balanced"}',
    });
    assert.deepEqual(problems, []);
    assert.equal(declaration.durable, true);
    assert.deepEqual(declaration.arguments, { 'x-queue-version': 2, 'x-queue-leader-locator': 'balanced' });
  });
});

describe("a quorum queue's delivery limit (RabbitMQ 4.0: 20 by default, then dead-lettered or dropped)", function () {
  const limitOf = (settings) => dropsPastDeliveryLimit(queueDeclaration({ queue: 'q', ...settings }).declaration);

  it('drops past 20 when declared quorum with no dead-letter exchange', function () {
    assert.equal(limitOf({ queueType: 'quorum' }), 20);
    assert.equal(limitOf({ queueArguments: '{"x-queue-type": "quorum"}' }), 20);
  });

  it('drops past the limit its arguments set; none with x-delivery-limit -1', function () {
    assert.equal(limitOf({ queueType: 'quorum', queueArguments: '{"x-delivery-limit": 3}' }), 3);
    assert.equal(limitOf({ queueType: 'quorum', queueArguments: '{"x-delivery-limit": -1}' }), null);
  });

  it('drops nothing with a dead-letter exchange (the field, an argument, or the default exchange "")', function () {
    assert.equal(limitOf({ queueType: 'quorum', deadLetterExchange: 'dlx' }), null);
    assert.equal(limitOf({ queueType: 'quorum', queueArguments: '{"x-dead-letter-exchange": "dlx"}' }), null);
    assert.equal(
      limitOf({
        queueType: 'quorum',
        queueArguments: '{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}',
      }),
      null,
    );
  });

  it('has no limit for a classic queue', function () {
    assert.equal(limitOf({}), null);
    assert.equal(limitOf({ deadLetterExchange: '' }), null);
  });
});

describe('amqp ack: handles', function () {
  it('knows its four actions', function () {
    for (const a of ['ack', 'requeue', 'requeue-failed', 'reject']) assert.equal(isAckAction(a), true);
    for (const a of ['nack', 'ACK', 'requeue_failed', '', null, 1]) assert.equal(isAckAction(a), false);
  });

  it('tells a handle from anything else', function () {
    for (const value of [undefined, null, 5, {}, 'amqp:', 'amqp:zz.1.1', 'ack']) {
      assert.equal(parseHandle(value), null, `${String(value)} is not a handle`);
      assert.deepEqual(acknowledge(value, 'ack'), { outcome: 'not-a-handle' });
    }
  });
});
