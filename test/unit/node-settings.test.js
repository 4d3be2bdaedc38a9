'use strict';
// Each node's settings rules (src/nodes/<type>/settings.ts): what a blank or missing setting
// becomes, the bounds, whole numbers where they are required, numbers typed as strings; and
// the editor's form refuses exactly what the runtime would: each node's editor script, as the
// build ships it, is run against a stub of Node-RED's editor API and its validators are asked
// about the same values as the parsers.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const NODES = path.resolve(__dirname, '..', '..', 'nodes');
const settingsOf = (type) => require(path.join(NODES, 'lib', 'nodes', type, 'settings'));

const consume = settingsOf('amqp-consume');
const publish = settingsOf('amqp-publish');
const broker = settingsOf('amqp-broker');
const protocol = settingsOf('kumo-custom-protocol');
const logHook = settingsOf('kumo-log-hook');
const ack = settingsOf('amqp-ack');

/** Each [value, expected] of a table, named by the value as written. */
function expectAll(parse, table) {
  for (const [value, expected] of table)
    assert.deepEqual(parse(value), expected, `${parse.name || 'parser'}(${JSON.stringify(value) ?? 'undefined'})`);
}

/** A form left blank, a flow saved without the setting, or null in a hand-written flow: the default. */
/** Blank in the form, missing from the flow, or only spaces (typed by mistake): the default, never 0. */
function defaults(parse, fallback) {
  expectAll(parse, [
    ['', fallback],
    [undefined, fallback],
    [null, fallback],
    [' ', fallback],
    [' \t ', fallback],
  ]);
}

