'use strict';
// A status names a broker problem by its code, short enough to read at a glance under a node;
// the sentence goes to the log.

const assert = require('node:assert/strict');
const {
  cutAtWord,
  disconnectedStatus,
  errorStatus,
  shortReason,
  STATUS_MAX,
} = require('../../nodes/lib/common/short-reason');
const english = require('../../src/nodes/amqp-publish/locale.json')['amqp-publish'];
const LOCALES = {
  'amqp-publish': english,
  'amqp-consume': require('../../src/nodes/amqp-consume/locale.json')['amqp-consume'],
};

/** A node's `t` over its English catalogue, as Node-RED's i18next fills __name__ parameters. */
const translator =
  (catalogue) =>
  (key, params = {}) => {
    const text = key.split('.').reduce((at, part) => at[part], catalogue);
    assert.equal(typeof text, 'string', key);
    return text.replace(/__(\w+)__/g, (_, name) => String(params[name]));
  };

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
  // The broker's address is the node's own: what follows it is what went wrong.
  [
    'amqps://127.0.0.1:45959: TLS: certificate verify failed (self-signed certificate in certificate chain)',
    'TLS: certificate verify…',
  ],
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
    assert.equal(said, 'the server went away while…');
  });

  it('keeps every disconnected status within 40 characters, its reason kept, also while retrying in 1, 16 or 300 s', function () {
    const now = Date.now();
    const waits = [
      null,
      ...[1, 16, 300].map((seconds) => ({ state: 'disconnected', retryAt: now + seconds * 1000 - 1 })),
    ];
    const seen = new Set();
    for (const [type, catalogue] of Object.entries(LOCALES)) {
      const t = translator(catalogue);
      for (const [reason] of REASONS)
        for (const connection of [undefined, { state: 'connecting', retryAt: null }, ...waits.filter(Boolean)]) {
          const text = disconnectedStatus(t, shortReason(reason), connection);
          seen.add(text);
          assert.ok(text.length <= STATUS_MAX, `${type}: "${text}" is ${text.length} characters`);
          assert.doesNotMatch(text, /__\w+__/, `${type}: "${text}" has every parameter filled`);
          assert.ok(text.startsWith(`disconnected: ${shortReason(reason)}`), `${type}: "${text}" names the reason`);
        }
    }
    // The reason always; the count where it fits.
    for (const expected of [
      'disconnected: 320 CONNECTION-FORCED',
      'disconnected: 404 NOT-FOUND, retrying',
      'disconnected: ECONNREFUSED, retrying',
      'disconnected: 530 NOT_ALLOWED, retrying',
      'disconnected: TLS: certificate verify…',
    ])
      assert.ok(seen.has(expected), `"${expected}" among:\n${[...seen].join('\n')}`);
  });
});

describe("a setup error's status is the error cut at a word", function () {
  // Setup errors as the nodes word them (the whole error goes to the log).
  const SETUP_ERRORS = [
    [
      '"get_queue_config" is a predefined KumoMTA event; choose another name such as make.amqp',
      '"get_queue_config" is a predefined…',
    ],
    [
      'event name "make.same" is already bound to custom protocol node "relay"; each constructor name may be bound once',
      'event name "make.same" is already bound…',
    ],
    ['max queued must be a whole number greater than 0, not "lots"', 'max queued must be a whole number…'],
    ['no broker configured', 'no broker configured'],
  ];
  for (const [error, status] of SETUP_ERRORS) {
    it(`"${error.slice(0, 40)}…" reads "${status}"`, function () {
      assert.equal(errorStatus(error), status);
      assert.ok(errorStatus(error).length <= STATUS_MAX);
    });
  }

  it('never runs past its room, and cuts inside a word only when the first word fills most of it', function () {
    for (let max = 8; max <= 60; max++) {
      for (const [error] of SETUP_ERRORS) {
        const cut = cutAtWord(error, max);
        assert.ok(cut.length <= max, `"${cut}" is longer than ${max}`);
        if (cut !== error) assert.ok(cut.endsWith('…'), `"${cut}" hides its cut`);
      }
    }
    assert.equal(cutAtWord('Supercalifragilisticexpialidocious is long', 12), 'Supercalifr…');
  });
});
