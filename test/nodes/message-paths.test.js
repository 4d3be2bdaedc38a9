'use strict';
// A message's data on every path it takes: a final failure is seen even with no
// log record output wired, and bad input ends at once instead of being retried.

const assert = require('node:assert/strict');
const { helper, load, collector } = require('../helpers/node-red');

const RETRY_FAST = { protocol: { custom_lua: { constructor: 'make.paths' } }, retry_interval: 0.05, max_age: 0.3 };

describe('a final failure is always seen', function () {
  afterEach(async () => {
    await helper.unload();
  });

  function flow(code) {
    return [
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        eventName: 'make.paths',
        timeout: 5,
        maxInFlight: 8,
        wires: [['reject'], []], // output 2 (log records) unwired
      },
      {
        id: 'reject',
        type: 'kumo-reject',
        code,
        codeType: 'num',
        message: 'no such user',
        messageType: 'str',
        wires: [],
      },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  it('with output 2 unwired, a Bounce reaches Catch nodes as KUMO_BOUNCED, with the message', async function () {
    await load(flow('550'));
    const caught = collector(helper.getNode('caught'));
    // Said once, at deploy.
    const warnings = helper
      .getNode('cp')
      .warn.getCalls()
      .map((call) => String(call.args[0]));
    assert.equal(warnings.filter((w) => /output 2 \(log records\) is not wired/.test(w)).length, 1);
    helper.getNode('cp').receive({ payload: 'to a gone user', topic: 'mine', queueConfig: RETRY_FAST });
    const [msg] = await caught.next(1);
    assert.equal(msg.error.code, 'KUMO_BOUNCED');
    assert.match(msg.error.message, /bounced .*550 no such user/);
    assert.equal(msg.payload, 'to a gone user');
    assert.equal(msg.topic, 'mine');
  });

  it('with output 2 unwired, an Expiration reaches Catch nodes as KUMO_EXPIRED', async function () {
    await load(flow('451'));
    const caught = collector(helper.getNode('caught'));
    helper.getNode('cp').receive({ payload: 'deferred', queueConfig: RETRY_FAST });
    const [msg] = await caught.next(1);
    assert.equal(msg.error.code, 'KUMO_EXPIRED');
    assert.match(msg.error.message, /expired/);
  });
});
