'use strict';
// Durable retries: deliveries a custom protocol node has not finished survive
// a Node-RED restart, and a crash in the middle of a store write leaves a
// readable store.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed, freePort } = require('../helpers/node-red-process');
const { RetryStore } = require('../../nodes/lib/core/store/retry-store');
const { countDiskSyncs } = require('../helpers/disk-syncs');
const { eventually } = require('../helpers/eventually');

function flow(queue, sendTo, url = AMQP_URL) {
  return [
    { id: 'tab', type: 'tab', label: 'durable' },
    { id: 'b1', type: 'amqp-broker', url, heartbeat: '10' },
    {
      id: 'in',
      type: 'http in',
      z: 'tab',
      url: '/send',
      method: 'post',
      upload: false,
      skipBodyParsing: false,
      swaggerDoc: '',
      wires: [['qc', 'ok']],
    },
    { id: 'ok', type: 'http response', z: 'tab', statusCode: '202', headers: {}, wires: [] },
    {
      id: 'qc',
      type: 'kumo-queue-config',
      z: 'tab',
      queue: 'amqp',
      queueType: 'str',
      wires: [[]],
      rules: [
        {
          match: { domain: { op: 'eq', value: 'amqp' } },
          protocol: 'custom_lua',
          constructor: 'make.durable',
          retry_interval: '2s',
          max_retry_interval: '',
          max_age: '1h',
        },
      ],
    },
    {
      id: 'cp',
      type: 'kumo-custom-protocol',
      z: 'tab',
      eventName: 'make.durable',
      timeout: '10',
      maxInFlight: '16',
      wires: [[sendTo], []],
    },
    {
      id: 'pub',
      type: 'amqp-publish',
      z: 'tab',
      broker: 'b1',
      routingKey: queue,
      routingKeyType: 'str',
      waitForConfirm: true,
      confirmTimeout: '10',
      wires: [[], []],
    },
    {
      id: 'rej',
      type: 'kumo-reject',
      z: 'tab',
      code: '451',
      codeType: 'num',
      message: 'not yet',
      messageType: 'str',
      wires: [[]],
    },
  ];
}

/**
 * What the store file of a running node holds, read from a copy: a load cleans up (temporary
 * files, a file it cannot read), which must not touch the directory the node writes in.
 */
