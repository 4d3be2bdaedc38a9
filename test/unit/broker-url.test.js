'use strict';

const assert = require('node:assert/strict');
const {
  parseBrokerUrls,
  stripUserinfo,
  secretsOf,
  redact,
  BrokerUrlError,
} = require('../../nodes/lib/core/amqp/broker-url');

function throwsBrokerUrlError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof BrokerUrlError, `expected BrokerUrlError, got ${err?.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('broker url: the default is amqp://localhost', function () {
  for (const [label, setting] of [
    ['undefined', undefined],
    ['null', null],
    ['an empty string', ''],
    ['blanks', '   '],
  ]) {
    it(`connects to amqp://localhost when the setting is ${label}`, function () {
      assert.deepEqual(parseBrokerUrls(setting), [{ url: 'amqp://localhost', display: 'amqp://localhost' }]);
    });
  }

  it('refuses a setting that is not a string', function () {
    throwsBrokerUrlError(() => parseBrokerUrls(5672), /broker url must be a string such as amqp:\/\/localhost/);
    throwsBrokerUrlError(() => parseBrokerUrls({ url: 'amqp://h' }), /must be a string/);
  });
});

describe('broker url: a comma-separated list is a cluster, tried in turn', function () {
  it('keeps the order of the list and trims blanks around entries', function () {
    const endpoints = parseBrokerUrls(' amqp://rabbit-1 , amqp://rabbit-2:5673 ,amqps://rabbit-3 ');
    assert.deepEqual(
      endpoints.map((e) => e.url),
      ['amqp://rabbit-1', 'amqp://rabbit-2:5673', 'amqps://rabbit-3'],
    );
  });

  it('refuses an empty entry', function () {
    throwsBrokerUrlError(
      () => parseBrokerUrls('amqp://a,,amqp://b'),
      /broker url list has an empty entry; separate URLs with single commas/,
    );
    throwsBrokerUrlError(() => parseBrokerUrls('amqp://a,'), /empty entry/);
  });

  it('names the position of a bad entry in a list', function () {
    throwsBrokerUrlError(
      () => parseBrokerUrls('amqp://a,http://b'),
      /^broker url 2 must start with amqp:\/\/ or amqps:\/\/, not http:\/\/$/,
    );
  });
});

describe('broker url: TLS, vhost and port', function () {
  it('accepts amqps:// for TLS', function () {
    assert.deepEqual(parseBrokerUrls('amqps://rabbit.example.net:5671'), [
      { url: 'amqps://rabbit.example.net:5671', display: 'amqps://rabbit.example.net:5671' },
    ]);
  });

  it('keeps the vhost in the path, %-escaped as written', function () {
    const [endpoint] = parseBrokerUrls('amqp://rabbit/kumo%2Fprod');
    assert.equal(endpoint.url, 'amqp://rabbit/kumo%2Fprod');
    assert.equal(new URL(endpoint.url).pathname, '/kumo%2Fprod');
  });

  it('refuses a vhost with a bad %-escape, which would fail on every dial', function () {
    throwsBrokerUrlError(
      () => parseBrokerUrls('amqp://rabbit/%zz'),
      /broker url has an invalid %-escape in its vhost "%zz" \(write \/ in a vhost name as %2F\)/,
    );
  });

  it('refuses port 0 and a port out of range', function () {
    throwsBrokerUrlError(() => parseBrokerUrls('amqp://rabbit:0'), /^broker url has an invalid port$/);
    throwsBrokerUrlError(() => parseBrokerUrls('amqp://rabbit:99999'), /is not a valid URL/);
  });
});