describe("each node's settings rules", () => {
  describe('amqp consume', () => {
    it('prefetch: a whole number from 1 to 65535 (an AMQP short), 100 when blank', () => {
      defaults(consume.prefetchOf, 100);
      assert.equal(consume.PREFETCH_MAX, 65535);
      expectAll(consume.prefetchOf, [
        [1, 1],
        ['1', 1],
        [65535, 65535],
        ['65535', 65535],
        [65536, null],
        ['65536', null],
        [0, null],
        ['0', null],
        [-1, null],
        [1.5, null],
        ['1.5', null],
        [' 20 ', 20],
        ['soon', null],
        [Number.NaN, null],
        [Number.POSITIVE_INFINITY, null],
      ]);
    });

    it('held at most: seconds, 0 (no limit) or more, fractions too, 300 when blank', () => {
      defaults(consume.unackedTimeoutOf, 300);
      expectAll(consume.unackedTimeoutOf, [
        [0, 0],
        ['0', 0],
        ['0.5', 0.5],
        [86400, 86400],
        ['-1', null],
        [-0.1, null],
        ['soon', null],
        [Number.POSITIVE_INFINITY, null],
      ]);
    });

    it('acknowledge, payload and what a held message becomes: one of their choices, the default when unset', () => {
      expectAll(consume.ackModeOf, [
        ['', 'manual'],
        [undefined, 'manual'],
        ['manual', 'manual'],
        ['auto', 'auto'],
        ['Auto', null],
        ['toString', null],
      ]);
      expectAll(consume.outputOf, [
        ['', 'auto'],
        [undefined, 'auto'],
        ['auto', 'auto'],
        ['buffer', 'buffer'],
        ['string', 'string'],
        ['json', 'json'],
        ['text', null],
      ]);
      expectAll(consume.unackedActionOf, [
        ['', 'requeue'],
        [undefined, 'requeue'],
        ['requeue', 'requeue'],
        ['requeue-failed', 'requeue-failed'],
        ['reject', 'reject'],
        ['ack', null],
      ]);
    });
  });

  describe('amqp publish', () => {
    it('confirm timeout: seconds above 0, at most a day, 30 when blank; past a day it is too long', () => {
      defaults(publish.confirmTimeoutOf, 30);
      assert.equal(publish.CONFIRM_TIMEOUT_MAX_S, 86400);
      expectAll(publish.confirmTimeoutOf, [
        [0.5, 0.5],
        ['0.5', 0.5],
        ['86400', 86400],
        [86400, 86400],
        [86401, 'too-long'],
        ['86400.5', 'too-long'],
        [0, 'invalid'],
        ['0', 'invalid'],
        ['-5', 'invalid'],
        ['soon', 'invalid'],
        [Number.POSITIVE_INFINITY, 'invalid'],
      ]);
    });

    it('max waiting: its whole part, 1 or more (0 would refuse every message), 10000 when blank', () => {
      defaults(publish.maxWaitingOf, 10000);
      expectAll(publish.maxWaitingOf, [
        [1, 1],
        ['1', 1],
        ['2.5', 2],
        [1e9, 1e9],
        [0.5, null],
        ['0.5', null],
        [0, null],
        ['-1', null],
        ['many', null],
        [Number.POSITIVE_INFINITY, null],
      ]);
    });

    it('routing key source, returned, nack and array payload: one of their choices', () => {
      expectAll(publish.routingKeyTypeOf, [
        ['', 'str'],
        [undefined, 'str'],
        ...publish.ROUTING_KEY_TYPES.map((type) => [type, type]),
        ['num', null],
      ]);
      expectAll(publish.returnedAsOf, [
        ['', 'transient'],
        [undefined, 'transient'],
        ['transient', 'transient'],
        ['permanent', 'permanent'],
        ['delivered', 'delivered'],
        ['maybe', null],
        ['toString', null],
      ]);
      // Missing in a flow saved before the setting existed: as 0.1.0 behaved. Blank is not a choice.
      expectAll(publish.nackedAsOf, [
        [undefined, 'permanent'],
        ['permanent', 'permanent'],
        ['transient', 'transient'],
        ['', null],
        ['sometimes', null],
      ]);
      expectAll(publish.arrayPayloadOf, [
        [undefined, 'json'],
        ['json', 'json'],
        ['elements', 'elements'],
        ['', null],
        ['each', null],
      ]);
    });
  });

  describe('amqp broker', () => {
    it('heartbeat: whole seconds, 0 (off) to 65535 (an AMQP short), 60 when blank', () => {
      defaults(broker.heartbeatOf, 60);
      assert.equal(broker.HEARTBEAT_MAX, 65535);
      expectAll(broker.heartbeatOf, [
        [0, 0],
        ['0', 0],
        ['30', 30],
        [600, 600],
        [65535, 65535],
        ['65536', null],
        ['1.5', null],
        ['-1', null],
        ['soon', null],
      ]);
    });
  });

  describe('custom protocol', () => {
    it('timeout and max queued size: numbers above 0, fractions too; blank: 60 s and 256 MiB', () => {
      defaults(protocol.timeoutOf, 60);
      defaults(protocol.maxQueuedMBOf, 256);
      assert.equal(protocol.MAX_QUEUED_MB_DEFAULT, 256);
      for (const parse of [protocol.timeoutOf, protocol.maxQueuedMBOf])
        expectAll(parse, [
          ['0.5', 0.5],
          [120, 120],
          ['0', null],
          [-1, null],
          ['soon', null],
          [Number.POSITIVE_INFINITY, null],
        ]);
    });

    it('max in flight and max queued: whole numbers, 1 or more; blank: 128 and 10000', () => {
      defaults(protocol.maxInFlightOf, 128);
      defaults(protocol.maxQueuedOf, 10000);
      for (const parse of [protocol.maxInFlightOf, protocol.maxQueuedOf])
        expectAll(parse, [
          [1, 1],
          ['1', 1],
          ['500', 500],
          [0, null],
          ['1.5', null],
          ['-2', null],
          ['lots', null],
        ]);
    });
  });

  describe('log hook in', () => {
    it('max body and body timeout: numbers above 0; max records a whole number; blank: 5 MiB, 10 s, 10000', () => {
      defaults(logHook.maxBodyOf, 5);
      defaults(logHook.bodyTimeoutOf, 10);
      defaults(logHook.maxRecordsOf, 10000);
      for (const parse of [logHook.maxBodyOf, logHook.bodyTimeoutOf])
        expectAll(parse, [
          ['0.5', 0.5],
          [64, 64],
          ['0', null],
          ['-1', null],
          ['big', null],
        ]);
      expectAll(logHook.maxRecordsOf, [
        [1, 1],
        ['100', 100],
        ['1.5', null],
        [0, null],
      ]);
    });

    it('answer within: seconds from 1 to 3600, 50 when blank', () => {
      defaults(logHook.deadlineOf, 50);
      assert.deepEqual([logHook.DEADLINE_MIN_S, logHook.DEADLINE_MAX_S], [1, 3600]);
      expectAll(logHook.deadlineOf, [
        [1, 1],
        ['1', 1],
        ['1.5', 1.5],
        [3600, 3600],
        ['3600', 3600],
        [3601, null],
        ['3600.5', null],
        ['0.5', null],
        [0, null],
        ['soon', null],
      ]);
    });

    it('secret header: a header name, trimmed, X-Kumo-Secret when blank; records: each or request', () => {
      defaults(logHook.secretHeaderOf, 'X-Kumo-Secret');
      expectAll(logHook.secretHeaderOf, [
        ['   ', 'X-Kumo-Secret'],
        ['X-Hook-Key', 'X-Hook-Key'],
        [' X-Hook-Key ', 'X-Hook-Key'],
        ['X Kumo', null],
        ['X_Kumo', null],
        ['a'.repeat(100), 'a'.repeat(100)],
        ['a'.repeat(101), null],
      ]);
      expectAll(logHook.recordsOutputOf, [
        [undefined, 'each'],
        ['each', 'each'],
        ['request', 'request'],
        ['', null],
        ['all', null],
      ]);
    });
  });

  describe('amqp ack', () => {
    it('action: one of the four, ack when unset', () => {
      expectAll(ack.actionOf, [
        ['', 'ack'],
        [undefined, 'ack'],
        ['ack', 'ack'],
        ['requeue', 'requeue'],
        ['requeue-failed', 'requeue-failed'],
        ['reject', 'reject'],
        ['nack', null],
        ['toString', null],
      ]);
    });
  });
});

