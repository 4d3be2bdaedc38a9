'use strict';

const assert = require('node:assert/strict');
const {
  reconnectDelayMs,
  isConfigurationFailure,
  DEFAULT_BACKOFF,
} = require('../../nodes/lib/core/amqp/broker-connection');

const BACKOFF = { initialDelayMs: 100, maxDelayMs: 10000, jitter: 0.2 };
const MIDDLE = () => 0.5; // jitter of exactly zero
const LOWEST = () => 0;
const HIGHEST = () => 0.999999; // Math.random() is always < 1

describe('reconnect: the delay doubles from initialDelayMs', function () {
  it('waits initialDelayMs before the first retry', function () {
    assert.equal(reconnectDelayMs(1, BACKOFF, MIDDLE), 100);
  });

  it('doubles with each failed attempt', function () {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => reconnectDelayMs(n, BACKOFF, MIDDLE));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200]);
  });

  it('treats attempt 0 like attempt 1', function () {
    assert.equal(reconnectDelayMs(0, BACKOFF, MIDDLE), 100);
  });

  it('starts at 200 ms by default', function () {
    assert.equal(reconnectDelayMs(1, DEFAULT_BACKOFF, MIDDLE), 200);
  });
});

describe('reconnect: the delay never exceeds maxDelayMs', function () {
  it('stays at or under the cap, jitter included, however many attempts failed', function () {
    for (const attempt of [7, 8, 10, 20, 100, 2000]) {
      for (const random of [LOWEST, MIDDLE, HIGHEST]) {
        const delay = reconnectDelayMs(attempt, BACKOFF, random);
        assert.ok(delay <= BACKOFF.maxDelayMs, `attempt ${attempt}: ${delay} ms > ${BACKOFF.maxDelayMs} ms`);
        assert.ok(Number.isFinite(delay) && delay > 0, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it('reaches close to the cap with the highest jitter', function () {
    assert.equal(reconnectDelayMs(50, BACKOFF, HIGHEST), 10000);
  });

  it('does not put every late attempt on exactly maxDelayMs', function () {
    // base is capped at max/(1+jitter), so without jitter it sits below the cap
    assert.equal(reconnectDelayMs(50, BACKOFF, MIDDLE), Math.round(10000 / 1.2));
    assert.equal(reconnectDelayMs(50, BACKOFF, LOWEST), Math.round((10000 / 1.2) * 0.8));
  });
});

describe('reconnect: jitter spreads the delay by ±jitter', function () {
  it('gives base × (1 - jitter) for random() = 0', function () {
    assert.equal(reconnectDelayMs(3, BACKOFF, LOWEST), 320);
  });

  it('approaches base × (1 + jitter) as random() → 1', function () {
    assert.equal(reconnectDelayMs(3, BACKOFF, HIGHEST), 480);
  });

  it('stays inside the band for any random()', function () {
    for (let i = 0; i <= 100; i++) {
      const r = Math.min(i / 100, 0.999999);
      const delay = reconnectDelayMs(4, BACKOFF, () => r);
      assert.ok(delay >= 640 && delay <= 960, `random()=${r}: ${delay}`);
    }
  });

  it('uses Math.random when no random is given', function () {
    const delay = reconnectDelayMs(2, BACKOFF);
    assert.ok(delay >= 160 && delay <= 240, String(delay));
  });
});

describe('broker failures that need a setting changed, not another attempt', function () {
  const configuration = [
    'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"',
    "ACCESS_REFUSED - access to vhost 'kumo' refused for user 'guest'",
    'Connection closed: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost kumo not found"',
    'the broker refused to open virtual host "kumo" (530 NOT_ALLOWED: it does not exist, or the user may not use it)',
    'Expected amqp: or amqps: as the protocol; got http:',
    'self-signed certificate in certificate chain',
    'unable to verify the first certificate',
    'write EPROTO 00000000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number',
    'TLS: certificate verify failed (SELF_SIGNED_CERT_IN_CHAIN)',
  ];
  for (const message of configuration) {
    it(`counts "${message.slice(0, 60)}…" as a configuration failure`, function () {
      assert.equal(isConfigurationFailure(new Error(message)), true);
    });
  }

  const network = [
    'connect ECONNREFUSED 127.0.0.1:5672',
    'getaddrinfo ENOTFOUND rabbit.invalid',
    'Socket closed abruptly during opening handshake',
    'Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason \'shutdown\'"',
    'Heartbeat timeout',
    // digits of an address or a port are not reply codes
    'connect ECONNREFUSED 10.0.0.1:15303',
    'getaddrinfo ENOTFOUND rabbit-5300.internal',
    'connect ECONNREFUSED 127.0.0.1:403',
  ];
  for (const message of network) {
    it(`retries after "${message.slice(0, 60)}"`, function () {
      assert.equal(isConfigurationFailure(new Error(message)), false);
    });
  }
});
