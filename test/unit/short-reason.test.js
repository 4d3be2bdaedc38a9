'use strict';
// A status names a broker problem by its code, short enough to read at a glance under a node;
// the sentence goes to the log.

const assert = require('node:assert/strict');
const { shortReason } = require('../../dist/common/short-reason');
const english = require('../../src/nodes/amqp-publish/locale.json')['amqp-publish'];

// What the broker and the socket say, as the statuses used to show them (cut at 80 characters).
const REASONS = [
  [
    "amqp://localhost: the broker refused to open virtual host \"/\" (530 NOT_ALLOWED: access to vhost '/' refused for user 'guest')",
    '530 NOT_ALLOWED',
  ],
  [
    'Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - test closed it"',
    '320 CONNECTION-FORCED',
  ],
  [
    'channel closed by the broker: Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'x\'"',
    '404 NOT-FOUND',
  ],
  ['amqp://127.0.0.1:5672: connect ECONNREFUSED 127.0.0.1:5672', 'ECONNREFUSED'],
  ['opening a channel', 'opening a channel'],
  ['406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg"', '406 PRECONDITION-FAILED'],
];

describe('a status names a broker problem by its code', function () {
  for (const [reason, short] of REASONS) {
    it(`"${reason.slice(0, 50)}…" reads "${short}"`, function () {
      assert.equal(shortReason(reason), short);
    });
  }

  it('cuts a reason with no code at a word, never mid-word', function () {
    const said = shortReason('the server went away while we were talking to it about something');
    assert.equal(said, 'the server went away while we…');
  });

  it('keeps every disconnected status within 40 characters', function () {
    for (const [reason] of REASONS) {
      const text = english.status.disconnected.replace('__reason__', shortReason(reason));
      assert.ok(text.length <= 40, `"${text}" is ${text.length} characters`);
    }
  });
});
