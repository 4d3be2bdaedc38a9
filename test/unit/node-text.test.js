// @ts-check
'use strict';
// A node's words through Node-RED's RED._: each answer remembered, since i18next
// takes tens of µs a call and the same words (a request's answer, a status) recur.

const assert = require('node:assert/strict');
const { translator, coreText } = require('../../nodes/lib/common/node-text');
const { say } = require('../../nodes/lib/core/text/messages');

/** A RED whose `_` knows the core's keys and every key under `known.`, and counts its calls. */
function countingRed() {
  const calls = [];
  const RED = /** @type {any} */ ({
    _: (/** @type {string} */ key, /** @type {any} */ vars) => {
      calls.push(key);
      return key.includes('.known.') || key.startsWith('kumo.')
        ? `words for ${key} ${JSON.stringify(vars ?? {})}`
        : key;
    },
  });
  return { RED, calls };
}

describe("a node's words through RED._", function () {
  it('the same key and parameters ask RED._ once; other parameters ask again', function () {
    const { RED, calls } = countingRed();
    const t = translator(RED, 'kumo-log-hook', {});
    const first = t('known.answer', { records: 100 });
    assert.equal(t('known.answer', { records: 100 }), first);
    assert.equal(calls.length, 1);
    assert.notEqual(t('known.answer', { records: 99 }), first);
    assert.equal(calls.length, 2);
  });

  it('nodes of one module share what was remembered', function () {
    const { RED, calls } = countingRed();
    translator(RED, 'kumo-log-hook', {})('known.status');
    translator(RED, 'kumo-log-hook', {})('known.status');
    assert.equal(calls.length, 1);
  });

  it('a key RED._ does not know is asked again each time, and falls back to the English catalogue', function () {
    const { RED, calls } = countingRed();
    const t = translator(RED, 'kumo-log-hook', { 'kumo-log-hook': { status: { idle: 'idle, __path__' } } });
    assert.equal(t('status.idle', { path: '/x' }), 'idle, /x');
    assert.equal(t('status.idle', { path: '/x' }), 'idle, /x');
    assert.equal(calls.length, 2);
  });

  it('words with long parameters are not remembered', function () {
    const { RED, calls } = countingRed();
    const t = translator(RED, 'kumo-log-hook', {});
    const error = 'x'.repeat(1000);
    t('known.fault', { error });
    t('known.fault', { error });
    assert.equal(calls.length, 2);
  });

  it('stays bounded and right after many different parameters', function () {
    const { RED } = countingRed();
    const t = translator(RED, 'kumo-log-hook', {});
    for (let i = 0; i < 2000; i++) assert.equal(t('known.n', { i }), `words for kumo-log-hook.known.n {"i":${i}}`);
  });

  it("the core's words are remembered the same way", function () {
    const { RED, calls } = countingRed();
    const text = coreText(RED);
    text.render(say('record-answers.confirmed', { records: 100 }));
    text.render(say('record-answers.confirmed', { records: 100 }));
    assert.equal(calls.length, 1);
  });
});