describe('broker url: the heartbeat goes on the URL, not on its display form', function () {
  it('adds heartbeat=<seconds> to the URL amqplib dials', function () {
    const [endpoint] = parseBrokerUrls('amqp://rabbit/vh', 30);
    assert.equal(endpoint.url, 'amqp://rabbit/vh?heartbeat=30');
    assert.equal(endpoint.display, 'amqp://rabbit/vh');
  });

  it('leaves a heartbeat the user wrote in the URL alone', function () {
    const [endpoint] = parseBrokerUrls('amqp://rabbit?heartbeat=5', 30);
    assert.equal(new URL(endpoint.url).searchParams.getAll('heartbeat').join(), '5');
  });

  it('adds no heartbeat when none is set', function () {
    assert.equal(parseBrokerUrls('amqp://rabbit')[0].url, 'amqp://rabbit');
  });

  it('adds it to every URL of a cluster', function () {
    const urls = parseBrokerUrls('amqp://a,amqp://b', 10).map((e) => e.url);
    assert.deepEqual(urls, ['amqp://a?heartbeat=10', 'amqp://b?heartbeat=10']);
  });
});

describe('broker url: userinfo never reaches the display form', function () {
  it('keeps user:password on the URL it dials but strips it from display', function () {
    const [endpoint] = parseBrokerUrls('amqp://kumo:s%40cret@rabbit:5672/vh', 60);
    assert.equal(endpoint.url, 'amqp://kumo:s%40cret@rabbit:5672/vh?heartbeat=60');
    assert.equal(endpoint.display, 'amqp://rabbit:5672/vh');
  });

  it('strips userinfo from the URL quoted in an invalid-URL error', function () {
    assert.throws(
      () => parseBrokerUrls('amqp://kumo:hunter2@bad host'),
      (err) => {
        assert.ok(err instanceof BrokerUrlError);
        assert.equal(
          err.message,
          'broker url "amqp://bad host" is not a valid URL (expected amqp://host[:port][/vhost])',
        );
        assert.doesNotMatch(err.message, /hunter2|kumo/);
        return true;
      },
    );
  });
});

describe('broker url: what is not a broker URL', function () {
  it('refuses another scheme, naming it', function () {
    throwsBrokerUrlError(
      () => parseBrokerUrls('http://rabbit'),
      /^broker url must start with amqp:\/\/ or amqps:\/\/, not http:\/\/$/,
    );
  });

  it('refuses text that is not a URL', function () {
    throwsBrokerUrlError(
      () => parseBrokerUrls('rabbit'),
      /^broker url "rabbit" is not a valid URL \(expected amqp:\/\/host\[:port\]\[\/vhost\]\)$/,
    );
  });

  it('refuses a URL with no host', function () {
    throwsBrokerUrlError(() => parseBrokerUrls('amqp://'), /^broker url has no host name$/);
    throwsBrokerUrlError(() => parseBrokerUrls('amqp:///vhost'), /no host name/);
  });
});

describe('broker url: stripUserinfo', function () {
  it('removes user:password@ from every URL in a text', function () {
    assert.equal(
      stripUserinfo('dial amqp://u:p@a:5672/vh failed, then amqps://other@b'),
      'dial amqp://a:5672/vh failed, then amqps://b',
    );
  });

  it('leaves text without userinfo unchanged', function () {
    assert.equal(stripUserinfo('amqp://rabbit/vh and an@email.example'), 'amqp://rabbit/vh and an@email.example');
  });
});

