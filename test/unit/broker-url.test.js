'use strict';

const assert = require('node:assert/strict');
const { parseBrokerUrls, stripUserinfo, secretsOf, redact, BrokerUrlError } = require('../../dist/core/broker-url');

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

  it('finds the password of every URL in a cluster list', function () {
    assert.deepEqual(secretsOf('amqp://a:one@h1,amqp://b:two@h2', { password: 'cred' }), [
      'cred',
      'one',
      'one',
      'two',
      'two',
    ]);
  });

  it('keeps a password with a bad %-escape in its raw form', function () {
    assert.deepEqual(secretsOf('amqp://kumo:pa%zz@rabbit', {}), ['pa%zz']);
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
  const { takeUserinfo } = require('../../dist/core/broker-url');

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
