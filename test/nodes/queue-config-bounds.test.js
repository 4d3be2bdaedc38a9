'use strict';
// queue config inside Node-RED against hostile input: a queue name of any size
// is bad input for that message alone, and a rule whose regular expression could
// block the event loop never deploys. No broker: the rules route to smtp, out of
// the node's output.

const assert = require('node:assert/strict');
const { helper, load, collector } = require('../helpers/node-red');

function flow(tenantRegex) {
  return [
    {
      id: 'qc',
      type: 'kumo-queue-config',
      queue: 'queue',
      queueType: 'msg',
      rules: [{ match: { tenant: { op: 'regex', value: tenantRegex } }, protocol: 'smtp' }],
      wires: [['out']],
    },
    { id: 'out', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'errors', type: 'helper' },
  ];
}

async function start(tenantRegex) {
  await load(flow(tenantRegex));
  return {
    qc: helper.getNode('qc'),
    out: collector(helper.getNode('out')),
    errors: collector(helper.getNode('errors')),
  };
}

/** The message Catch got; fails at once if the message was routed instead. */
function refused(n) {
  return Promise.race([
    n.errors.next(1).then(([caught]) => caught),
    n.out.next(1).then(([routed]) => {
      throw new Error(`the message was routed with queue ${JSON.stringify(routed.queue).slice(0, 80)}…`);
    }),
  ]);
}

describe('queue config against hostile input', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('refuses a 10 MB msg.queue as KUMO_BAD_INPUT, and routes the next message', async function () {
    const n = await start('^acme-[a-z0-9-]+$');
    n.qc.receive({ _msgid: 'huge', payload: 'x', queue: `acme-${'a'.repeat(10 * 1024 * 1024)}@example.com` });
    const caught = await refused(n);
    assert.equal(caught._msgid, 'huge');
    assert.equal(caught.error.code, 'KUMO_BAD_INPUT');
    assert.match(caught.error.message, /queue name "acme-a+…" is longer than 1023 octets/);
    assert.equal(n.out.messages.length, 0);

    n.qc.receive({ _msgid: 'next', payload: 'x', queue: 'acme-eu@example.com' });
    const [routed] = await n.out.next(1);
    assert.equal(routed._msgid, 'next');
    assert.equal(routed.queue.tenant, 'acme-eu');
  });

  it('refuses a 256-octet tenant in a queue object, naming it', async function () {
    const n = await start('^acme-[a-z0-9-]+$');
    n.qc.receive({ payload: 'x', queue: { domain: 'example.com', tenant: `acme-${'a'.repeat(251)}` } });
    const caught = await refused(n);
    assert.equal(caught.error.code, 'KUMO_BAD_INPUT');
    assert.match(caught.error.message, /queue tenant "acme-a+…" is longer than 255 octets/);
  });

  it('does not deploy a rule with ^([a-z0-9]+-?)+$: each message is refused with the reason', async function () {
    const n = await start('^([a-z0-9]+-?)+$');
    // A tenant that takes the compiled pattern 2^20 steps to fail; 28 characters take seconds.
    n.qc.receive({ payload: 'x', queue: `${'a'.repeat(20)}!@example.com` });
    const caught = await refused(n);
    assert.equal(caught.error.code, 'KUMO_NOT_CONFIGURED');
    assert.match(
      caught.error.message,
      /rule 1: tenant regular expression "\^\(\[a-z0-9\]\+-\?\)\+\$" repeats something that itself repeats/,
    );
    assert.equal(n.out.messages.length, 0);
  });
});
