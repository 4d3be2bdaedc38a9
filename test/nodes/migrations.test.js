'use strict';
// Versioned settings in a running Node-RED: the nodes of a flow saved by 0.1.0 (the examples it
// shipped with) route a message end to end as they did, and a node saved by a newer pack is
// refused at deploy with a clear error that every message it gets also carries.

const assert = require('node:assert/strict');
const { helper, load, brokerConfig, collector, until } = require('../helpers/node-red');
const { SideChannel, uniqueName } = require('../helpers/amqp');
const OLD = require('../fixtures/definitions-0.1.0.json');

const old = (type) => structuredClone(OLD.find((def) => def.type === type));

describe('saved settings of another version', function () {
  this.timeout(20000);
  let side;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    await helper.unload();
    await side.close();
  });

  it("a flow of 0.1.0's nodes routes a message to its queue, confirmed", async () => {
    const queue = await side.queue(uniqueName('v010'));
    const config = old('kumo-queue-config');
    const protocol = old('kumo-custom-protocol');
    const publish = old('amqp-publish');
    await load([
      brokerConfig(),
      { ...config, z: 'flow', queueType: 'str', queue: 'acme@example.com', wires: [[]] },
      // The custom protocol's spool (added since) is on for a flow that never set it, as before the versions.
      { ...protocol, z: 'flow', wires: [['pub'], []] },
      { ...publish, id: 'pub', z: 'flow', broker: 'broker', routingKey: queue, declareQueue: '', wires: [['ok'], []] },
      { id: 'ok', z: 'flow', type: 'helper' },
    ]);
    const delivered = collector(helper.getNode('ok'));
    helper.getNode(config.id).receive({ payload: 'from 0.1.0' });
    const [msg] = await delivered.next(1);
    assert.equal(msg.amqp.status, 'Ack');
    const got = await side.drain(queue);
    assert.deepEqual(
      got.map((m) => m.content.toString()),
      ['from 0.1.0'],
    );
  });

  it('a node saved by a newer pack: a red status, the whole reason in the log, and an error for every message', async () => {
    await load([
      brokerConfig(),
      { ...old('amqp-publish'), id: 'pub', z: 'flow', broker: 'broker', version: 99, wires: [[], []] },
      { id: 'watcher', z: 'flow', type: 'status', scope: ['pub'], wires: [['statuses']] },
      { id: 'catcher', z: 'flow', type: 'catch', scope: ['pub'], uncaught: false, wires: [['errors']] },
      { id: 'statuses', z: 'flow', type: 'helper' },
      { id: 'errors', z: 'flow', type: 'helper' },
    ]);
    const statuses = collector(helper.getNode('statuses'));
    const errors = collector(helper.getNode('errors'));
    const red = await until(statuses, (m) => m.status.fill === 'red');
    assert.ok(red.status.text.length <= 40, red.status.text);
    assert.match(red.status.text, /^this amqp-publish node was saved by a/);
    const logged = helper
      .getNode('pub')
      .error.getCalls()
      .map((call) => String(call.args[0]));
    assert.ok(
      logged.some((line) => /settings version 99; this one knows up to 1\): update the pack/.test(line)),
      JSON.stringify(logged),
    );
    helper.getNode('pub').receive({ payload: 'x' });
    const [caught] = await errors.next(1);
    assert.equal(caught.error.code, 'KUMO_NOT_CONFIGURED');
    assert.match(caught.error.message, /saved by a newer version of the pack/);
  });
});