function storedIn(file, eventName) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-store-copy-'));
  try {
    const copy = path.join(dir, path.basename(file));
    try {
      fs.copyFileSync(file, copy);
    } catch (err) {
      if (err.code === 'ENOENT') return { deliveries: [], problem: null };
      throw err;
    }
    return new RetryStore(copy, eventName).load();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Temporary files of store writes in `dir`: a finished write renames its own away. */
function temporaryFiles(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
}

describe('durable retries', function () {
  this.timeout(60000);
  let side;
  let nodeRed;
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async function () {
    if (this.currentTest.state === 'failed' && nodeRed) process.stderr.write(nodeRed.log);
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  it('a redeploy while the broker is down does not wait out a close grace, and keeps every delivery in the store', async () => {
    // Nothing listens on this port: every attempt waits at the publish node for a broker that is not there.
    const down = `amqp://127.0.0.1:${await freePort()}`;
    const flows = flow('never-published', 'pub', down);
    nodeRed = await startNodeRed(flows);
    const ids = Array.from({ length: 20 }, (_, i) => `message-${i}`);
    for (const id of ids) {
      const res = await fetch(`${nodeRed.url}/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id }),
      });
      assert.equal(res.status, 202);
    }
    const started = Date.now();
    // A full deploy stops every node (close handlers included) before it answers.
    const res = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    const elapsed = Date.now() - started;
    assert.ok(res.ok, `deploy answered ${res.status}: ${await res.text()}`);
    // With the broker down no confirm can come: a close that waited for one would take the publish node's or the
    // custom protocol's 10 s grace, or the broker node's 12 s. The deploy takes well under a second; 5 s gives a
    // loaded runner room and stays far from those.
    assert.ok(elapsed < 5000, `the redeploy took ${elapsed} ms with the broker down`);
    await nodeRed.waitForLog(/20 message\(s\) of "make\.durable" were not delivered before the flow stopped/);
    const store = path.join(nodeRed.userDir, 'kumo-amqp', 'retries-make.durable.json');
    const kept = storedIn(store, 'make.durable')
      .deliveries.map((d) => d.payload.value.id)
      .sort();
    assert.deepEqual(kept, ids.slice().sort());
    console.log(
      `      [figures] redeploy with the broker down: 20 deliveries unfinished, the deploy answered in ${elapsed} ms, all 20 kept`,
    );
  });

  it('messages waiting to retry survive a Node-RED restart and are delivered after it', async () => {
    const queue = await side.queue(uniqueName('durable'));
    // Run 1: every attempt is rejected with 451, so the messages wait to retry.
    nodeRed = await startNodeRed(flow(queue, 'rej'));
    const ids = Array.from({ length: 20 }, (_, i) => `message-${i}`);
    for (const id of ids) {
      const res = await fetch(`${nodeRed.url}/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id }),
      });
      assert.equal(res.status, 202);
    }
    // The store file appears once the transient failures are recorded.
    const store = path.join(nodeRed.userDir, 'kumo-amqp', 'retries-make.durable.json');
    await eventually(
      'the store to hold every message',
      () => storedIn(store, 'make.durable').deliveries.length === ids.length,
    );
    const userDir = nodeRed.userDir;
    await nodeRed.stop({ keep: true });
    nodeRed = null;
    assert.equal(await side.count(queue), 0, 'nothing was published in run 1');
    // Looked at before run 2 loads the store (a load removes leftovers): the writes of run 1 and of its stop left none.
    assert.deepEqual(
      temporaryFiles(path.dirname(store)),
      [],
      'the store writes of a run that stopped cleanly left a temporary file',
    );

    // Run 2: the same event name now publishes; the stored messages go out.
    nodeRed = await startNodeRed(flow(queue, 'pub'), { userDir });
    await nodeRed.waitForLog(/restored 20 delivery/);
    let stored = [];
    await eventually('the messages in the queue', async () => {
      stored = stored.concat(await side.drain(queue));
      return stored.length >= ids.length;
    });
    assert.deepEqual(stored.map((m) => JSON.parse(m.content.toString()).id).sort(), ids.slice().sort());
    // Delivered: the store is emptied.
    await eventually('the store to be emptied', () => !fs.existsSync(store));
  });

  it('a crash in the middle of a write leaves the previous or the new store, never a torn one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-store-'));
    const file = path.join(dir, 'retries-make.crash.json');
    // HOLD_IN_WRITE=k: the k-th snapshot stops after writing its temporary file, before its fsync and rename, and
    // says so; a kill then lands inside a write for certain (elsewhere the loop spends most of its time encoding).
    const writer = `
      const fs = require('node:fs');
      const holdAt = Number(process.env.HOLD_IN_WRITE || 0);
      let snapshots = 0;
      const open = fs.promises.open;
      fs.promises.open = async (name, ...rest) => {
        const handle = await open(name, ...rest);
        if (String(name).endsWith('.tmp') && ++snapshots === holdAt) {
          handle.sync = () => { process.stdout.write('in-write\\n'); return new Promise(() => {}); };
        }
        return handle;
      };
      const { RetryStore } = require(${JSON.stringify(path.resolve(__dirname, '../../nodes/lib/core/store/retry-store'))});
      let n = 0;
      const big = 'x'.repeat(4096);
      // Each write is a store's first, without load(): a snapshot that replaces whatever the file held.
      (async () => { for (;;) { n++; const store = new RetryStore(${JSON.stringify(file)}, 'make.crash'); for (let i = 0; i < 200 + (n % 50); i++) store.put({ id: n + '-' + i, payload: { type: 'string', value: big }, queue: { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null }, queueConfig: { protocol: { custom_lua: { constructor: 'make.crash' } }, retry_interval: '1m', max_retry_interval: null, max_age: '1h' }, createdMs: 0, attempts: 1, dueMs: 0, props: {} }); await store.flush(); if (n === 3) process.stdout.write('writing\\n'); } })();
    `;
    for (let round = 0; round < 6; round++) {
      // Even rounds: a kill at varied points of the write loop. Odd rounds: a kill inside snapshot number holdAt.
      const holdAt = round % 2 ? 3 + round : 0;
      const child = spawn(process.execPath, ['-e', writer], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, HOLD_IN_WRITE: String(holdAt) },
      });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      const said = (word) =>
        new Promise((resolve) => {
          const check = () => {
            if (!output.includes(word)) return;
            child.stdout.removeListener('data', check);
            resolve();
          };
          child.stdout.on('data', check);
        });
      if (holdAt) {
        await said('in-write');
      } else {
        await said('writing');
        await new Promise((resolve) => setTimeout(resolve, 20 + round * 37)); // kill at varied points of the write loop
      }
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      // Before anything loads the store: every snapshot the child finished renamed its temporary file away,
      // so at most the one the kill interrupted is left (exactly that one when the kill was inside it).
      const left = temporaryFiles(dir);
      if (holdAt)
        assert.equal(left.length, 1, `round ${round}: the interrupted snapshot left ${left.join(', ') || 'no file'}`);
      else
        assert.ok(
          left.length <= 1,
          `round ${round}: ${left.length} temporary files after the kill: ${left.join(', ')}`,
        );
      const { deliveries, problem } = new RetryStore(file, 'make.crash').load();
      assert.equal(problem, null, `round ${round}: ${problem}`);
      assert.ok(deliveries.length >= 200, `round ${round}: ${deliveries.length} deliveries`);
      const batch = deliveries[0].id.split('-')[0];
      assert.ok(
        deliveries.every((d) => d.id.startsWith(`${batch}-`)),
        `round ${round}: entries from two writes are mixed`,
      );
      if (holdAt) {
        // Killed inside write holdAt: the store is write holdAt - 1, whole.
        assert.equal(batch, String(holdAt - 1), `round ${round}: the store holds write ${batch}`);
        assert.equal(deliveries.length, 200 + ((holdAt - 1) % 50), `round ${round}: write ${batch} is not whole`);
      }
      assert.deepEqual(temporaryFiles(dir), [], `round ${round}: the load left an interrupted write's temporary file`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a crash in the middle of a journal append loses no operation whose flush completed, and tears nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-store-'));
    const file = path.join(dir, 'retries-make.journal.json');
    // Round n: keep ten new deliveries, reschedule the previous round's, remove those of round n - 3, flush.
    // A small compaction floor makes some flushes snapshots, so kills land in both kinds of write.
    const writer = `
      const { RetryStore } = require(${JSON.stringify(path.resolve(__dirname, '../../nodes/lib/core/store/retry-store'))});
      const store = new RetryStore(${JSON.stringify(file)}, 'make.journal', { flushDelayMs: 1000000, compactFloorBytes: 64 * 1024 });
      store.load();
      const big = 'x'.repeat(2048);
      const queue = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
      const queueConfig = { protocol: { custom_lua: { constructor: 'make.journal' } }, retry_interval: '1m', max_retry_interval: null, max_age: '1h' };
      (async () => {
        for (let n = 1; ; n++) {
          for (let i = 0; i < 10; i++) store.put({ id: n + '-' + i, payload: { type: 'string', value: big }, queue, queueConfig, createdMs: n, attempts: 1, dueMs: n * 1000, props: {} });
          for (let i = 0; i < 10; i++) store.reschedule((n - 1) + '-' + i, n, n * 1000 + i);
          for (let i = 0; i < 10; i++) store.remove((n - 3) + '-' + i);
          await store.flush();
          process.stdout.write(n + '\\n');
        }
      })();
    `;
    /** The operations of the loop above, in order, applied one at a time: every state a prefix of them leaves. */
    function* states() {
      const live = new Map();
      const key = () =>
        [...live.entries()]
          .map(([id, s]) => `${id}:${s}`)
          .sort()
          .join(',');
      let ops = 0;
      for (let n = 1; ; n++) {
        for (let i = 0; i < 10; i++) {
          live.set(`${n}-${i}`, `1/${n * 1000}`);
          yield { n, ops: ++ops, key: key() };
        }
        for (let i = 0; i < 10; i++) {
          if (live.has(`${n - 1}-${i}`)) live.set(`${n - 1}-${i}`, `${n}/${n * 1000 + i}`);
          yield { n, ops: ++ops, key: key() };
        }
        for (let i = 0; i < 10; i++) {
          live.delete(`${n - 3}-${i}`);
          yield { n, ops: ++ops, key: key() };
        }
      }
    }
    for (let round = 0; round < 6; round++) {
      fs.rmSync(file, { force: true });
      const child = spawn(process.execPath, ['-e', writer], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      await eventually('the writer to flush a few times', () => output.split('\n').length > 5);
      await new Promise((resolve) => setTimeout(resolve, 10 + round * 23)); // kill at varied points of the loop
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve)); // 'close': every report the child wrote has been read
      const flushed = Math.max(...output.split('\n').filter(Boolean).map(Number));
      // Before anything loads the store: at most the snapshot the kill interrupted left its temporary file.
      const left = temporaryFiles(dir);
      assert.ok(left.length <= 1, `round ${round}: ${left.length} temporary files after the kill: ${left.join(', ')}`);

      const { deliveries, problem } = new RetryStore(file, 'make.journal').load();
      assert.equal(problem, null, `round ${round}: ${problem}`);
      assert.ok(
        deliveries.every((d) => d.payload.value.length === 2048),
        `round ${round}: a delivery was torn`,
      );
      const loaded = deliveries
        .map((d) => `${d.id}:${d.attempts}/${d.dueMs}`)
        .sort()
        .join(',');
      // The file holds the state after some prefix of the operations, one that includes every flush the child reported.
      let match = null;
      for (const state of states()) {
        if (state.n > flushed + 2) break;
        if (state.ops >= flushed * 30 && state.key === loaded) {
          match = state;
          break;
        }
      }
      assert.ok(
        match,
        `round ${round}: after ${flushed} completed flushes the store holds ${deliveries.length} deliveries that no sequence of the operations leaves: ${loaded.slice(0, 300)}`,
      );
      assert.deepEqual(
        temporaryFiles(dir),
        [],
        `round ${round}: the load left an interrupted snapshot's temporary file`,
      );
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a finished write leaves no temporary file, before anything loads the store', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-store-'));
    const file = path.join(dir, 'retries-make.finished.json');
    // A small compaction floor: the appends below grow the journal past it, so a flush writes a snapshot too.
    const store = new RetryStore(file, 'make.finished', { flushDelayMs: 1000000, compactFloorBytes: 1024 });
    const queue = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
    const queueConfig = {
      protocol: { custom_lua: { constructor: 'make.finished' } },
      retry_interval: '1m',
      max_retry_interval: null,
      max_age: '1h',
    };
    const delivery = (id) => ({
      id,
      payload: { type: 'string', value: 'x'.repeat(512) },
      queue,
      queueConfig,
      createdMs: 0,
      attempts: 1,
      dueMs: 0,
      props: {},
    });
    const writes = [
      [
        'a snapshot (the first write)',
        () => {
          store.put(delivery('a'));
          store.put(delivery('b'));
          return store.flush();
        },
      ],
      [
        'an append',
        () => {
          store.put(delivery('c'));
          return store.flush();
        },
      ],
      [
        'a compaction',
        () => {
          for (let i = 0; i < 20; i++) store.reschedule('a', i + 2, i);
          return store.flush();
        },
      ],
      [
        'the removal of the last delivery',
        () => {
          for (const id of ['a', 'b', 'c']) store.remove(id);
          return store.flush();
        },
      ],
    ];
    const syncs = await countDiskSyncs();
    try {
      for (const [what, write] of writes) {
        await write();
        assert.deepEqual(temporaryFiles(dir), [], `${what} left a temporary file`);
      }
    } finally {
      syncs.stop();
    }
    assert.ok(!fs.existsSync(file), 'the store file is removed once nothing is kept');
    assert.ok(syncs.count >= 3, `only ${syncs.count} writes reached the disk: the writes above did not happen`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an unreadable store is moved aside with a warning, not fatal', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-store-'));
    const file = path.join(dir, 'retries-make.bad.json');
    fs.writeFileSync(file, '{"version":1,"deliveries":[{"id":');
    const { deliveries, problem } = new RetryStore(file, 'make.bad').load();
    assert.deepEqual(deliveries, []);
    assert.match(problem, /is not valid .*moved to .*unreadable/);
    assert.ok(!fs.existsSync(file));
    assert.equal(fs.readdirSync(dir).filter((f) => f.includes('unreadable')).length, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
