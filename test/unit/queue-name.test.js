'use strict';

const assert = require('node:assert/strict');
const { parseQueueName, queueNameFrom, QueueNameError } = require('../../nodes/lib/core/kumo/queue-name');

/** KumoMTA's QueueNameComponents::format: the name queueNameFrom gives a queue given as its parts. */
const formatQueueName = (parts) => queueNameFrom(parts).name;

// The 8 forms of reference/queues.md, with the components KumoMTA's
// QueueNameComponents::parse gives them (an empty tenant reads as null here).
const FORMS = [
  ['example.com', { domain: 'example.com', tenant: null, campaign: null, routing_domain: null }],
  ['acme@example.com', { domain: 'example.com', tenant: 'acme', campaign: null, routing_domain: null }],
  ['spring:@example.com', { domain: 'example.com', tenant: null, campaign: 'spring', routing_domain: null }],
  ['spring:acme@example.com', { domain: 'example.com', tenant: 'acme', campaign: 'spring', routing_domain: null }],
  [
    'example.com!relay.example.net',
    { domain: 'example.com', tenant: null, campaign: null, routing_domain: 'relay.example.net' },
  ],
  [
    'acme@example.com!relay.example.net',
    { domain: 'example.com', tenant: 'acme', campaign: null, routing_domain: 'relay.example.net' },
  ],
  [
    'spring:@example.com!relay.example.net',
    { domain: 'example.com', tenant: null, campaign: 'spring', routing_domain: 'relay.example.net' },
  ],
  [
    'spring:acme@example.com!relay.example.net',
    { domain: 'example.com', tenant: 'acme', campaign: 'spring', routing_domain: 'relay.example.net' },
  ],
];