describe('broker url: secretsOf lists what a message must never show', function () {
  it('includes the credentials password', function () {
    assert.deepEqual(secretsOf('amqp://rabbit', { username: 'kumo', password: 'hunter2' }), ['hunter2']);
  });

  it('includes a URL userinfo password both raw and %-decoded', function () {
    assert.deepEqual(secretsOf('amqp://kumo:s%40cret@rabbit', {}), ['s%40cret', 's@cret']);
  });

  it('finds the password of every URL in a cluster list, each once', function () {
    assert.deepEqual(secretsOf('amqp://a:one@h1,amqp://b:two@h2', { password: 'cred' }), ['cred', 'one', 'two']);
  });

  it('keeps a password with a bad %-escape in its raw form, and as amqplib is handed it', function () {
    assert.deepEqual(secretsOf('amqp://kumo:pa%zz@rabbit', {}), ['pa%zz', 'pa%25zz']);
  });

  it('takes the whole password when it holds an @ left unescaped, never the part before it', function () {
    const secrets = secretsOf('amqp://kumo:p@ss@rabbit', {});
    assert.ok(secrets.includes('p@ss'), JSON.stringify(secrets));
    assert.ok(!secrets.includes('p'), JSON.stringify(secrets));
  });

  it('knows the password of a URL it refuses (a / left unescaped), and of one cut at a comma', function () {
    assert.ok(secretsOf('amqp://kumo:pa/ss@rabbit', {}).includes('pa/ss'));
    assert.ok(secretsOf('amqp://kumo:pa/s,s@rabbit', {}).includes('pa/s,s'));
  });

  it('has nothing to hide when there is no password', function () {
    assert.deepEqual(secretsOf('amqp://kumo@rabbit', { username: 'kumo', password: '' }), []);
    assert.deepEqual(secretsOf(undefined, {}), []);
  });
});

describe('broker url: redact', function () {
  it('replaces every occurrence of every secret with ***', function () {
    assert.equal(
      redact('login hunter2 refused; retried with hunter2 and s@cret', ['hunter2', 's@cret']),
      'login *** refused; retried with *** and ***',
    );
  });

  it('strips userinfo from URLs as well', function () {
    assert.equal(redact('cannot reach amqp://kumo:hunter2@rabbit/vh', ['hunter2']), 'cannot reach amqp://rabbit/vh');
  });

  it('leaves a text without secrets as it is', function () {
    assert.equal(
      redact('connection closed: 320 CONNECTION_FORCED', ['hunter2']),
      'connection closed: 320 CONNECTION_FORCED',
    );
  });
});

describe('broker URLs: a password typed into the URL setting', function () {
  const { takeUserinfo } = require('../../nodes/lib/core/amqp/broker-url');

  it("is taken out of every URL, with the first URL's user and password decoded", function () {
    assert.deepEqual(takeUserinfo('amqp://alice:s%40cret@a:5672/v, amqp://bob:x@b'), {
      url: 'amqp://a:5672/v, amqp://b',
      username: 'alice',
      password: 's@cret',
    });
  });

  it('leaves a URL without one as it is', function () {
    assert.deepEqual(takeUserinfo('amqp://a'), { url: 'amqp://a', username: null, password: null });
    assert.deepEqual(takeUserinfo('amqps://user@a'), { url: 'amqps://a', username: 'user', password: null });
  });
});

// What amqplib makes of the URL it is handed (lib/connect.js, credentialsFromUrl): the WHATWG
// parse of the URL, then unescape() of its user name and password.
function asAmqplibReadsIt(url) {
  const parts = new URL(url);
  return { username: unescape(parts.username), password: unescape(parts.password) };
}

const fc = require('fast-check');
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));
const printableText = (constraints = {}) => fc.string({ unit: printable, ...constraints });

