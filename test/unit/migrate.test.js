'use strict';
// Versioned settings: every node's definition as 0.1.0 saved it (the examples it shipped with,
// test/fixtures/definitions-0.1.0.json) comes up to date, what was added since behaves as
// before, a second run changes nothing, and a version this pack does not know is refused.

const assert = require('node:assert/strict');
const { migrate, currentVersion, savedVersion } = require('../../nodes/lib/common/migrate');
const OLD = require('../fixtures/definitions-0.1.0.json');

const TYPES = [
  'amqp-ack',
  'amqp-broker',
  'amqp-consume',
  'amqp-publish',
  'kumo-custom-protocol',
  'kumo-log-hook',
  'kumo-queue-config',
  'kumo-reject',
];
const settingsOf = (type) => require(`../../nodes/lib/nodes/${type}/settings`);

describe('versioned settings', () => {
  it('every node type has steps up to a version of 1 or more, and its type name', () => {
    for (const type of TYPES) {
      const { MIGRATIONS, VERSION, TYPE } = settingsOf(type);
      assert.equal(TYPE, type);
      assert.ok(VERSION >= 1, type);
      assert.equal(VERSION, currentVersion(MIGRATIONS));
      // Steps in order, one version each.
      for (const [i, step] of MIGRATIONS.entries()) assert.equal(step.version, i + 1, `${type} step ${i}`);
    }
  });

  describe('a definition of 0.1.0 comes up to date', () => {
    const expected = {
      'amqp-publish': { nackedAs: 'permanent', declareArguments: '', arrayPayload: 'json' },
      'kumo-custom-protocol': {
        maxQueued: '',
        maxQueuedMB: '',
        spool: true,
        batchSize: '',
        minBatchSize: '',
        maxBatchLatency: '',
      },
      'kumo-queue-config': {},
      'kumo-reject': {},
      'amqp-broker': {},
    };
    it('the fixture holds one definition of each type 0.1.0 had', () => {
      assert.deepEqual(OLD.map((def) => def.type).sort(), Object.keys(expected).sort());
    });
    for (const def of OLD) {
      it(`${def.type}: the settings added since are filled as they behaved, the rest is kept`, () => {
        const { MIGRATIONS, VERSION } = settingsOf(def.type);
        assert.equal(savedVersion(def), 0);
        const migrated = migrate(def.type, def, MIGRATIONS);
        assert.deepEqual(migrated, { ...def, ...expected[def.type], version: VERSION });
        // The definition given is not changed; a second run changes nothing.
        assert.equal(def.version, undefined);
        assert.deepEqual(migrate(def.type, migrated, MIGRATIONS), migrated);
      });
    }
  });

  it('log hook in saved at version 1 sends each record as its own msg, as it did', () => {
    const { MIGRATIONS, VERSION } = settingsOf('kumo-log-hook');
    const saved = { type: 'kumo-log-hook', version: 1, path: '/kumomta/log', queue: 'webhook', queueType: 'str' };
    assert.deepEqual(migrate('kumo-log-hook', saved, MIGRATIONS), { ...saved, output: 'each', version: VERSION });
    const chosen = { ...saved, version: VERSION, output: 'request' };
    assert.deepEqual(migrate('kumo-log-hook', chosen, MIGRATIONS), chosen);
  });

  it('a step keeps what a definition already has (Node-RED fills defaults on import)', () => {
    const { MIGRATIONS } = settingsOf('kumo-custom-protocol');
    const pasted = { type: 'kumo-custom-protocol', eventName: 'make.x', spool: false, maxQueued: 5 };
    const migrated = migrate('kumo-custom-protocol', pasted, MIGRATIONS);
    assert.equal(migrated.spool, false);
    assert.equal(migrated.maxQueued, 5);
  });

  for (const version of [2, 99, '7', 'abc', -1, 1.5]) {
    it(`a version this pack does not know (${JSON.stringify(version)}) is refused with a clear error`, () => {
      const { MIGRATIONS } = settingsOf('amqp-publish');
      assert.throws(
        () => migrate('amqp-publish', { type: 'amqp-publish', version }, MIGRATIONS),
        (err) =>
          err.code === 'KUMO_NOT_CONFIGURED' &&
          err.key === 'settings.unknown-version' &&
          err.message.includes('amqp-publish') &&
          err.message.includes(String(version)) &&
          /update the pack/.test(err.message),
      );
    });
  }
});
