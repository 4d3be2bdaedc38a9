'use strict';

const assert = require('node:assert/strict');
const {
  QUEUE_CONFIG_DEFAULTS,
  QueueConfigError,
  compileRules,
  selectQueueConfig,
  ruleConfig,
  constructorOf,
  timingsOf,
  makeQueueConfig,
} = require('../../nodes/lib/core/kumo/queue-config');
const { parseQueueName } = require('../../nodes/lib/core/kumo/queue-name');

const q = (name) => parseQueueName(name);

function throwsQueueConfigError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof QueueConfigError, `expected QueueConfigError, got ${err?.name}: ${err?.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

// The seed document's handler: domain 'amqp' goes to the custom protocol make.amqp.
const SEED_RULE = { match: { domain: { op: 'eq', value: 'amqp' } }, protocol: 'custom_lua', constructor: 'make.amqp' };

describe('queue config: KumoMTA defaults', function () {
  it("writes down KumoMTA's defaults once", function () {
    assert.deepEqual(
      { ...QUEUE_CONFIG_DEFAULTS },
      { retry_interval: '20 minutes', max_retry_interval: null, max_age: '7 days' },
    );
    assert.ok(Object.isFrozen(QUEUE_CONFIG_DEFAULTS));
  });

  it('gives a queue no rule matches kumo.make_queue_config {}: SMTP with the defaults', function () {
    const rules = compileRules([SEED_RULE]);
    assert.deepEqual(selectQueueConfig(rules, q('gmail.com')), {
      config: { protocol: { smtp: {} }, retry_interval: '20 minutes', max_retry_interval: null, max_age: '7 days' },
      timings: { retryIntervalSec: 1200, maxRetryIntervalSec: null, maxAgeSec: 604800 },
      rule: null,
    });
  });

  it("works out each rule's timings once, in seconds", function () {
    const rules = compileRules([
      { ...SEED_RULE, retry_interval: '1h 30m', max_retry_interval: 7200, max_age: '2 days' },
    ]);
    assert.deepEqual(selectQueueConfig(rules, q('amqp')).timings, {
      retryIntervalSec: 5400,
      maxRetryIntervalSec: 7200,
      maxAgeSec: 172800,
    });
  });

  it('gives the default when there are no rules at all', function () {
    assert.equal(selectQueueConfig(compileRules([]), q('amqp')).rule, null);
    assert.equal(selectQueueConfig(compileRules(undefined), q('amqp')).rule, null);
  });
});

describe("queue config: the seed document's routing", function () {
  it('sends queue amqp to custom_lua make.amqp with the default timings', function () {
    const { config, rule } = selectQueueConfig(compileRules([SEED_RULE]), q('amqp'));
    assert.equal(rule, 1);
    assert.deepEqual(config, {
      protocol: { custom_lua: { constructor: 'make.amqp' } },
      retry_interval: '20 minutes',
      max_retry_interval: null,
      max_age: '7 days',
    });
    assert.equal(constructorOf(config), 'make.amqp');
  });
});

describe('queue config: rules are ordered and the first match wins', function () {
  const rules = compileRules([
    {
      match: { tenant: { op: 'eq', value: 'acme' } },
      protocol: 'custom_lua',
      constructor: 'make.acme',
      retry_interval: '1m',
    },
    { match: { domain: { op: 'regex', value: 'example' } }, protocol: 'maildir', maildir_path: '/var/mail/example' },
    { match: {}, protocol: 'custom_lua', constructor: 'make.catchall' },
    { match: { domain: { op: 'eq', value: 'never.invalid' } }, protocol: 'smtp' },
  ]);

  it('takes rule 1 when it matches, even if later rules match too', function () {
    const { config, rule } = selectQueueConfig(rules, q('acme@example.com'));
    assert.equal(rule, 1);
    assert.equal(constructorOf(config), 'make.acme');
    assert.equal(config.retry_interval, '1m');
  });

  it('falls through to the next matching rule', function () {
    const { config, rule } = selectQueueConfig(rules, q('other@example.com'));
    assert.equal(rule, 2);
    assert.deepEqual(config.protocol, { maildir_path: '/var/mail/example' });
    assert.equal(constructorOf(config), null);
  });

  it('lets a rule with no match fields catch everything after it', function () {
    assert.equal(selectQueueConfig(rules, q('gmail.com')).rule, 3);
    assert.equal(selectQueueConfig(rules, q('never.invalid')).rule, 3);
  });
});

describe('queue config: matching each component with any, eq and regex', function () {
  it('requires every given field to match', function () {
    const rules = compileRules([
      {
        match: { domain: { op: 'eq', value: 'example.com' }, campaign: { op: 'eq', value: 'spring' } },
        protocol: 'smtp',
      },
    ]);
    assert.equal(selectQueueConfig(rules, q('spring:acme@example.com')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('autumn:acme@example.com')).rule, null);
    assert.equal(selectQueueConfig(rules, q('spring:acme@example.org')).rule, null);
  });

  it('matches the routing domain', function () {
    const rules = compileRules([
      { match: { routing_domain: { op: 'eq', value: 'relay.example.net' } }, protocol: 'smtp' },
    ]);
    assert.equal(selectQueueConfig(rules, q('example.com!relay.example.net')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('relay.example.net')).rule, null);
  });

  it('treats op any like a missing field', function () {
    const rules = compileRules([{ match: { domain: { op: 'any' }, tenant: { op: 'any' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(rules, q('example.com')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('c:t@example.com!r.net')).rule, 1);
  });

  it('compares eq exactly (case-sensitive, no substring)', function () {
    const rules = compileRules([{ match: { domain: { op: 'eq', value: 'amqp' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(rules, q('AMQP')).rule, null);
    assert.equal(selectQueueConfig(rules, q('amqp.example')).rule, null);
  });

  it('searches with regex unanchored, and anchors when the expression says so', function () {
    const unanchored = compileRules([{ match: { domain: { op: 'regex', value: 'mail' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(unanchored, q('gmail.com')).rule, 1);
    assert.equal(selectQueueConfig(unanchored, q('yahoo.com')).rule, null);
    const anchored = compileRules([{ match: { domain: { op: 'regex', value: '^mail\\.' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(anchored, q('gmail.com')).rule, null);
    assert.equal(selectQueueConfig(anchored, q('mail.example.com')).rule, 1);
  });

  it('gives the same answer on every call (no regex state between messages)', function () {
    const rules = compileRules([{ match: { domain: { op: 'regex', value: 'example' } }, protocol: 'smtp' }]);
    for (let i = 0; i < 5; i++) assert.equal(selectQueueConfig(rules, q('example.com')).rule, 1);
  });
});

describe('queue config: a component the queue name lacks', function () {
  it('matches any', function () {
    const rules = compileRules([{ match: { tenant: { op: 'any' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(rules, q('example.com')).rule, 1);
  });

  it('matches eq with the empty string, as KumoMTA passes "" for campaign:@domain', function () {
    const rules = compileRules([{ match: { tenant: { op: 'eq', value: '' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(rules, q('example.com')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('spring:@example.com')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('acme@example.com')).rule, null);
  });

  it('does not match eq with a value', function () {
    const rules = compileRules([{ match: { campaign: { op: 'eq', value: 'spring' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(rules, q('acme@example.com')).rule, null);
  });

  it('is the empty string to a regex, so ^$ means "none" and ordinary patterns do not match', function () {
    const none = compileRules([{ match: { routing_domain: { op: 'regex', value: '^$' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(none, q('example.com')).rule, 1);
    assert.equal(selectQueueConfig(none, q('example.com!r.net')).rule, null);
    const some = compileRules([{ match: { tenant: { op: 'regex', value: 'ac' } }, protocol: 'smtp' }]);
    assert.equal(selectQueueConfig(some, q('example.com')).rule, null);
  });
});

describe('queue config: each message gets its own config object', function () {
  it('is not changed for the next message when a flow edits msg.queueConfig', function () {
    const rules = compileRules([SEED_RULE]);
    const first = selectQueueConfig(rules, q('amqp')).config;
    first.max_age = '1m';
    first.protocol.custom_lua.constructor = 'make.other';
    const second = selectQueueConfig(rules, q('amqp')).config;
    assert.equal(second.max_age, '7 days');
    assert.equal(constructorOf(second), 'make.amqp');
    assert.notEqual(first, second);
  });

  it('gives fresh default configs too', function () {
    const rules = compileRules([]);
    const a = selectQueueConfig(rules, q('x.com')).config;
    a.protocol.smtp.extra = true;
    assert.deepEqual(selectQueueConfig(rules, q('x.com')).config.protocol, { smtp: {} });
  });
});

describe('queue config: timings as the user wrote them', function () {
  it("keeps duration strings as written and writes numbers in KumoMTA's format", function () {
    const rules = compileRules([
      {
        match: {},
        protocol: 'custom_lua',
        constructor: 'make.amqp',
        retry_interval: ' 5 seconds ',
        max_retry_interval: 60,
        max_age: 45,
      },
    ]);
    const { config } = selectQueueConfig(rules, q('amqp'));
    assert.equal(config.retry_interval, '5 seconds');
    assert.equal(config.max_retry_interval, '1m');
    assert.equal(config.max_age, '45s');
    assert.deepEqual(timingsOf(config), { retryIntervalSec: 5, maxRetryIntervalSec: 60, maxAgeSec: 45 });
  });

  it('uses the defaults for blank timing fields, as an editor stores them', function () {
    const rules = compileRules([
      { match: {}, protocol: 'smtp', retry_interval: '', max_retry_interval: null, max_age: '' },
    ]);
    assert.deepEqual(timingsOf(selectQueueConfig(rules, q('x.com')).config), {
      retryIntervalSec: 1200,
      maxRetryIntervalSec: null,
      maxAgeSec: 604800,
    });
  });

  it("resolves a config missing its timings with KumoMTA's defaults", function () {
    assert.deepEqual(timingsOf({ protocol: { smtp: {} } }), {
      retryIntervalSec: 1200,
      maxRetryIntervalSec: null,
      maxAgeSec: 604800,
    });
  });

  it('reports a bad duration in a hand-made config', function () {
    throwsQueueConfigError(
      () => timingsOf({ protocol: { smtp: {} }, retry_interval: 'often', max_age: '7 days' }),
      /queue config: retry_interval "often"/,
    );
  });
});

describe('queue config: rules are checked when deployed, naming the rule and field', function () {
  it('refuses a list that is not a list', function () {
    throwsQueueConfigError(() => compileRules({}), /rules must be a list, got object/);
    throwsQueueConfigError(() => compileRules('rule'), /rules must be a list, got string/);
  });

  it('refuses a rule that is not an object', function () {
    throwsQueueConfigError(() => compileRules([SEED_RULE, 5]), /^rule 2: must be an object, got number$/);
  });

  it('refuses a bad regular expression', function () {
    throwsQueueConfigError(
      () => compileRules([SEED_RULE, { match: { domain: { op: 'regex', value: '(' } }, protocol: 'smtp' }]),
      /^rule 2: domain regular expression "\(" is invalid: /,
    );
  });

  it('refuses an empty regular expression', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: { tenant: { op: 'regex', value: '' } }, protocol: 'smtp' }]),
      /^rule 1: tenant regular expression is empty/,
    );
  });

  it('refuses eq without a string value', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: { campaign: { op: 'eq' } }, protocol: 'smtp' }]),
      /^rule 1: campaign "equals" needs a string value, got undefined/,
    );
  });

  it('refuses an unknown operator and an unknown match field', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: { domain: { op: 'startsWith', value: 'a' } }, protocol: 'smtp' }]),
      /^rule 1: domain has an unknown match operator "startsWith"/,
    );
    throwsQueueConfigError(
      () => compileRules([{ match: { domian: { op: 'eq', value: 'a' } }, protocol: 'smtp' }]),
      /^rule 1: cannot match on "domian"/,
    );
    throwsQueueConfigError(
      () => compileRules([{ match: { domain: 'amqp' }, protocol: 'smtp' }]),
      /^rule 1: domain match must be an object/,
    );
  });

  it('refuses an unknown protocol', function () {
    throwsQueueConfigError(
      () => compileRules([SEED_RULE, SEED_RULE, { match: {}, protocol: 'http' }]),
      /^rule 3: unknown protocol "http" \(expected custom_lua, smtp or maildir\)/,
    );
    throwsQueueConfigError(() => compileRules([{ match: {} }]), /^rule 1: unknown protocol undefined/);
  });

  it('refuses custom_lua without a constructor', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: {}, protocol: 'custom_lua' }]),
      /^rule 1: custom_lua needs a constructor/,
    );
    throwsQueueConfigError(
      () => compileRules([{ match: {}, protocol: 'custom_lua', constructor: '  ' }]),
      /^rule 1: custom_lua needs a constructor/,
    );
  });

  it('refuses a constructor named after a predefined KumoMTA event', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: {}, protocol: 'custom_lua', constructor: 'get_queue_config' }]),
      /^rule 1: "get_queue_config" is a predefined KumoMTA event; choose another name such as make\.amqp$/,
    );
  });

  it('refuses maildir without a path', function () {
    throwsQueueConfigError(
      () => compileRules([{ match: {}, protocol: 'maildir' }]),
      /^rule 1: maildir needs a non-empty maildir_path/,
    );
    throwsQueueConfigError(
      () => compileRules([{ match: {}, protocol: 'maildir', maildir_path: ' ' }]),
      /^rule 1: maildir needs a non-empty maildir_path/,
    );
  });

  it('refuses bad durations, naming the setting', function () {
    throwsQueueConfigError(
      () => compileRules([SEED_RULE, { ...SEED_RULE, retry_interval: '20 parsecs' }]),
      /^rule 2: retry_interval "20 parsecs" has an unknown unit/,
    );
    throwsQueueConfigError(
      () => compileRules([{ ...SEED_RULE, max_retry_interval: -5 }]),
      /^rule 1: max_retry_interval must not be negative/,
    );
    throwsQueueConfigError(() => compileRules([{ ...SEED_RULE, max_age: 'forever' }]), /^rule 1: max_age "forever"/);
  });

  it('refuses a retry_interval of 0, which would retry in a tight loop', function () {
    throwsQueueConfigError(
      () => compileRules([{ ...SEED_RULE, retry_interval: 0 }]),
      /^rule 1: retry_interval must be more than 0/,
    );
  });
});

describe('queue config: kumo.make_queue_config {} for configs a flow builds itself', function () {
  it('fills in the defaults', function () {
    assert.deepEqual(makeQueueConfig({}), {
      protocol: { smtp: {} },
      retry_interval: '20 minutes',
      max_retry_interval: null,
      max_age: '7 days',
    });
    assert.deepEqual(makeQueueConfig(), makeQueueConfig({}));
  });

  it("accepts KumoMTA's protocol shapes", function () {
    assert.deepEqual(makeQueueConfig({ protocol: { custom_lua: { constructor: 'make.amqp' } } }).protocol, {
      custom_lua: { constructor: 'make.amqp' },
    });
    assert.deepEqual(makeQueueConfig({ protocol: { maildir_path: '/tmp/mail' } }).protocol, {
      maildir_path: '/tmp/mail',
    });
    assert.deepEqual(makeQueueConfig({ protocol: { smtp: { mx_list: [] } } }).protocol, { smtp: {} });
  });

  it('keeps the given timings', function () {
    const c = makeQueueConfig({ retry_interval: '1 minute', max_retry_interval: '20 minutes', max_age: 3600 });
    assert.equal(c.retry_interval, '1 minute');
    assert.equal(c.max_retry_interval, '20 minutes');
    assert.equal(c.max_age, '1h');
  });

  it('refuses malformed configs', function () {
    throwsQueueConfigError(() => makeQueueConfig('amqp'), /queue config must be an object, got string/);
    throwsQueueConfigError(() => makeQueueConfig({ protocol: 'custom_lua' }), /protocol must be an object/);
    throwsQueueConfigError(
      () => makeQueueConfig({ protocol: { custom_lua: {} } }),
      /queue config: event name must be a string such as make\.amqp, got undefined/,
    );
    throwsQueueConfigError(
      () => makeQueueConfig({ protocol: { maildir_path: '' } }),
      /maildir_path must be a non-empty path/,
    );
    throwsQueueConfigError(
      () => makeQueueConfig({ protocol: { http: {} } }),
      /protocol must have one of custom_lua, smtp or maildir_path/,
    );
    throwsQueueConfigError(() => makeQueueConfig({ max_age: 'later' }), /queue config: max_age "later"/);
  });
});

describe('queue config: the constructor of a config', function () {
  it('is the custom_lua constructor, or null for other protocols and odd input', function () {
    assert.equal(constructorOf({ protocol: { custom_lua: { constructor: 'make.amqp' } } }), 'make.amqp');
    assert.equal(constructorOf({ protocol: { smtp: {} } }), null);
    assert.equal(constructorOf({ protocol: { custom_lua: {} } }), null);
    assert.equal(constructorOf({}), null);
  });
});

describe('queue config: a regular expression that could block Node-RED is refused at deploy', function () {
  const { ruleProblems } = require('../../nodes/lib/core/kumo/queue-config');
  const fs = require('node:fs');
  const path = require('node:path');
  const tenantRule = (value) => ({ match: { tenant: { op: 'regex', value } }, protocol: 'smtp' });
  const compileTenant = (value) => compileRules([SEED_RULE, tenantRule(value)]);

  it('refuses ^([a-z0-9]+-?)+$ with the reason and a way out', function () {
    throwsQueueConfigError(
      () => compileTenant('^([a-z0-9]+-?)+$'),
      /^rule 2: tenant regular expression "\^\(\[a-z0-9\]\+-\?\)\+\$" repeats something that itself repeats \(as in \(a\+\)\+, \(\[a-z\]\+-\?\)\+ or \(\.\*a\)\{3\}\), which can take exponential time on a name that does not match: write it with one repetition, e\.g\. \^\[a-z0-9-\]\+\$$/,
    );
  });

  it('refuses a repetition inside a repetition', function () {
    for (const pattern of [
      '(a+)+',
      '^(a+)+$',
      '(\\w+\\s?)+',
      '(.*a){12}',
      '(x+x+)+y',
      '^(?:a*)*$',
      '([a-z]+\\.)+com$',
    ]) {
      throwsQueueConfigError(() => compileTenant(pattern), /repeats something that itself repeats/);
    }
  });

  it('refuses repeated alternatives that can begin with the same character', function () {
    for (const pattern of ['(a|a)*', '(a|aa)+', '^(a|b|ab)+$', '^(?:[a-z]|x)+$', '^(\\d|1)*$']) {
      throwsQueueConfigError(
        () => compileTenant(pattern),
        /repeats alternatives that can begin with the same character \(as in \(a\|aa\)\+\)/,
      );
    }
  });

  it('refuses more than three unbounded repetitions in a row that can take the same characters', function () {
    throwsQueueConfigError(
      () => compileTenant('.*a.*a.*b$'),
      /^rule 2: tenant regular expression "\.\*a\.\*a\.\*b\$" has 4 unbounded repetitions in a row that can match the same characters .*: at most 3; start it with \^/,
    );
    for (const pattern of ['^a*a*a*a*b', '^.*a.*b.*c.*d$', '(?=.*b.*c.*d)', 'x(\\d+\\d+|y)\\d+']) {
      throwsQueueConfigError(() => compileTenant(pattern), /unbounded repetitions in a row/);
    }
  });

  it('refuses more than 25 repetitions, and a lookbehind the check cannot read', function () {
    throwsQueueConfigError(() => compileTenant('a?'.repeat(26)), /has more than 25 repetitions/);
    throwsQueueConfigError(
      () => compileTenant('(?<=x)a'),
      /^rule 2: tenant regular expression "\(\?<=x\)a" uses syntax the backtracking check cannot read/,
    );
  });

  it('accepts the patterns of the examples, the docs and everyday rules', function () {
    const everyday = [
      '^amqp$',
      'example\\.com$',
      '^(gmail|yahoo)\\.com$',
      '^newsletter',
      '^vip',
      '^$',
      '^(|acme)$',
      'mail',
      '^mail\\.',
      '.*\\.com$',
      '(^|\\.)example\\.com$',
      '^acme-(eu|us)$',
      '^[a-z0-9.-]+$',
      '^(com|net|org)+$',
      '^(?!test).*$',
      'foo.*bar.*baz',
      '^.*a.*b.*c$',
      '\\d+\\d+',
    ];
    for (const pattern of everyday) {
      assert.doesNotThrow(() => compileTenant(pattern), pattern);
    }
    const rules = compileRules([tenantRule('^(gmail|yahoo)\\.com$')]);
    assert.equal(selectQueueConfig(rules, q('gmail.com@example.com')).rule, 1);
    assert.equal(selectQueueConfig(rules, q('hotmail.com@example.com')).rule, null);
  });

  it('deploys the rules of every example flow', function () {
    const dir = path.join(__dirname, '..', '..', 'examples');
    let checked = 0;
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.json'))) {
      const flow = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
      for (const node of flow.filter((n) => n.type === 'kumo-queue-config')) {
        assert.doesNotThrow(() => compileRules(node.rules ?? []), `${file}: ${node.name || node.id}`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `expected the examples' queue config nodes, found ${checked}`);
  });

  it('is what the editor marks on the field, in the same words', function () {
    const problems = ruleProblems({
      match: { domain: { op: 'regex', value: '^amqp$' }, tenant: { op: 'regex', value: '^([a-z0-9]+-?)+$' } },
      protocol: 'smtp',
    });
    assert.deepEqual(
      problems.map((p) => p.field),
      ['tenant'],
    );
    assert.equal(problems[0].said.key, 'queue-config.regex-nested-repetition');
  });
});

describe("a message's queue config and the rule it was copied from", () => {
  it('each message gets its own copy; the rule behind it stays as it was, whatever the flow writes into the copy', () => {
    const rules = compileRules([SEED_RULE]);
    const selected = selectQueueConfig(rules, q('amqp'));
    const first = selected.config;
    const second = selectQueueConfig(rules, q('amqp')).config;
    assert.notEqual(first, second);
    const rule = ruleConfig(rules, selected.rule);
    assert.ok(Object.isFrozen(rule) && Object.isFrozen(rule.protocol.custom_lua));
    assert.equal(ruleConfig(rules, 1), rule, 'one rule, one frozen config');
    assert.deepEqual(rule, first);
    first.retry_interval = '1s';
    first.protocol.custom_lua.constructor = 'make.other';
    assert.equal(rule.retry_interval, '20 minutes');
    assert.equal(rule.protocol.custom_lua.constructor, 'make.amqp');
    const other = selectQueueConfig(rules, q('example.com'));
    assert.equal(ruleConfig(rules, other.rule).protocol.smtp !== undefined, true);
  });
});
