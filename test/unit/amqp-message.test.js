'use strict';

const assert = require('node:assert/strict');
const { encodeBody, publishOptions, PROPERTY_NAMES, MessageError } = require('../../nodes/lib/core/amqp/amqp-message');

function throwsMessageError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof MessageError, `expected MessageError, got ${err?.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const RAW = { content: Buffer.from('x'), contentType: null };
const JSON_BODY = { content: Buffer.from('{}'), contentType: 'application/json' };

describe('message body: a Buffer is published as is', function () {
  it('uses the same Buffer object, with no content type', function () {
    const payload = Buffer.from([0, 1, 2, 255]);
    const body = encodeBody(payload);
    assert.equal(body.content, payload);
    assert.equal(body.contentType, null);
  });
});

describe('message body: a string is published as UTF-8', function () {
  it('encodes non-ASCII text as UTF-8 bytes, with no content type', function () {
    const body = encodeBody('Grüße ✉');
    assert.deepEqual(body.content, Buffer.from('Grüße ✉', 'utf8'));
    assert.equal(body.content.length, 11); // ü and ß take 2 bytes, ✉ takes 3
    assert.equal(body.contentType, null);
  });

  it('publishes an empty string as an empty body', function () {
    assert.equal(encodeBody('').content.length, 0);
  });
});

describe('message body: anything else is published as JSON', function () {
  const cases = [
    ['a KumoMTA log record object', { type: 'Delivery', id: 'abc', response: { code: 250 } }],
    ['a number', 42],
    ['zero', 0],
    ['a boolean', false],
    ['an array', [1, 'two', { three: 3 }]],
  ];
  for (const [label, payload] of cases) {
    it(`serialises ${label} as JSON with content type application/json`, function () {
      const body = encodeBody(payload);
      assert.equal(body.contentType, 'application/json');
      assert.deepEqual(JSON.parse(body.content.toString('utf8')), payload);
    });
  }
});

describe('message body: what cannot be published', function () {
  it('refuses a missing payload', function () {
    throwsMessageError(() => encodeBody(undefined), /^msg\.payload is missing: nothing to publish$/);
    throwsMessageError(() => encodeBody(null), /^msg\.payload is missing/);
  });

  it('refuses a function or a symbol, naming its type', function () {
    throwsMessageError(() => encodeBody(() => 1), /^msg\.payload is a function, which cannot be published$/);
    throwsMessageError(() => encodeBody(Symbol('s')), /^msg\.payload is a symbol, which cannot be published$/);
  });

  it('refuses a circular object with the JSON error', function () {
    const loop = { a: 1 };
    loop.self = loop;
    throwsMessageError(() => encodeBody(loop), /^msg\.payload cannot be serialised as JSON: .*circular/i);
  });

  it('refuses a BigInt with the JSON error', function () {
    throwsMessageError(() => encodeBody({ n: 10n }), /cannot be serialised as JSON/);
  });
});

describe('publish options: without msg.properties', function () {
  it('sets only the persistent flag for a raw body', function () {
    assert.deepEqual(publishOptions(undefined, true, RAW), { persistent: true });
    assert.deepEqual(publishOptions(null, false, RAW), { persistent: false });
  });

  it('adds content type application/json for a JSON body', function () {
    assert.deepEqual(publishOptions(undefined, true, JSON_BODY), { persistent: true, contentType: 'application/json' });
    assert.deepEqual(publishOptions(undefined, false, JSON_BODY), {
      persistent: false,
      contentType: 'application/json',
    });
  });
});

describe('publish options: msg.properties sets AMQP basic properties', function () {
  it('passes every allowed property through', function () {
    const properties = {
      contentType: 'text/plain',
      contentEncoding: 'gzip',
      headers: { 'x-kumo-queue': 'amqp', n: 1 },
      messageId: 'm-1',
      correlationId: 'c-1',
      priority: 9,
      expiration: '60000',
      appId: 'kumomta',
      type: 'log-record',
      timestamp: 1700000000,
      replyTo: 'replies',
      userId: 'guest',
    };
    assert.deepEqual(publishOptions(properties, true, RAW), { persistent: true, ...properties });
  });

  it('lists exactly the properties docs/nodes/amqp-publish.md allows', function () {
    assert.deepEqual([...PROPERTY_NAMES].sort(), [
      'appId',
      'contentEncoding',
      'contentType',
      'correlationId',
      'expiration',
      'headers',
      'messageId',
      'priority',
      'replyTo',
      'timestamp',
      'type',
      'userId',
    ]);
  });

  it('lets the user override the JSON content type', function () {
    assert.equal(
      publishOptions({ contentType: 'application/vnd.kumo+json' }, true, JSON_BODY).contentType,
      'application/vnd.kumo+json',
    );
  });

  it('keeps the JSON content type when the user sets other properties', function () {
    assert.deepEqual(publishOptions({ messageId: 'm-1' }, false, JSON_BODY), {
      persistent: false,
      contentType: 'application/json',
      messageId: 'm-1',
    });
  });

  it('turns a Date timestamp into whole seconds since the epoch', function () {
    const options = publishOptions({ timestamp: new Date('2024-01-02T03:04:05.999Z') }, true, RAW);
    assert.equal(options.timestamp, Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  });

  it('turns a numeric expiration into the string of milliseconds RabbitMQ reads', function () {
    assert.equal(publishOptions({ expiration: 30000 }, true, RAW).expiration, '30000');
  });

  it('skips a property whose value is undefined', function () {
    assert.deepEqual(publishOptions({ messageId: undefined, bogus: undefined }, true, RAW), { persistent: true });
  });

  it('does not share or change the options of earlier messages', function () {
    const first = publishOptions({ messageId: 'a' }, true, JSON_BODY);
    publishOptions({ messageId: 'b' }, true, JSON_BODY);
    assert.equal(first.messageId, 'a');
    assert.equal(publishOptions(undefined, true, JSON_BODY).messageId, undefined);
  });
});

describe('publish options: a wrong property names the property and what it must be', function () {
  const cases = [
    ['contentType', 7, 'a string'],
    ['contentEncoding', null, 'a string'],
    ['messageId', { id: 1 }, 'a string'],
    ['correlationId', 12, 'a string'],
    ['appId', true, 'a string'],
    ['type', [], 'a string'],
    ['replyTo', 1, 'a string'],
    ['userId', 1, 'a string'],
    ['headers', 'x-a: 1', 'an object of header names to values'],
    ['headers', null, 'an object of header names to values'],
    ['headers', ['a'], 'an object of header names to values'],
    ['headers', Buffer.from('a'), 'an object of header names to values'],
    ['priority', 256, 'an integer from 0 to 255'],
    ['priority', -1, 'an integer from 0 to 255'],
    ['priority', 1.5, 'an integer from 0 to 255'],
    ['priority', '5', 'an integer from 0 to 255'],
    ['expiration', -1, 'a whole number of milliseconds (number or digit string)'],
    ['expiration', '1.5', 'a whole number of milliseconds (number or digit string)'],
    ['expiration', '60s', 'a whole number of milliseconds (number or digit string)'],
    ['timestamp', 1.5, 'seconds since the epoch (integer) or a Date'],
    ['timestamp', '2024-01-01', 'seconds since the epoch (integer) or a Date'],
    ['timestamp', new Date('not a date'), 'seconds since the epoch (integer) or a Date'],
  ];
  for (const [name, value, what] of cases) {
    it(`refuses ${name} = ${Buffer.isBuffer(value) ? 'a Buffer' : (JSON.stringify(value) ?? String(value))}`, function () {
      assert.throws(
        () => publishOptions({ [name]: value }, true, RAW),
        (err) => {
          assert.ok(err instanceof MessageError);
          assert.equal(err.message, `msg.properties.${name} must be ${what}`);
          return true;
        },
      );
    });
  }

  it('refuses a short string property longer than 255 bytes (AMQP shortstr)', function () {
    assert.equal(publishOptions({ messageId: 'a'.repeat(255) }, true, RAW).messageId.length, 255);
    throwsMessageError(
      () => publishOptions({ messageId: 'a'.repeat(256) }, true, RAW),
      /^msg\.properties\.messageId must be at most 255 bytes$/,
    );
    // counted in UTF-8 bytes, not characters: 128 × 'é' is 256 bytes
    throwsMessageError(
      () => publishOptions({ correlationId: 'é'.repeat(128) }, true, RAW),
      /^msg\.properties\.correlationId must be at most 255 bytes$/,
    );
  });
});

describe('publish options: msg.properties itself must be an object of basic properties', function () {
  it('refuses an unknown property, listing the allowed ones', function () {
    throwsMessageError(
      () => publishOptions({ deliveryMode: 2 }, true, RAW),
      /^msg\.properties\.deliveryMode is not an AMQP basic property; use one of contentType, contentEncoding, headers, messageId, correlationId, priority, expiration, appId, type, timestamp, replyTo, userId$/,
    );
  });

  for (const [label, value] of [
    ['a string', 'persistent'],
    ['a number', 1],
    ['an array', [{ messageId: 'a' }]],
    ['a Buffer', Buffer.from('{}')],
  ]) {
    it(`refuses ${label}`, function () {
      throwsMessageError(
        () => publishOptions(value, true, RAW),
        /^msg\.properties must be an object of AMQP basic properties$/,
      );
    });
  }
});

describe('publish options: names Object.prototype also has are data, never its members', function () {
  // JSON.parse makes each an own key, as a flow's JSON or a change node would.
  const names = Object.getOwnPropertyNames(Object.prototype);
  for (const name of names) {
    it(`refuses msg.properties.${name} as an unknown property, with code KUMO_BAD_INPUT`, function () {
      assert.throws(
        () => publishOptions(JSON.parse(`{${JSON.stringify(name)}: 1}`), true, RAW),
        (err) => {
          assert.ok(err instanceof MessageError, `expected MessageError, got ${err?.name}: ${err?.message}`);
          assert.equal(err.code, 'KUMO_BAD_INPUT');
          assert.match(
            err.message,
            new RegExp(`^msg\\.properties\\.${name} is not an AMQP basic property; use one of`),
          );
          return true;
        },
      );
    });
  }

  it('refuses a header named __proto__, at the top or nested in tables and arrays, naming where it is', function () {
    throwsMessageError(
      () => publishOptions({ headers: JSON.parse('{"a": 1, "__proto__": {"x-inherited": 1}}') }, true, RAW),
      /^msg\.properties\.headers has a key named __proto__, which JavaScript readers \(amqplib among them\) take as the object's prototype: rename it$/,
    );
    throwsMessageError(
      () => publishOptions({ headers: { a: [1, { b: JSON.parse('{"__proto__": "x"}') }] } }, true, RAW),
      /^msg\.properties\.headers\.a\[1\]\.b has a key named __proto__/,
    );
    // amqplib's typed value {'!': type, value} encodes only its value, at the same place.
    throwsMessageError(
      () => publishOptions({ headers: { t: { '!': 'object', value: JSON.parse('{"__proto__": 1}') } } }, true, RAW),
      /^msg\.properties\.headers\.t has a key named __proto__/,
    );
  });

  it('walks headers nested 100 000 deep without overflowing the stack', function () {
    let deep = JSON.parse('{"__proto__": 1}');
    for (let i = 0; i < 100000; i++) deep = { n: deep };
    assert.throws(
      () => publishOptions({ headers: deep }, true, RAW),
      (err) =>
        err instanceof MessageError &&
        err.message.endsWith(
          ".n has a key named __proto__, which JavaScript readers (amqplib among them) take as the object's prototype: rename it",
        ),
    );
    const cycle = { a: {} };
    cycle.a.back = cycle;
    assert.equal(
      publishOptions({ headers: cycle }, true, RAW).headers,
      cycle,
      'a cycle ends the walk (amqplib refuses it later)',
    );
  });

  it('refuses a header key longer than 255 bytes (an AMQP table key is a short string)', function () {
    assert.ok(publishOptions({ headers: { ['k'.repeat(255)]: 1 } }, true, RAW).headers);
    throwsMessageError(
      () => publishOptions({ headers: { a: { ['é'.repeat(128)]: 1 } } }, true, RAW),
      /^msg\.properties\.headers\.a has a key longer than 255 bytes, more than an AMQP table key holds$/,
    );
  });

  it('keeps headers named constructor, toString or hasOwnProperty as data (the broker round trip: faults/bad-input)', function () {
    const headers = JSON.parse('{"constructor": "c", "toString": 2, "hasOwnProperty": {"valueOf": true}}');
    assert.equal(publishOptions({ headers }, true, RAW).headers, headers);
  });
});
