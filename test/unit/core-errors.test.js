'use strict';

// The core says what went wrong as a catalogue key with parameters (a parameter
// may itself be a message: a hint, a type's name); the glue says it in Node-RED's
// language through RED._, with the core's catalogue the build puts into every
// node's locale under "kumo".

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { queueNameFrom, QueueNameError } = require('../../nodes/lib/core/kumo/queue-name');
const { compileRules } = require('../../nodes/lib/core/kumo/queue-config');
const { CoreError, ERROR_CODES } = require('../../nodes/lib/core/text/errors');
const { coreText } = require('../../nodes/lib/common/node-text');
const { describeFailure } = require('../../nodes/lib/core/amqp/broker-connection');

const ROOT = path.resolve(__dirname, '..', '..');
const CORE_CATALOGUE = JSON.parse(fs.readFileSync(path.join(ROOT, 'src/core/text/messages.en-US.json'), 'utf8'));
const NODE_TYPES = fs.readdirSync(path.join(ROOT, 'src/nodes'));

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

/** A RED._ that knows a few keys of another language, filling __name__ as i18next does, and answers others with the key. */
function redSpeaking(words) {
  return {
    _: (key, vars = {}) =>
      Object.hasOwn(words, key) ? words[key].replace(/__(\w+)__/g, (m, name) => (name in vars ? vars[name] : m)) : key,
  };
}

const BAD_RULE = [{ match: {}, protocol: 'custom_lua', constructor: 'make.amqp', retry_interval: '5 parsecs' }];

describe('core errors carry what they say as a key and parameters', function () {
  it('a bad queue: its key, its parameters (the type named by a message of its own), its English and its code', function () {
    const err = thrown(() => queueNameFrom([]));
    assert.ok(err instanceof QueueNameError && err instanceof CoreError);
    assert.equal(err.key, 'queue-name.not-queue');
    assert.deepEqual(err.params, { type: { key: 'type.array', params: {} } });
    assert.equal(err.message, 'queue must be a queue name string or an object with a domain, got an array');
    assert.equal(err.code, ERROR_CODES.badInput);
  });

  it('a bad rule: the rule number wraps the duration error, whose hint is a message too', function () {
    const err = thrown(() => compileRules(BAD_RULE));
    assert.equal(err.key, 'queue-config.in-rule');
    assert.equal(err.params.number, 1);
    assert.equal(err.params.message.key, 'duration.unknown-unit');
    assert.equal(err.params.message.params.hint.key, 'duration.unit-hint');
    assert.match(err.message, /^rule 1: retry_interval "5 parsecs" has an unknown unit "parsecs"; use ms, s, m/);
  });
});