describe('broker url: a user name and password hold any character when %-escaped', function () {
  it('gives amqplib back every printable ASCII user name and password, in each URL of a cluster, amqps too', function () {
    fc.assert(
      fc.property(printableText(), printableText(), (username, password) => {
        const userinfo = `${encodeURIComponent(username)}:${encodeURIComponent(password)}@`;
        const setting = `amqp://${userinfo}rabbit-1:5672/kumo, amqps://${userinfo}rabbit-2`;
        const endpoints = parseBrokerUrls(setting, 30);
        assert.deepEqual(
          endpoints.map((e) => e.display),
          ['amqp://rabbit-1:5672/kumo', 'amqps://rabbit-2'],
        );
        for (const endpoint of endpoints) {
          const read = asAmqplibReadsIt(endpoint.url);
          // amqplib cannot tell an empty user name from none: both give ''.
          assert.deepEqual(read, { username, password });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('words an error about the setting the same whatever the password is', function () {
    const failing = [
      (userinfo) => `amqp://${userinfo}rabbit:0/vh`,
      (userinfo) => `http://${userinfo}rabbit`,
      (userinfo) => `amqp://${userinfo}rabbit/%zz`,
      (userinfo) => `amqp://${userinfo}bad host`,
      (userinfo) => `amqp://rabbit-1,amqp://${userinfo}`,
    ];
    const errorOf = (setting) => {
      try {
        parseBrokerUrls(setting);
      } catch (err) {
        return { message: err.message, entry: err.entry, reason: err.reason };
      }
      assert.fail(`${setting} was accepted`);
    };
    fc.assert(
      fc.property(printableText({ minLength: 1 }), fc.constantFrom(...failing), (password, template) => {
        const reference = errorOf(template('kumo:x@'));
        assert.deepEqual(errorOf(template(`kumo:${encodeURIComponent(password)}@`)), reference);
      }),
      { numRuns: 300 },
    );
  });
});

describe('broker url: a password typed as it is, reserved characters unescaped', function () {
  it('reads @ and : in a password: the user info ends at the last @ before the host', function () {
    const [endpoint] = parseBrokerUrls('amqp://kumo:p@ss:w@rd@rabbit/vh');
    assert.deepEqual(asAmqplibReadsIt(endpoint.url), { username: 'kumo', password: 'p@ss:w@rd' });
    assert.equal(endpoint.display, 'amqp://rabbit/vh');
  });

  it('reads a comma in a password as part of it, not as the end of a URL of the list', function () {
    const endpoints = parseBrokerUrls('amqp://kumo:a,b@rabbit-1, amqps://rabbit-2');
    assert.deepEqual(
      endpoints.map((e) => e.display),
      ['amqp://rabbit-1', 'amqps://rabbit-2'],
    );
    assert.equal(asAmqplibReadsIt(endpoints[0].url).password, 'a,b');
  });

  it('decodes %-escapes and keeps a % that starts none', function () {
    const read = (setting) => asAmqplibReadsIt(parseBrokerUrls(setting)[0].url).password;
    assert.equal(read('amqp://kumo:%41%2F%25@rabbit'), 'A/%');
    assert.equal(read('amqp://kumo:100%@rabbit'), '100%');
    assert.equal(read('amqp://kumo:50%zz@rabbit'), '50%zz');
  });

  for (const [char, escaped] of [
    ['/', '%2F'],
    ['?', '%3F'],
    ['#', '%23'],
  ]) {
    it(`refuses a ${char} left in a password, saying to write it as ${escaped}, without quoting the password`, function () {
      for (const [setting, where] of [
        [`amqp://kumo:Xq${char}zz9@rabbit/vh`, /^broker url has an @/],
        [`amqp://rabbit-1, amqps://kumo:Xq${char}zz9@rabbit-2`, /^broker url 2 has an @/],
        // Cut at a comma: the first half of the password is an entry of its own.
        [`amqp://kumo:Xq${char}z,z9@rabbit`, /^broker url 2 has an @/],
      ]) {
        assert.throws(
          () => parseBrokerUrls(setting),
          (err) => {
            assert.ok(err instanceof BrokerUrlError);
            assert.equal(err.reason, 'userinfo-unescaped');
            assert.match(err.message, where);
            assert.ok(err.message.includes(`${char} as ${escaped}`), err.message);
            assert.ok(err.message.includes('@ as %40'), err.message);
            assert.doesNotMatch(`${err.message} ${err.entry}`, /Xq|z9/);
            return true;
          },
        );
      }
    });
  }

  it('refuses an @ in a vhost, saying to write it as %40', function () {
    throwsBrokerUrlError(() => parseBrokerUrls('amqp://rabbit/team@kumo'), /in a vhost write @ as %40/);
  });

  it('refuses a password with a # and two commas as a password to escape, not as an empty URL', function () {
    // Two commas in a password split the setting into entries with an empty one between them.
    assert.throws(
      () => parseBrokerUrls('amqp://kumo:#,,@rabbit/vh'),
      (err) => err.reason === 'userinfo-unescaped' && !err.message.includes('#,,'),
    );
  });

  it('gives amqplib any printable password it can read, and refuses the rest without quoting it', function () {
    fc.assert(
      fc.property(
        printableText().filter((p) => !p.includes('%')),
        (password) => {
          let endpoint;
          try {
            [endpoint] = parseBrokerUrls(`amqp://kumo:${password}@rabbit/vh`);
          } catch (err) {
            assert.ok(/[/?#]/.test(password), `${JSON.stringify(password)} refused: ${err.message}`);
            assert.equal(err.reason, 'userinfo-unescaped');
            assert.equal(err.message.includes(password) && password.length >= 4 ? password : '', '');
            return;
          }
          assert.ok(!/[/?#]/.test(password), `${JSON.stringify(password)} accepted`);
          assert.deepEqual(asAmqplibReadsIt(endpoint.url), { username: 'kumo', password });
          assert.equal(endpoint.display, 'amqp://rabbit/vh');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('broker url: redact masks whole secrets', function () {
  it('leaves a secret of 1 to 3 characters unmasked, where it would garble every word holding it', function () {
    assert.equal(redact('connection reset by peer', ['p', 'e', 'con']), 'connection reset by peer');
  });

  it('masks a secret holding an @ whole', function () {
    assert.equal(redact('login p@ss refused', secretsOf('amqp://kumo:p@ss@rabbit', {})), 'login *** refused');
  });

  it('masks the longest secret first, so no part of a longer one is left', function () {
    assert.equal(redact('sent s%40cret', ['cret', 's@cret', 's%40cret']), 'sent ***');
  });

  it('strips user info holding a / from a URL in a text', function () {
    assert.equal(
      stripUserinfo('dial amqp://kumo:pa/ss@rabbit:5672 failed, then amqps://kumo:p@ss@rabbit-2'),
      'dial amqp://rabbit:5672 failed, then amqps://rabbit-2',
    );
  });
});

describe('broker URLs: a password typed into the URL setting, reserved characters unescaped', function () {
  const { takeUserinfo, withoutUserinfo } = require('../../nodes/lib/core/amqp/broker-url');

  it('is moved out whole when it holds a /, an @ or a comma', function () {
    assert.deepEqual(takeUserinfo('amqp://kumo:pa/ss@rabbit/vh'), {
      url: 'amqp://rabbit/vh',
      username: 'kumo',
      password: 'pa/ss',
    });
    assert.deepEqual(takeUserinfo('amqps://kumo:p@ss@rabbit'), {
      url: 'amqps://rabbit',
      username: 'kumo',
      password: 'p@ss',
    });
    assert.deepEqual(takeUserinfo('amqp://kumo:a,b@rabbit-1, amqp://rabbit-2'), {
      url: 'amqp://rabbit-1, amqp://rabbit-2',
      username: 'kumo',
      password: 'a,b',
    });
  });

  it('never shows it in the label', function () {
    assert.equal(
      withoutUserinfo('amqp://kumo:pa/ss@rabbit-1, amqps://kumo:p@s,s@rabbit-2'),
      'amqp://rabbit-1, amqps://rabbit-2',
    );
  });

  it('moves any printable password out and leaves a URL that parses', function () {
    fc.assert(
      fc.property(
        printableText().filter((p) => !p.includes('%')),
        (password) => {
          const setting = `amqp://kumo:${password}@rabbit-1/vh, amqps://rabbit-2`;
          const taken = takeUserinfo(setting);
          assert.deepEqual(taken, { url: 'amqp://rabbit-1/vh, amqps://rabbit-2', username: 'kumo', password });
          assert.equal(parseBrokerUrls(taken.url).length, 2);
        },
      ),
      { numRuns: 300 },
    );
  });
});
