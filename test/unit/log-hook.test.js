'use strict';
// log hook in's body (core/kumo/log-hook.ts): one KumoMTA log record or an array of them,
// split into elements with each element's own bytes, bounded in elements and in depth,
// measured without recursion; and the path the node serves.

const assert = require('node:assert/strict');
const {
  splitLogHookBody,
  noRecordReason,
  logHookPath,
  MAX_RECORD_DEPTH,
} = require('../../nodes/lib/core/kumo/log-hook');
const { render } = require('../../nodes/lib/core/text/messages');

const LIMITS = { maxRecords: 10000, maxDepth: MAX_RECORD_DEPTH };
const split = (text, limits = LIMITS) => splitLogHookBody(Buffer.from(text, 'utf8'), limits);

/** An array nested `levels` deep, built as text (building it as an object would need recursion to write). */
const nested = (levels) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('log hook body: a single record is published byte for byte', function () {
  it('keeps the whole body as the record, whitespace, escapes and number forms included', function () {
    const text = ' {"type":"Delivery", "n": 1.0e3, "s":"a\\"b\\\\", "u":"\\u00e9 ✉"}\n';
    const body = split(text);
    assert.equal(body.kind, 'elements');
    assert.equal(body.batch, false);
    assert.equal(body.records, 1);
    assert.equal(body.elements[0].record, true);
    assert.equal(body.elements[0].bytes.toString('utf8'), text);
    assert.equal(body.elements[0].value.type, 'Delivery');
  });
});

describe('log hook body: an array is split into its elements, each with its own bytes', function () {
  it('slices each element exactly as written, strings holding brackets, commas and escaped quotes included', function () {
    const elements = [
      '{"type":"Delivery","content":"a,b]c[\\"}{"}',
      '{ "type" : "Bounce", "recipient": ["a@x", "b@y"], "size": 0 }',
      '{"type":"XferIn","meta":{"x":[1,{"y":[2]}]}}',
    ];
    const body = split(`[\n  ${elements.join(' ,\n  ')}\n]`);
    assert.equal(body.kind, 'elements');
    assert.equal(body.batch, true);
    assert.deepEqual(
      body.elements.map((e) => e.bytes.toString('utf8')),
      elements,
    );
    assert.deepEqual(
      body.elements.map((e) => JSON.parse(e.bytes.toString('utf8'))),
      elements.map((e) => JSON.parse(e)),
    );
  });

  it('tells log records from other elements, with the reason for each other one', function () {
    const body = split('[{"type":"Delivery"}, 7, "x", null, [1], {"no":"type"}, {"type": 42}]');
    assert.equal(body.records, 1);
    assert.deepEqual(
      body.elements.map((e) => e.record),
      [true, false, false, false, false, false, false],
    );
    const reasons = body.elements.filter((e) => !e.record).map((e) => render(e.reason));
    assert.equal(reasons.length, 6);
    for (const reason of reasons) assert.match(reason, /^not a KumoMTA log record: /);
    assert.match(reasons[3], /an array/);
    assert.match(reasons[4], /without a string "type"/);
    assert.equal(noRecordReason(body), null, 'one record is enough: no verdict');
  });

  it('takes prototype keys as plain data', function () {
    const text = '{"type":"Delivery","__proto__":{"type":1,"polluted":true},"constructor":1}';
    const body = split(`[${text},${text}]`);
    assert.equal(body.records, 2);
    assert.equal(body.elements[0].bytes.toString(), text);
    assert.equal({}.polluted, undefined);
    assert.equal(Object.getPrototypeOf(body.elements[0].value), Object.prototype);
  });
});

describe('log hook body: the verdict (422) only when no element is a log record', function () {
  const verdict = (text) => {
    const reason = noRecordReason(split(text));
    return reason === null ? null : render(reason);
  };
  it('says why: not JSON, an empty array, no element a record, a single non-record', function () {
    assert.match(verdict('not json'), /^not JSON: /);
    assert.match(verdict(''), /^not JSON: /);
    assert.match(verdict('[{"type":"x"}'), /^not JSON: /);
    assert.match(verdict('[]'), /^not a KumoMTA log record: an empty array/);
    assert.match(verdict('[1, 2, 3]'), /^not a KumoMTA log record: none of the 3 elements/);
    assert.match(verdict('{"type": 42}'), /^not a KumoMTA log record/);
    assert.match(verdict('"Delivery"'), /^not a KumoMTA log record/);
    assert.equal(verdict('{"type":"AnyFutureType"}'), null);
  });
});

