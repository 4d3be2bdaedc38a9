'use strict';
// A message's data, whole: the codec every kept msg goes through (the retry
// journal, an attempt's copy of the payload) gives back the same values, and no
// input can overflow the stack.

const assert = require('node:assert/strict');
const fc = require('fast-check');
const { copyData, encodeData, decodeData, MAX_DATA_DEPTH } = require('../../nodes/lib/core/store/message-data');

/** Values a msg holds: JSON, plus what JSON loses (Date, Buffer, undefined, -0, NaN, BigInt, Map, Set, `$` keys). */
const leaf = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  // An Invalid Date has its own test below: deepStrictEqual compares dates' times with ===, and NaN !== NaN.
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object'), tie('map'), tie('set')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(
    fc.oneof(fc.string(), fc.constantFrom('$date', '$buffer', '$object', '__proto__', 'constructor')),
    tie('value'),
    { maxKeys: 5, noNullPrototype: true },
  ),
  map: fc.array(fc.tuple(fc.string(), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
  set: fc.array(fc.string(), { maxLength: 3 }).map((items) => new Set(items)),
}));

/** Through the journal's text form: encode, JSON, parse, decode. */
function roundTrip(v) {
  return decodeData(JSON.parse(JSON.stringify(encodeData(v))));
}

function nested(depth, inner = {}) {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('a message data codec', function () {
  it('gives back the same values through the stored text form (generated values)', function () {
    fc.assert(
      fc.property(value, (v) => {
        // Arrays store a missing element as null, as JSON does; the generator gives none.
        assert.deepStrictEqual(roundTrip(v), v);
      }),
      { numRuns: 500 },
    );
  });

  it('gives back an Invalid Date as an Invalid Date', function () {
    const back = roundTrip({ when: new Date(Number.NaN), list: [new Date(Number.NaN)] });
    for (const date of [back.when, back.list[0]]) {
      assert.ok(date instanceof Date);
      assert.ok(Number.isNaN(date.getTime()));
    }
  });

  it('keeps a Date, a Buffer inside msg.properties.headers and a number as they were', function () {
    const props = {
      messageId: 'm-1',
      timestamp: new Date('2026-12-06T10:00:00.123Z'),
      headers: { attempt: 3, blob: Buffer.from([0, 1, 2, 255]), nested: { when: new Date(0) } },
    };
    const back = roundTrip(props);
    assert.ok(back.timestamp instanceof Date);
    assert.ok(Buffer.isBuffer(back.headers.blob));
    assert.deepStrictEqual(back, props);
  });

  it('never lets a key named __proto__ change a prototype', function () {
    const stored = JSON.parse('{"__proto__":{"polluted":true},"a":1}');
    const back = decodeData(stored);
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal(back.polluted, undefined);
    assert.deepStrictEqual(Object.keys(back), ['__proto__', 'a']);
    assert.equal({}.polluted, undefined);
    const copied = copyData(stored).copy;
    assert.equal(Object.getPrototypeOf(copied), Object.prototype);
    assert.equal(copied.polluted, undefined);
  });

  it('refuses data nested deeper than the bound as bad input, for 5 000 and 20 000 levels, without overflowing', function () {
    for (const depth of [MAX_DATA_DEPTH + 1, 5000, 20000]) {
      const deep = nested(depth);
      for (const walk of [() => copyData(deep), () => encodeData(deep)]) {
        assert.throws(walk, (err) => err.code === 'KUMO_BAD_INPUT' && /nests deeper than 128 levels/.test(err.message));
      }
      const storedDeep = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
      assert.throws(
        () => decodeData(storedDeep),
        (err) => err.code === 'KUMO_BAD_INPUT',
      );
    }
    // At the bound it is kept.
    assert.deepStrictEqual(roundTrip(nested(MAX_DATA_DEPTH - 1)), nested(MAX_DATA_DEPTH - 1));
  });

  it('refuses a value that refers to itself as bad input', function () {
    const loop = { a: 1 };
    loop.self = loop;
    assert.throws(
      () => copyData(loop),
      (err) => err.code === 'KUMO_BAD_INPUT',
    );
    assert.throws(
      () => encodeData(loop),
      (err) => err.code === 'KUMO_BAD_INPUT',
    );
  });

  it('copies deeply: changing the copy leaves the original as it was, and counts its bytes', function () {
    const original = {
      type: 'Delivery',
      response: { code: 250, content: 'ok' },
      data: Buffer.from('abc'),
      when: new Date(5),
    };
    const { copy, approxBytes } = copyData(original);
    copy.response.code = 500;
    copy.data[0] = 0;
    copy.when.setTime(6);
    assert.equal(original.response.code, 250);
    assert.equal(original.data.toString(), 'abc');
    assert.equal(original.when.getTime(), 5);
    assert.ok(approxBytes >= 'Delivery'.length + 'ok'.length + 3);
  });
});