describe("the glue says the core's errors in Node-RED's language", function () {
  it('renders every level of a nested message with RED._, under the kumo namespace', function () {
    const RED = redSpeaking({
      'kumo.queue-config.in-rule': 'règle __number__ : __message__',
      'kumo.duration.unknown-unit': '__what__ __value__ : unité inconnue __unit__ ; __hint__',
      'kumo.duration.unit-hint': 'écrivez par exemple « 20 minutes »',
    });
    const err = thrown(() => compileRules(BAD_RULE));
    assert.equal(
      coreText(RED).render(err),
      'règle 1 : retry_interval "5 parsecs" : unité inconnue "parsecs" ; écrivez par exemple « 20 minutes »',
    );
  });

  it('uses the English of a key RED._ lacks, inside a translated sentence', function () {
    const RED = redSpeaking({ 'kumo.queue-name.not-queue': 'file invalide (__type__)' });
    assert.equal(coreText(RED).render(thrown(() => queueNameFrom([]))), 'file invalide (an array)');
  });

  it("a broker connection's reason (a status, an error's parameter) is a message too; the broker's own text passes as it is", function () {
    const RED = redSpeaking({ 'kumo.broker-connection.vhost-refused': 'le vhost « __vhost__ » est refusé' });
    const endpoint = { url: 'amqp://broker.example/mail%2Fevents', display: 'broker.example:5672' };
    const refused = describeFailure(new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), endpoint);
    assert.equal(refused.key, 'broker-connection.vhost-refused');
    assert.equal(coreText(RED).render(refused), 'le vhost « mail/events » est refusé');
    assert.equal(
      describeFailure(new Error('connect ECONNREFUSED 127.0.0.1:1'), endpoint),
      'connect ECONNREFUSED 127.0.0.1:1',
    );
  });

  it('hands Catch nodes a translated copy that keeps the class, name and code, and leaves the original English', function () {
    const RED = redSpeaking({ 'kumo.queue-name.empty': 'le nom de file est vide' });
    const original = thrown(() => queueNameFrom(''));
    const err = coreText(RED).error(original, ERROR_CODES.notConfigured);
    assert.notEqual(err, original, 'the original may be shared by many messages: it is not changed');
    assert.equal(err.message, 'le nom de file est vide');
    assert.ok(err instanceof QueueNameError);
    assert.equal(String(err), 'QueueNameError: le nom de file est vide');
    assert.equal(err.code, ERROR_CODES.badInput, 'a code the error has is kept');
    assert.equal(err.key, 'queue-name.empty');
    assert.equal(original.message, 'queue name is empty');
  });

  it('returns the same error when the words are the English (the test helper stubs RED._), giving a code to one without', function () {
    const RED = { _: (key) => key };
    const original = thrown(() => queueNameFrom(''));
    assert.equal(coreText(RED).error(original), original);
    const plain = coreText(RED).error(new Error('socket hang up'), ERROR_CODES.brokerUnavailable);
    assert.equal(plain.message, 'socket hang up');
    assert.equal(plain.code, ERROR_CODES.brokerUnavailable);
  });

  it("every built node catalogue holds the core's catalogue under kumo", function () {
    for (const type of NODE_TYPES) {
      const built = JSON.parse(
        fs.readFileSync(path.join(ROOT, 'nodes', type, 'locales/en-US', `${type}.json`), 'utf8'),
      );
      assert.ok(built[type], `${type}: its own words`);
      assert.deepEqual(built.kumo, CORE_CATALOGUE, `${type}: the core's words`);
    }
  });

  it("with Node-RED's own i18n and a node's built catalogue plus a translation, the error reads in that language", function () {
    // A child process: Node-RED's i18n is initialised once per process, with one language.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-i18n-'));
    const file = 'amqp-publish.json';
    fs.mkdirSync(path.join(dir, 'en-US'));
    fs.copyFileSync(path.join(ROOT, 'nodes/amqp-publish/locales/en-US', file), path.join(dir, 'en-US', file));
    fs.mkdirSync(path.join(dir, 'fr'));
    const french = { kumo: { 'queue-name': { 'not-queue': 'la file doit être un nom ou un objet, pas __type__' } } };
    fs.writeFileSync(path.join(dir, 'fr', file), JSON.stringify(french));
    const script = `
      const { i18n } = require('@node-red/util');
      const { coreText } = require(${JSON.stringify(path.join(ROOT, 'nodes/lib/common/node-text'))});
      const { queueNameFrom } = require(${JSON.stringify(path.join(ROOT, 'nodes/lib/core/kumo/queue-name'))});
      (async () => {
        await i18n.init({ lang: process.argv[1] });
        await i18n.registerMessageCatalog('pack/amqp-publish', ${JSON.stringify(dir)}, ${JSON.stringify(file)});
        const RED = { _: (key, vars) => i18n._('pack/amqp-publish:' + key, vars) };
        try { queueNameFrom([]); } catch (err) { process.stdout.write(coreText(RED).error(err).message); }
      })();`;
    const said = (lang) => execFileSync(process.execPath, ['-e', script, lang], { cwd: ROOT, encoding: 'utf8' });
    try {
      assert.equal(said('fr'), 'la file doit être un nom ou un objet, pas an array');
      assert.equal(said('en-US'), 'queue must be a queue name string or an object with a domain, got an array');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