describe('log hook body: bounded, and measured without recursion', function () {
  it('refuses more elements than the limit before parsing them', function () {
    const body = split(`[${Array.from({ length: 11 }, () => '{"type":"x"}').join(',')}]`, {
      maxRecords: 10,
      maxDepth: 64,
    });
    assert.deepEqual(body, { kind: 'too-many', limit: 10 });
    assert.equal(
      split(`[${Array.from({ length: 10 }, () => '{"type":"x"}').join(',')}]`, {
        maxRecords: 10,
        maxDepth: 64,
      }).records,
      10,
    );
  });

  it('takes 300 000 tiny records as too many at the default limit, quickly', function () {
    const text = `[${Array.from({ length: 300000 }, () => '{"type":"x"}').join(',')}]`;
    const started = process.hrtime.bigint();
    assert.equal(split(text).kind, 'too-many');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // Counting stops at the limit, in a few ms here. 2 s leaves a busy runner room and still catches a walk
    // whose cost is quadratic in the body (minutes at this size).
    assert.ok(ms < 2000, `took ${ms} ms`);
  });

  for (const levels of [5000, 20000]) {
    it(`a record nested ${levels} deep is not a log record, alone or in a batch (no stack overflow)`, function () {
      const deep = `{"type":"Delivery","x":${nested(levels)}}`;
      const alone = split(deep);
      assert.equal(alone.records, 0);
      assert.equal(alone.elements[0].tooDeep, true);
      assert.equal(alone.elements[0].value, null, 'nothing that deep is handed on to be copied');
      assert.match(render(noRecordReason(alone)), /nested deeper than 64 levels/);
      const batch = split(`[${deep},{"type":"Delivery"}]`);
      assert.equal(batch.records, 1);
      assert.equal(batch.elements[0].tooDeep, true);
      assert.equal(batch.elements[0].bytes.toString(), deep);
      assert.equal(batch.elements[1].record, true);
    });
  }

  it('counts the depth of a record from the record itself: 64 levels pass, 65 do not', function () {
    const at = (levels) => `{"type":"x","a":${nested(levels - 1)}}`;
    assert.equal(split(at(64)).records, 1);
    assert.equal(split(at(65)).records, 0);
    assert.equal(split(`[${at(64)}]`).records, 1);
    assert.equal(split(`[${at(65)}]`).records, 0);
  });
});

describe('log hook path: a literal path on the node HTTP server', function () {
  it('accepts paths KumoMTA can post to', function () {
    assert.equal(logHookPath('/kumomta/log'), '/kumomta/log');
    assert.equal(logHookPath(' /a-b_c.d~e/1 '), '/a-b_c.d~e/1');
  });
  it('refuses an empty path, a relative one, Express patterns, empty segments, and a long one', function () {
    for (const bad of [
      '',
      '   ',
      'kumomta/log',
      '/log/:id',
      '/log*',
      '/a//b',
      '/a b',
      '/a?b',
      `/${'a'.repeat(300)}`,
      7,
    ]) {
      assert.throws(() => logHookPath(bad), /path/, JSON.stringify(bad));
    }
  });
});

describe('log hook body: one value measured as an array of one is', function () {
  const fc = require('fast-check');
  // Values of every shape, some nested past the limit: an object or array around another, `levels` times.
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 2 * MAX_RECORD_DEPTH }), fc.jsonValue({ maxDepth: 3 }), fc.boolean())
    .map(([levels, inner, objects]) => {
      let text = JSON.stringify(inner);
      for (let i = 0; i < levels; i++) text = objects ? `{"type":"x","a":${text}}` : `[${text}]`;
      return text;
    });
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
    deep,
  );

  it('gets the same verdict alone (walked after parsing) as inside an array (its bytes scanned)', () => {
    fc.assert(
      fc.property(value, (text) => {
        // An array at the top is a batch whatever it holds: only other values are "one value".
        fc.pre(!text.trimStart().startsWith('['));
        const alone = split(text);
        const inArray = split(`[${text}]`);
        assert.equal(alone.kind, 'elements');
        assert.equal(alone.batch, false);
        const [a] = alone.elements;
        const [b] = inArray.elements;
        assert.equal(a.record, b.record);
        assert.equal(a.tooDeep ?? false, b.tooDeep ?? false);
        assert.equal(a.reason ? render(a.reason) : null, b.reason ? render(b.reason) : null);
        assert.deepEqual(a.value, b.value);
        assert.equal(a.bytes.toString('utf8'), text);
      }),
      { numRuns: 400 },
    );
  });
});