function throwsQueueNameError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof QueueNameError, `expected QueueNameError, got ${err?.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('queue names: the 8 documented forms', function () {
  for (const [name, parts] of FORMS) {
    it(`parses ${name} into its components`, function () {
      assert.deepEqual(parseQueueName(name), { name, ...parts });
    });

    it(`formats the components of ${name} back to the same name`, function () {
      assert.equal(formatQueueName(parts), name);
      assert.equal(formatQueueName(parseQueueName(name)), name);
    });
  }
});

describe('queue names: domains KumoMTA accepts', function () {
  it('keeps a port on a domain, because a colon only separates a campaign before an @', function () {
    assert.deepEqual(parseQueueName('foo.com:2025'), {
      name: 'foo.com:2025',
      domain: 'foo.com:2025',
      tenant: null,
      campaign: null,
      routing_domain: null,
    });
    assert.equal(parseQueueName('foo.com!routing.com:2025').routing_domain, 'routing.com:2025');
  });

  it('accepts bracketed IP literals, IPv6 colons included', function () {
    assert.equal(parseQueueName('[10.0.0.1]').domain, '[10.0.0.1]');
    const v6 = parseQueueName('acme@[IPv6:2001:db8::1]');
    assert.equal(v6.tenant, 'acme');
    assert.equal(v6.campaign, null);
    assert.equal(v6.domain, '[IPv6:2001:db8::1]');
  });

  it('accepts hyphens, digits and the single-word queue "amqp"', function () {
    assert.equal(parseQueueName('mx-1.sub-domain.example').domain, 'mx-1.sub-domain.example');
    assert.equal(parseQueueName('amqp').domain, 'amqp');
  });

  it('splits the campaign at the first colon, leaving later colons in the tenant (as KumoMTA does)', function () {
    const q = parseQueueName('c:t:x@example.com');
    assert.equal(q.campaign, 'c');
    assert.equal(q.tenant, 't:x');
    assert.equal(formatQueueName(q), 'c:t:x@example.com');
  });
});

describe('queue names: invalid names are refused with a message naming them', function () {
  const cases = [
    ['', /queue name is empty/],
    ['acme@', /"acme@" has no domain after '@'/],
    ['@example.com', /"@example.com" has an empty tenant before '@'/],
    [':acme@example.com', /":acme@example.com" has an empty campaign before ':'/],
    ['!relay.example.net', /"!relay.example.net" has an empty domain/],
    ['example.com!', /"example.com!" has an empty routing domain after '!'/],
    ['a.com!b.net!c.org', /"a.com!b.net!c.org" has more than one '!'/],
    ['a@b@example.com', /"a@b@example.com" has more than one '@'/],
    ['acme @example.com', /"acme @example.com" contains whitespace or a control character at position 5/],
    ['example.com\n', /contains whitespace or a control character at position 12/],
    ['exam\u0000ple.com', /control character at position 5/],
  ];
  for (const [input, pattern] of cases) {
    it(`refuses ${JSON.stringify(input)}`, function () {
      throwsQueueNameError(() => parseQueueName(input), pattern);
    });
  }

  it('refuses a value that is not a string, saying what it was', function () {
    throwsQueueNameError(() => parseQueueName(42), /must be a string, got number/);
    throwsQueueNameError(() => parseQueueName(undefined), /must be a string, got undefined/);
  });
});

describe('queue names: formatting refuses parts that would not read back the same', function () {
  it('refuses a missing or empty domain', function () {
    throwsQueueNameError(() => formatQueueName({ tenant: 'acme' }), /domain is missing/);
    throwsQueueNameError(() => formatQueueName({ domain: '' }), /domain is missing/);
  });

  it('refuses separators inside a part', function () {
    throwsQueueNameError(() => formatQueueName({ domain: 'a@b.com' }), /domain "a@b.com" must not contain '@'/);
    throwsQueueNameError(() => formatQueueName({ domain: 'a.com!x' }), /domain "a.com!x" must not contain '!'/);
    throwsQueueNameError(
      () => formatQueueName({ domain: 'a.com', campaign: 'x:y' }),
      /campaign "x:y" must not contain ':'/,
    );
    throwsQueueNameError(
      () => formatQueueName({ domain: 'a.com', tenant: 'x:y' }),
      /tenant "x:y" must not contain ':'/,
    );
    throwsQueueNameError(
      () => formatQueueName({ domain: 'a.com', routing_domain: 'r!s' }),
      /routing_domain "r!s" must not contain '!'/,
    );
  });

  it('allows a colon in the tenant when a campaign comes first', function () {
    assert.equal(formatQueueName({ domain: 'a.com', campaign: 'c', tenant: 'x:y' }), 'c:x:y@a.com');
  });
});

describe('the queue of a message: a name or an object', function () {
  it('parses a queue name string', function () {
    assert.deepEqual(queueNameFrom('spring:acme@example.com'), {
      name: 'spring:acme@example.com',
      domain: 'example.com',
      tenant: 'acme',
      campaign: 'spring',
      routing_domain: null,
    });
  });

  it('builds the name from an object, normalising undefined and empty parts to null', function () {
    assert.deepEqual(queueNameFrom({ domain: 'example.com', tenant: '', campaign: 'spring' }), {
      name: 'spring:@example.com',
      domain: 'example.com',
      tenant: null,
      campaign: 'spring',
      routing_domain: null,
    });
    assert.deepEqual(queueNameFrom({ domain: 'amqp', tenant: null, routing_domain: 'relay.example.net' }), {
      name: 'amqp!relay.example.net',
      domain: 'amqp',
      tenant: null,
      campaign: null,
      routing_domain: 'relay.example.net',
    });
  });

  it('gives the same QueueName for an object as for its formatted name', function () {
    for (const [name, parts] of FORMS) {
      assert.deepEqual(queueNameFrom(parts), queueNameFrom(name));
    }
  });

  it('accepts the msg.queue a queue config node set, recomputing its name', function () {
    const first = queueNameFrom('spring:acme@example.com!relay.example.net');
    assert.deepEqual(queueNameFrom(first), first);
    assert.equal(queueNameFrom({ ...first, name: 'stale' }).name, 'spring:acme@example.com!relay.example.net');
  });

  it('explains a missing queue', function () {
    throwsQueueNameError(() => queueNameFrom(undefined), /queue is missing/);
  });

  it('explains wrong types', function () {
    throwsQueueNameError(() => queueNameFrom(null), /got null/);
    throwsQueueNameError(() => queueNameFrom(12), /got number/);
    throwsQueueNameError(() => queueNameFrom(['example.com']), /got an array/);
    throwsQueueNameError(() => queueNameFrom({ domain: 5 }), /domain must be a string, got number/);
    throwsQueueNameError(
      () => queueNameFrom({ domain: 'a.com', tenant: 7 }),
      /tenant must be a string or null, got number/,
    );
    throwsQueueNameError(
      () => queueNameFrom({ domain: 'a.com', campaign: {} }),
      /campaign must be a string or null, got object/,
    );
    throwsQueueNameError(
      () => queueNameFrom({ domain: 'a.com', routing_domain: true }),
      /routing_domain must be a string or null, got boolean/,
    );
  });

  it('refuses whitespace inside object parts', function () {
    throwsQueueNameError(
      () => queueNameFrom({ domain: 'a.com', tenant: 'ac me' }),
      /tenant "ac me" contains whitespace/,
    );
  });
});

describe('queue names: bounded length, checked before anything else reads the name', function () {
  const { QUEUE_NAME_MAX_OCTETS, QUEUE_PART_MAX_OCTETS } = require('../../nodes/lib/core/kumo/queue-name');
  const label = (n) => 'a'.repeat(n);

  function throwsBadInput(fn, pattern) {
    assert.throws(fn, (err) => {
      assert.ok(err instanceof QueueNameError, `expected QueueNameError, got ${err?.name}: ${err?.message}`);
      assert.equal(err.code, 'KUMO_BAD_INPUT');
      assert.match(err.message, pattern);
      return true;
    });
  }

  it('bounds a part at 255 octets, the longest DNS domain, and a whole name at four parts and their separators', function () {
    assert.equal(QUEUE_PART_MAX_OCTETS, 255);
    assert.equal(QUEUE_NAME_MAX_OCTETS, 4 * 255 + 3);
  });

  it('refuses a 10 MB queue name as bad input, before looking for whitespace in it', function () {
    // A space near the start: had the name been read for whitespace first, that would be the error.
    const name = `ten ant@${'x'.repeat(10 * 1024 * 1024)}`;
    throwsBadInput(
      () => parseQueueName(name),
      /^queue name "ten ant@x+…" is longer than 1023 octets \(UTF-8 bytes\), the most a queue name may have \(255 for each of its campaign, tenant, domain and routing domain\)$/,
    );
    throwsBadInput(() => queueNameFrom(name), /is longer than 1023 octets/);
  });

  it('refuses a 10 MB part of a queue object as bad input, naming the part', function () {
    const huge = `a b${'x'.repeat(10 * 1024 * 1024)}`;
    for (const field of ['tenant', 'campaign', 'routing_domain']) {
      throwsBadInput(
        () => queueNameFrom({ domain: 'example.com', [field]: huge }),
        new RegExp(`^queue ${field} "a bx+…" is longer than 255 octets \\(UTF-8 bytes\\)`),
      );
    }
    throwsBadInput(() => queueNameFrom({ domain: huge }), /^queue domain "a bx+…" is longer than 255 octets/);
  });

  it('accepts parts of exactly 255 octets, the longest name of all, and reads it back', function () {
    const longest = `${label(255)}:${label(255)}@${label(255)}!${label(255)}`;
    assert.equal(longest.length, QUEUE_NAME_MAX_OCTETS);
    const parsed = parseQueueName(longest);
    assert.deepEqual(
      [parsed.campaign, parsed.tenant, parsed.domain, parsed.routing_domain],
      [label(255), label(255), label(255), label(255)],
    );
    assert.equal(formatQueueName(parsed), longest);
  });

  it('refuses each part of a name string at 256 octets, naming it', function () {
    const cases = [
      [`${label(256)}.com`, 'domain'],
      [`${label(256)}@example.com`, 'tenant'],
      [`${label(256)}:@example.com`, 'campaign'],
      [`example.com!${label(256)}`, 'routing_domain'],
    ];
    for (const [name, field] of cases) {
      throwsBadInput(() => parseQueueName(name), new RegExp(`^queue ${field} "a{40}…" is longer than 255 octets`));
    }
  });

  it('counts octets, not characters: 128 "é" are 256 octets', function () {
    assert.equal(queueNameFrom({ domain: 'example.com', tenant: 'é'.repeat(127) }).tenant, 'é'.repeat(127));
    throwsBadInput(
      () => queueNameFrom({ domain: 'example.com', tenant: 'é'.repeat(128) }),
      /^queue tenant "é{40}…" is longer than 255 octets/,
    );
    // Four octets for a character outside the BMP (a surrogate pair in JavaScript).
    assert.equal(parseQueueName(`${'😀'.repeat(63)}abc@example.com`).tenant.length, 129);
    throwsBadInput(() => parseQueueName(`${'😀'.repeat(64)}@example.com`), /tenant .* is longer than 255 octets/);
  });
});
