'use strict';
// Keys a user types (msg.properties and its headers, queue x-arguments, the
// node's choices) may name Object.prototype's members: each is data or a clear
// KUMO_BAD_INPUT / setup problem, never a TypeError, never a changed prototype.

const assert = require('node:assert/strict');
const fc = require('fast-check');
const { publishOptions, PROPERTY_NAMES, MessageError } = require('../../nodes/lib/core/amqp/amqp-message');
const { queueDeclaration } = require('../../nodes/lib/core/amqp/consumer-queue');
const { isReturnedAs, isNackedAs } = require('../../nodes/lib/core/publish/publish-outcome');

const RAW = { content: Buffer.from('x'), contentType: null };
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** Names a user might type: Object.prototype's, the real ones, and any string. */
const someName = (known = []) => fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES, ...known), fc.string({ maxLength: 12 }));

/** An object whose own keys are `name`s, as JSON.parse or a change node makes it (__proto__ an own key). */
const objectOf = (name, value) =>
  fc.uniqueArray(fc.tuple(name, value), { selector: ([k]) => k, maxLength: 6 }).map((e) => Object.fromEntries(e));

/** A header value: scalars, or tables and arrays of them, keys from someName(). */
const { header } = fc.letrec((tie) => ({
  header: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('header'), { maxLength: 3 }),
    objectOf(someName(), tie('header')),
  ),
}));

/**
 * True when some table amqplib would encode has an own key __proto__ (the oracle, recursive: the
 * trees here are small). A nested {'!': type, value} is amqplib's typed value: only its value is sent.
 */
function hasProtoKey(value, nested = false) {
  if (Array.isArray(value)) return value.some((v) => hasProtoKey(v, true));
  if (value === null || typeof value !== 'object') return false;
  if (nested && Object.hasOwn(value, '!')) return hasProtoKey(value.value, true);
  return Object.keys(value).some((k) => k === '__proto__' || hasProtoKey(value[k], true));
}

function badInput(err) {
  assert.ok(err instanceof MessageError, `expected MessageError, got ${err?.name}: ${err?.message}`);
  assert.equal(err.code, 'KUMO_BAD_INPUT');
}

describe('keys naming Object.prototype members: msg.properties', function () {
  it('either gives options with known names only, or refuses with KUMO_BAD_INPUT (any key, any value)', function () {
    const known = new Set(['persistent', ...PROPERTY_NAMES]);
    fc.assert(
      fc.property(objectOf(someName(PROPERTY_NAMES), fc.anything()), (properties) => {
        let options;
        try {
          options = publishOptions(properties, true, RAW);
        } catch (err) {
          badInput(err);
          return;
        }
        assert.equal(Object.getPrototypeOf(options), Object.prototype);
        for (const name in options) assert.ok(known.has(name), `${name} reached amqplib`);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses headers holding a __proto__ key anywhere, and passes every other tree as given', function () {
    fc.assert(
      fc.property(objectOf(someName(), header), (headers) => {
        let options;
        try {
          options = publishOptions({ headers }, true, RAW);
        } catch (err) {
          badInput(err);
          assert.ok(hasProtoKey(headers), `refused without a __proto__ key: ${err.message}`);
          assert.match(err.message, /has a key named __proto__/);
          return;
        }
        assert.ok(!hasProtoKey(headers), 'a __proto__ key was passed on');
        assert.equal(options.headers, headers);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('keys naming Object.prototype members: queue x-arguments', function () {
  it('declares exactly the own arguments given, or names the problem (never a throw, never an inherited key)', function () {
    const fields = ['x-message-ttl'];
    fc.assert(
      fc.property(objectOf(someName(fields), fc.oneof(fc.string(), fc.integer(), fc.boolean())), (given) => {
        const { declaration, problems } = queueDeclaration({
          queue: 'q',
          messageTtl: '5',
          queueArguments: JSON.stringify(given),
        });
        const names = Object.keys(given);
        if (names.includes('__proto__')) {
          assert.equal(declaration, null);
          assert.ok(problems.some((p) => p.kind === 'proto-name' && p.detail === '__proto__'));
          return;
        }
        if (names.includes('x-message-ttl')) {
          assert.deepEqual(problems, [{ field: 'queueArguments', kind: 'set-twice', detail: 'x-message-ttl' }]);
          return;
        }
        assert.deepEqual(problems, []);
        const declared = [];
        for (const name in declaration.arguments) declared.push(name);
        assert.deepEqual(declared.sort(), ['x-message-ttl', ...names].sort());
        for (const name of names) assert.equal(declaration.arguments[name], given[name]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('keys naming Object.prototype members: amqp publish choices', function () {
  it('takes transient, permanent or delivered for a returned message, nothing inherited', function () {
    for (const v of ['transient', 'permanent', 'delivered']) assert.equal(isReturnedAs(v), true, v);
    for (const v of [...PROTOTYPE_NAMES, '', 'Transient', undefined, null, 451])
      assert.equal(isReturnedAs(v), false, String(v));
  });

  it('takes permanent or transient for a Nack, nothing inherited', function () {
    for (const v of ['permanent', 'transient']) assert.equal(isNackedAs(v), true, v);
    for (const v of [...PROTOTYPE_NAMES, 'delivered', '', undefined, null, 500])
      assert.equal(isNackedAs(v), false, String(v));
  });
});
