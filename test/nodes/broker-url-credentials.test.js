'use strict';
// A wrong password of any printable ASCII characters, %-escaped or typed as it is into
// the broker URL, against the real broker: the failure the broker node reports (its
// status, what publish and consume nodes fail messages with) is the same text whatever
// the password, so no part of it can show there. The connection is wired as the amqp
// broker node wires it: parseBrokerUrls, secretsOf, BrokerConnection.

const assert = require('node:assert/strict');
const fc = require('fast-check');
const { BrokerConnection } = require('../../nodes/lib/core/amqp/broker-connection');
const { parseBrokerUrls, secretsOf, redact } = require('../../nodes/lib/core/amqp/broker-url');
const { render } = require('../../nodes/lib/core/text/messages');
const { BROKER_URL } = require('../helpers/amqp');

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));
const host = new URL(BROKER_URL).host;

/** What the broker node says about a URL setting: its refusal, or the first failure of its connection. */
async function failureOf(setting) {
  const secrets = secretsOf(setting, {});
  let endpoints;
  try {
    endpoints = parseBrokerUrls(setting, 10);
  } catch (err) {
    return { refused: redact(err.message, secrets) };
  }
  const connection = new BrokerConnection({
    endpoints,
    credentials: {},
    secrets,
    connectionName: 'kumo-test odd password',
    connectTimeoutMs: 5000,
  });
  const failed = new Promise((resolve) => {
    connection.on('status', (status) => {
      if (status.error) resolve(status.error);
    });
  });
  connection.register(failed);
  try {
    return { failed: render(await failed) };
  } finally {
    await connection.close();
  }
}

describe('broker URL: a wrong password never shows in what the broker node reports', function () {
  this.timeout(120000);

  it('any printable password, %-escaped or typed as it is: the broker refuses it, reported in the same words', async function () {
    const reference = await failureOf(`amqp://guest:wrong-reference@${host}`);
    assert.match(reference.failed, /ACCESS.REFUSED/);
    assert.ok(reference.failed.includes(`amqp://${host}`), reference.failed);
    const refusedReference = await failureOf(`amqp://guest:wrong/reference@${host}`);
    assert.match(refusedReference.refused, /write \/ as %2F/);

    let dialled = 0;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: printable, minLength: 1 }), fc.boolean(), async (password, escaped) => {
        fc.pre(password !== 'guest');
        const userinfo = `guest:${escaped ? encodeURIComponent(password) : password}`;
        const got = await failureOf(`amqp://${userinfo}@${host}`);
        if (got.refused !== undefined) {
          assert.ok(!escaped && /[/?#]/.test(password), `${JSON.stringify(userinfo)} refused: ${got.refused}`);
          // A comma in the password cuts the setting in two: the refusal then names URL 2.
          assert.equal(got.refused.replace(/^broker url \d+/, 'broker url'), refusedReference.refused);
        } else {
          dialled++;
          assert.equal(got.failed, reference.failed);
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(dialled >= 20, `only ${dialled} of 60 passwords reached the broker`);
  });
});
