'use strict';
// examples/consume-log-events.json in a real Node-RED process, deployed as a user
// deploys it (on queues of the test's own): bounces join the suppression list once
// each, a broken record is requeued once then dead-lettered. The records come from
// whoever can publish to the queue, so the list takes only what is plainly one
// address: a recipient holding a line break, a 10 KB recipient, anything else that
// is not local@domain writes nothing and is dead-lettered.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SideChannel, uniqueName, BROKER_URL, CREDENTIALS } = require('../helpers/amqp');
const { startNodeRed } = require('../helpers/node-red-process');
const { eventually } = require('../helpers/eventually');

const ROOT = path.resolve(__dirname, '..', '..');

/** checkQueue on a channel of its own: for a missing queue the broker closes the channel it was asked on. */
async function queueExists(side, queue) {
  const probe = await side.connection.createChannel();
  probe.on('error', () => undefined);
  try {
    await probe.checkQueue(queue);
    await probe.close();
    return true;
  } catch {
    return false;
  }
}

function bounce(recipient, id) {
  return { type: 'Bounce', id, recipient, sender: 'noreply@example.com', response: { code: 550 } };
}

/**
 * The example running in a real Node-RED on this broker and on queues of its own, its
 * dead-letter reader disabled so the test reads what was dead-lettered.
 */
async function deployExample(side) {
  const names = {
    logging: uniqueName('logging'),
    dlx: uniqueName('logging.dlx'),
    failed: uniqueName('logging.failed'),
  };
  side.queues.push(names.logging, names.failed);
  side.exchanges.push(names.dlx);
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/consume-log-events.json'), 'utf8'));
  const flow = example.map((n) => {
    const node = { ...n };
    if (node.type === 'amqp-broker') Object.assign(node, { url: BROKER_URL });
    if (node.queue === 'kumomta.logs') node.queue = names.logging;
    if (node.queue === 'kumomta.logs.failed') Object.assign(node, { queue: names.failed, d: true });
    if (node.deadLetterExchange === 'kumomta.logs.dlx') node.deadLetterExchange = names.dlx;
    if (node.routingKey === 'kumomta.logs') node.routingKey = names.logging;
    return node;
  });
  const brokerId = flow.find((n) => n.type === 'amqp-broker').id;
  // What the disabled node would have declared: the dead-letter exchange and its queue.
  await side.exchange(names.dlx, 'fanout');
  await side.queue(names.failed);
  await side.channel.bindQueue(names.failed, names.dlx, '');
  const nodeRed = await startNodeRed([{ id: flow[0].z, type: 'tab', label: 'consume-log-events' }, ...flow], {
    credentials: { [brokerId]: CREDENTIALS },
  });
  try {
    await nodeRed.waitForLog(/suppression list: .*suppression-list\.txt \(0 addresses\)/);
    await eventually('the consume node declaring its queue', () => queueExists(side, names.logging));
  } catch (err) {
    err.message += `\n--- Node-RED log ---\n${nodeRed.logTail(30)}`;
    await nodeRed.stop();
    throw err;
  }
  const suppression = path.join(nodeRed.userDir, 'suppression-list.txt');
  return {
    nodeRed,
    names,
    suppression,
    read: () => (fs.existsSync(suppression) ? fs.readFileSync(suppression, 'utf8') : ''),
    // KumoMTA publishes log records without a content type: the example reads them as JSON anyway.
    publish(records) {
      for (const r of records)
        side.channel.sendToQueue(names.logging, Buffer.from(JSON.stringify(r)), { persistent: true });
    },
  };
}

describe('examples/consume-log-events.json in a real Node-RED process', function () {
  this.timeout(60000);
  let side;
  let nodeRed;

  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  it('bounces into the suppression list once each, a broken record requeued once then dead-lettered', async () => {
    const example = await deployExample(side);
    nodeRed = example.nodeRed;
    const { names } = example;
    example.publish([
      bounce('gone@example.com', 'b1'),
      bounce('left@example.org', 'b2'),
      bounce('Gone@Example.com', 'b3'), // the same address again
      { type: 'Delivery', id: 'd1', recipient: 'here@example.com', response: { code: 250 } },
      { type: 'Bounce', id: 'broken', sender: 'noreply@example.com', response: { code: 550 } }, // no recipient
    ]);

    const lines = await eventually('two addresses in the suppression list', () => {
      const text = example.read();
      return text.split('\n').filter(Boolean).length >= 2 ? text : null;
    });
    const letters = await eventually('the broken record dead-lettered', async () => {
      const got = await side.drain(names.failed);
      return got.length ? got : null;
    });
    assert.equal(letters.length, 1);
    assert.equal(JSON.parse(letters[0].content.toString()).id, 'broken');
    const [death] = letters[0].properties.headers['x-death'];
    assert.equal(death.reason, 'rejected');
    assert.equal(death.queue, names.logging);
    await eventually('the logging queue empty', async () => (await side.count(names.logging)) === 0);
    // Stopping returns anything unacknowledged: nothing may come back.
    await nodeRed.stop();
    nodeRed = null;
    assert.equal(await side.count(names.logging), 0, 'every record was acknowledged');
    assert.deepEqual(lines.split('\n').filter(Boolean), ['gone@example.com', 'left@example.org']);
  });
});

