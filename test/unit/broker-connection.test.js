'use strict';

const assert = require('node:assert/strict');
const { isConfigurationFailure } = require('../../nodes/lib/core/amqp/broker-connection');

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
