// @ts-check
'use strict';
// A typed input of type msg reads what Node-RED's own getMessageProperty reads,
// also where it skips parsing the expression (a plain name).

const assert = require('node:assert/strict');
const fc = require('fast-check');
const { util } = require('@node-red/util');
const { typedInput } = require('../../nodes/lib/common/typed-input');

const RED = /** @type {any} */ ({ util });
const node = /** @type {any} */ ({});

/** @param {string} property @param {object} msg */
function read(property, msg) {
  let out;
  typedInput(RED, node, property, 'msg').read(msg, (err, value) => {
    out = { err: err ? err.message : null, value };
  });
  return out;
}

/** @param {string} property @param {object} msg */
function nodeRed(property, msg) {
  try {
    return { err: null, value: util.getMessageProperty(msg, property) };
  } catch (err) {
    return { err: /** @type {Error} */ (err).message, value: undefined };
  }
}

describe('a typed input of type msg', function () {
  const names = [
    'queue',
    'msg.queue',
    'topic',
    '$x',
    '_y',
    'a1',
    'constructor',
    'toString',
    'a.b',
    'a["b"]',
    'missing.deeper',
  ];
  for (const property of names) {
    it(`${property}: the same value as Node-RED's getMessageProperty`, function () {
      const msg = { queue: 'amqp', topic: { t: 1 }, $x: 0, _y: null, a1: [1], a: { b: 'B' } };
      assert.deepEqual(read(property, msg), nodeRed(property, msg));
    });
  }

  it('any plain name on any msg: the same value as Node-RED reads', function () {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,8}$/),
        fc.dictionary(fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,8}$/), fc.jsonValue({ maxDepth: 1 })),
        (name, msg) => {
          assert.deepEqual(read(name, msg), nodeRed(name, msg));
          assert.deepEqual(read(`msg.${name}`, msg), nodeRed(`msg.${name}`, msg));
        },
      ),
    );
  });
});