// --- The editor's validators, as the build ships them ---------------------------------------

/** A key's text as the stub's RED._ gives it: the key itself, so a test can name the words it expects. */
const wordsOf = (type, key) => `@kumo-flows/node-red-kumo-amqp/${type}:${type}.${key}`;

/** The definition the node's editor script registers, run against a stub of the editor's API. */
function editorDefinition(type) {
  const html = fs.readFileSync(path.join(NODES, type, `${type}.html`), 'utf8');
  const scripts = [...html.matchAll(/<script type="text\/javascript">\n([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1, `${type}.html has one editor script`);
  const registered = new Map();
  const RED = {
    _: (key) => key,
    nodes: { registerType: (name, definition) => registered.set(name, definition), eachNode: () => {} },
    events: { on: () => {} },
  };
  // No dialog is open: a validator reads the node's saved values (editor-red.ts currentValue).
  const $ = () => ({ length: 0 });
  // kumoSidebar: the broker's script adds the sidebar tab only once; the stub has no sidebar.
  const browser = { TextEncoder, URL };
  vm.runInNewContext(scripts[0][1], { window: { RED, kumoSidebar: true }, RED, $, ...browser });
  assert.ok(registered.has(type), `${type}'s editor script registers it`);
  return registered.get(type);
}

/** What the editor's validator of `field` says about `value`: true, or the words it refuses it with. */
function validate(definition, field, value, node = {}) {
  const property = definition.defaults[field];
  assert.equal(typeof property.validate, 'function', `${field} has a validator`);
  return property.validate.call({ ...node, [field]: value }, value, {});
}

/** Values a form or a flow file may hold for a number setting. */
const NUMBERS = [
  '',
  undefined,
  null,
  ' ',
  '0',
  0,
  '1',
  1,
  '0.5',
  '1.5',
  1.5,
  '-1',
  '2',
  ' 7 ',
  '1e2',
  '0x10',
  '100',
  '255',
  '3600',
  '3601',
  '65535',
  '65536',
  '86400',
  '86401',
  '10000',
  'soon',
  'Infinity',
];

/** For each value: the editor accepts it exactly when the runtime's parser does, and refuses it with `key`. */
function agree(type, definition, field, accepts, key, values) {
  for (const value of values) {
    const said = validate(definition, field, value);
    const shown = `${type} ${field} ${JSON.stringify(value) ?? 'undefined'}`;
    if (accepts(value)) assert.equal(said, true, `${shown}: the runtime takes it, the editor refuses it (${said})`);
    else assert.equal(said, wordsOf(type, key), `${shown}: the runtime refuses it, the editor says ${said}`);
  }
}

const valid = (parse) => (value) => parse(value) !== null;

describe("each node's editor refuses exactly what its runtime refuses, with its own words", () => {
  it('amqp consume', () => {
    const definition = editorDefinition('amqp-consume');
    agree('amqp-consume', definition, 'prefetch', valid(consume.prefetchOf), 'errors.prefetch', NUMBERS);
    agree(
      'amqp-consume',
      definition,
      'unackedTimeout',
      valid(consume.unackedTimeoutOf),
      'errors.unacked-timeout',
      NUMBERS,
    );
    const choices = ['', undefined, 'manual', 'auto', 'json', 'buffer', 'string', 'requeue', 'reject', 'nope'];
    agree('amqp-consume', definition, 'ackMode', valid(consume.ackModeOf), 'errors.ack-mode', choices);
    agree('amqp-consume', definition, 'output', valid(consume.outputOf), 'errors.output', choices);
    agree('amqp-consume', definition, 'unackedAction', valid(consume.unackedActionOf), 'errors.unacked-action', [
      ...choices,
      'requeue-failed',
    ]);
  });

  it('amqp publish', () => {
    const definition = editorDefinition('amqp-publish');
    agree(
      'amqp-publish',
      definition,
      'confirmTimeout',
      (value) => typeof publish.confirmTimeoutOf(value) === 'number',
      'errors.confirm-timeout',
      NUMBERS,
    );
    agree('amqp-publish', definition, 'maxWaiting', valid(publish.maxWaitingOf), 'errors.max-waiting', NUMBERS);
    const choices = ['', undefined, 'transient', 'permanent', 'delivered', 'json', 'elements', 'nope'];
    agree('amqp-publish', definition, 'returnedAs', valid(publish.returnedAsOf), 'errors.returned-as', choices);
    agree('amqp-publish', definition, 'nackedAs', valid(publish.nackedAsOf), 'errors.nacked-as', choices);
    agree(
      'amqp-publish',
      definition,
      'arrayPayload',
      valid(publish.arrayPayloadOf),
      'errors.array-payload-choice',
      choices,
    );
  });

  it('amqp broker', () => {
    const definition = editorDefinition('amqp-broker');
    agree('amqp-broker', definition, 'heartbeat', valid(broker.heartbeatOf), 'errors.heartbeat', NUMBERS);
  });

  it('custom protocol', () => {
    const type = 'kumo-custom-protocol';
    const definition = editorDefinition(type);
    agree(type, definition, 'timeout', valid(protocol.timeoutOf), 'errors.timeout', NUMBERS);
    agree(type, definition, 'maxInFlight', valid(protocol.maxInFlightOf), 'errors.max-in-flight', NUMBERS);
    agree(type, definition, 'maxQueued', valid(protocol.maxQueuedOf), 'errors.max-queued', NUMBERS);
    agree(type, definition, 'maxQueuedMB', valid(protocol.maxQueuedMBOf), 'errors.max-queued-mb', NUMBERS);
  });

  it('log hook in', () => {
    const type = 'kumo-log-hook';
    const definition = editorDefinition(type);
    agree(type, definition, 'maxBody', valid(logHook.maxBodyOf), 'errors.max-body', NUMBERS);
    agree(type, definition, 'maxRecords', valid(logHook.maxRecordsOf), 'errors.max-records', NUMBERS);
    agree(type, definition, 'deadline', valid(logHook.deadlineOf), 'errors.deadline', NUMBERS);
    agree(type, definition, 'bodyTimeout', valid(logHook.bodyTimeoutOf), 'errors.body-timeout', NUMBERS);
    const headers = ['', undefined, '  ', 'X-Kumo-Secret', ' X-Hook ', 'X Kumo', 'X_Kumo', 'a'.repeat(101)];
    agree(type, definition, 'secretHeader', valid(logHook.secretHeaderOf), 'errors.secret-header', headers);
    const outputs = ['', undefined, 'each', 'request', 'all'];
    agree(type, definition, 'output', valid(logHook.recordsOutputOf), 'errors.output', outputs);
  });

  it('amqp ack', () => {
    const definition = editorDefinition('amqp-ack');
    const actions = ['', undefined, 'ack', 'requeue', 'requeue-failed', 'reject', 'nack', 'toString'];
    agree('amqp-ack', definition, 'action', valid(ack.actionOf), 'errors.action', actions);
  });
});