describe('the example suppression list takes only what is plainly one address', function () {
  this.timeout(60000);
  let side;
  let example;
  const deadLetters = [];

  before(async () => {
    side = await SideChannel.open();
    example = await deployExample(side);
  });
  after(async () => {
    if (example) await example.nodeRed.stop();
    if (side) await side.close();
  });

  /**
   * Publishes `bad` recipients and then `good` ones (a good one last) as Bounce records
   * of this test's own ids; resolves with the lines the records added to the list once
   * the last good one is there (records are handled in order, so every bad one has had
   * its first attempt by then).
   */
  async function submit(tag, bad, good) {
    const before = example.read().length;
    const records = [
      ...bad.map((recipient, i) => bounce(recipient, `${tag}-bad-${i}`)),
      ...good.map((recipient, i) => bounce(recipient, `${tag}-good-${i}`)),
    ];
    example.publish(records);
    const last = [good.at(-1)].flat().at(-1).toLowerCase();
    const added = await eventually(`${last} in the suppression list`, () => {
      const lines = example.read().slice(before).split('\n');
      return lines.includes(last) ? lines.filter(Boolean) : null;
    }).catch((err) => {
      err.message += `\n--- Node-RED log ---\n${example.nodeRed.logTail(30)}`;
      throw err;
    });
    return added;
  }

  /** Asserts that exactly the `count` bad records of `tag` were rejected into logging.failed (after one requeue). */
  async function assertDeadLettered(tag, count) {
    const ours = () => deadLetters.filter((m) => JSON.parse(m.content.toString()).id.startsWith(`${tag}-`));
    await eventually(`${count} records of ${tag} dead-lettered`, async () => {
      deadLetters.push(...(await side.drain(example.names.failed)));
      return ours().length >= count;
    }).catch((err) => {
      err.message += `: ${JSON.stringify(ours().map((m) => JSON.parse(m.content.toString()).id))}`;
      throw err;
    });
    for (const m of ours()) {
      const [death] = m.properties.headers['x-death'];
      assert.equal(death.reason, 'rejected');
      assert.equal(death.count, 1);
    }
    assert.deepEqual(
      ours()
        .map((m) => JSON.parse(m.content.toString()).id)
        .sort(),
      Array.from({ length: count }, (_, i) => `${tag}-bad-${i}`).sort(),
    );
  }

  it('a recipient holding a line break (LF, CR LF, U+2028, NEL) writes nothing and is dead-lettered', async () => {
    const bad = [
      'a@x.com\nvictim@y.com',
      'a@x.com\r\nb@y',
      '\u2028',
      'a@x.com\u2028victim@y.com',
      'a@x.com\u0085victim@y.com',
    ];
    assert.deepEqual(await submit('breaks', bad, ['plain@example.com']), ['plain@example.com']);
    await assertDeadLettered('breaks', bad.length);
  });

  it('a recipient that is not one address (10 KB, over 254 characters, two @, spaces, control or format characters, an empty part, not a string) is dead-lettered', async () => {
    const bad = [
      `${'a'.repeat(10 * 1024)}@x.com`,
      `${'a'.repeat(255 - '@x.com'.length)}@x.com`,
      'a@b@x.com',
      ' lead@x.com',
      'trail@x.com ',
      'in side@x.com',
      'tab\t@x.com',
      'nbsp\u00a0@x.com',
      'nul\u0000@x.com',
      'rlo\u202e@x.com',
      '@x.com',
      'a@',
      'no-at-sign',
      '',
      42,
      { address: 'a@x.com' },
    ];
    const longest = `${'l'.repeat(254 - '@example.com'.length)}@example.com`;
    const added = await submit('shapes', bad, [longest, 'Plain2@Example.COM', 'josé@exämple.com']);
    assert.deepEqual(added, [longest, 'plain2@example.com', 'josé@exämple.com']);
    await assertDeadLettered('shapes', bad.length);
  });

  it("KumoMTA's BatchByDomain array: each element joins the list when all are addresses; one bad element refuses the whole record", async () => {
    const bad = [['three@batch.example', 'a@x.com\nvictim@y.com'], ['four@batch.example', 42], []];
    const good = [['one@batch.example', 'two@batch.example', 'ONE@batch.example'], 'after-batch@example.com'];
    const added = await submit('batch', bad, good);
    assert.deepEqual(added, ['one@batch.example', 'two@batch.example', 'after-batch@example.com']);
    await assertDeadLettered('batch', bad.length);
  });
});
