'use strict';
// The retry store's journal: what a custom protocol node keeps across a
// restart, written in proportion to what changes, readable after a crash.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { RetryStore } = require('../../nodes/lib/core/store/retry-store');

const QUEUE = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
const CONFIG = {
  protocol: { custom_lua: { constructor: 'make.amqp' } },
  retry_interval: '5s',
  max_retry_interval: null,
  max_age: '1h',
};

function delivery(id, payloadSize = 100, attempts = 1, dueMs = 0) {
  return {
    id,
    payload: { type: 'string', value: 'x'.repeat(payloadSize) },
    queue: QUEUE,
    queueConfig: CONFIG,
    createdMs: 1700000000000,
    attempts,
    dueMs,
    props: { topic: id },
  };
}

function byId(deliveries) {
  return Object.fromEntries(deliveries.map((d) => [d.id, d]));
}

describe('retry store', function () {
  let dir;
  let file;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-retry-store-'));
    file = path.join(dir, 'retries-make.amqp.json');
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A store as the node makes it: loaded first, flushed only when the test says. */
  function open(options = {}) {
    const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000, ...options });
    const loaded = store.load();
    return { store, ...loaded };
  }

  describe('a restart finds the deliveries kept, with their latest schedule', function () {
    it('replays put, reschedule and remove in order', async function () {
      const { store } = open();
      store.put(delivery('a'));
      store.put(delivery('b'));
      store.put(delivery('c'));
      await store.flush();
      store.reschedule('a', 2, 1700000005000);
      store.remove('b');
      store.reschedule('a', 3, 1700000010000);
      store.put(delivery('d', 10, 4, 1700000020000));
      await store.flush();

      const { deliveries, problem } = open();
      assert.equal(problem, null);
      const found = byId(deliveries);
      assert.deepEqual(Object.keys(found).sort(), ['a', 'c', 'd']);
      assert.deepEqual(found.a, delivery('a', 100, 3, 1700000010000));
      assert.deepEqual(found.c, delivery('c'));
      assert.deepEqual(found.d, delivery('d', 10, 4, 1700000020000));
    });

    it('appends to the journal a restarted node loaded, and keeps what it loaded', async function () {
      const first = open().store;
      first.put(delivery('a'));
      await first.flush();
      const second = open();
      assert.equal(second.deliveries.length, 1);
      second.store.put(delivery('b'));
      second.store.reschedule('a', 2, 5);
      await second.store.flush();
      const found = byId(open().deliveries);
      assert.deepEqual(Object.keys(found).sort(), ['a', 'b']);
      assert.equal(found.a.attempts, 2);
    });

    it('writes by itself flushDelayMs after the first operation', async function () {
      const { store } = open({ flushDelayMs: 20 });
      store.put(delivery('a'));
      await store.flush(); // the journal exists: later flushes append
      const before = store.bytesWritten;
      for (let i = 2; i <= 6; i++) store.reschedule('a', i, i * 1000);
      assert.equal(store.bytesWritten, before, 'nothing is written before the delay');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(open().deliveries[0].attempts, 6);
      assert.ok(store.bytesWritten > before);
      assert.equal(
        fs.readFileSync(file, 'utf8').trimEnd().split('\n').length,
        1 + 1 + 5,
        'a header, the put, five reschedules',
      );
    });

    it('ignores a reschedule or remove of a delivery it does not keep', async function () {
      const { store } = open();
      store.put(delivery('a'));
      store.reschedule('nobody', 2, 5);
      store.remove('nobody');
      await store.flush();
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 2, 'a header and the put');
      assert.equal(store.size, 1);
      assert.ok(store.has('a'));
      assert.ok(!store.has('nobody'));
    });

    it('does not keep a delivery whose record JSON cannot write, tells onError, and goes on', async function () {
      const errors = [];
      const { store } = open({ onError: (err) => errors.push(err) });
      const circular = {};
      circular.self = circular;
      assert.equal(store.put({ ...delivery('bad'), payload: { type: 'json', value: circular } }), false);
      assert.equal(store.put(delivery('good')), true);
      await store.flush();
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /delivery bad cannot be kept across a restart/);
      assert.deepEqual(
        open().deliveries.map((d) => d.id),
        ['good'],
      );
    });

    it('starts a whole journal again when its file was removed behind its back', async function () {
      const { store } = open();
      store.put(delivery('a'));
      await store.flush();
      fs.rmSync(file);
      store.put(delivery('b'));
      await store.flush();
      const { deliveries, problem } = open();
      assert.equal(problem, null);
      assert.deepEqual(deliveries.map((d) => d.id).sort(), ['a', 'b']);
    });
  });

  describe('a crash or damaged disk leaves a readable store', function () {
    it('ignores a torn last line (an append a crash cut short) without a problem', async function () {
      const { store } = open();
      store.put(delivery('a'));
      store.put(delivery('b'));
      await store.flush();
      store.reschedule('a', 2, 2000);
      await store.flush();
      const whole = fs.readFileSync(file, 'utf8');
      // The next append cut in the middle of its second line.
      store.remove('b');
      store.put(delivery('c'));
      await store.flush();
      const full = fs.readFileSync(file, 'utf8');
      assert.ok(full.length - whole.length > 100, 'the last append holds a remove and a put');
      fs.writeFileSync(file, full.slice(0, full.length - 40));

      const reopened = open();
      assert.equal(reopened.problem, null);
      const found = byId(reopened.deliveries);
      assert.deepEqual(Object.keys(found).sort(), ['a'], 'the remove of b (whole) counts, the torn put of c does not');
      assert.equal(found.a.attempts, 2);

      // The next write does not append after the torn line: the file stays readable.
      reopened.store.put(delivery('e'));
      await reopened.store.flush();
      const again = open();
      assert.equal(again.problem, null);
      assert.deepEqual(again.deliveries.map((d) => d.id).sort(), ['a', 'e']);
    });

    it('ignores a tail of garbage (a power cut can leave zeros after the last write)', async function () {
      const { store } = open();
      store.put(delivery('a'));
      await store.flush();
      fs.appendFileSync(file, Buffer.alloc(300));
      fs.appendFileSync(file, '\n\0\0\n');
      const { deliveries, problem } = open();
      assert.equal(problem, null);
      assert.deepEqual(
        deliveries.map((d) => d.id),
        ['a'],
      );
    });

    it('keeps what is readable around a damaged line in the middle, and reports it', async function () {
      const { store } = open();
      store.put(delivery('a'));
      store.put(delivery('b'));
      store.put(delivery('c'));
      await store.flush();
      store.reschedule('c', 2, 2000);
      await store.flush();
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines[2] = lines[2].replace('"id":"b"', '"id":"B"'); // a flipped bit: the checksum no longer matches
      fs.writeFileSync(file, lines.join('\n'));

      const { deliveries, problem } = open();
      assert.match(problem, /1 damaged line.*retries-make\.amqp\.json/);
      const found = byId(deliveries);
      assert.deepEqual(Object.keys(found).sort(), ['a', 'c']);
      assert.equal(found.c.attempts, 2);
    });

    it('moves a file that is not a store aside, reports it, and does not throw', function () {
      fs.writeFileSync(file, 'abcdef012345 {"op":"header"}\nnonsense\n');
      const { deliveries, problem } = open();
      assert.deepEqual(deliveries, []);
      assert.match(problem, /is not valid .*moved to .*unreadable/);
      assert.ok(!fs.existsSync(file));
    });

    it('reports a store it cannot read, without throwing', function () {
      fs.mkdirSync(file); // reading a directory fails with EISDIR
      const { deliveries, problem } = open();
      assert.deepEqual(deliveries, []);
      assert.match(problem, /cannot read .*retries-make\.amqp\.json/);
    });

    it('removes the temporary files of snapshots a crash interrupted', function () {
      fs.writeFileSync(`${file}.123.4.tmp`, 'half a snapshot');
      open();
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  it('reads the file of the previous release (version 1: the whole set in one JSON document) and converts it on the next write', async function () {
    const old = { version: 1, eventName: 'make.amqp', deliveries: [delivery('a', 10, 2, 5000), delivery('b')] };
    fs.writeFileSync(file, JSON.stringify(old));
    const { store, deliveries, problem } = open();
    assert.equal(problem, null);
    assert.deepEqual(deliveries, old.deliveries);
    store.reschedule('a', 3, 6000);
    await store.flush();
    assert.ok(!fs.readFileSync(file, 'utf8').startsWith('{'), 'now a journal');
    const found = byId(open().deliveries);
    assert.deepEqual(Object.keys(found).sort(), ['a', 'b']);
    assert.equal(found.a.attempts, 3);
  });

  describe('the file stays in proportion to the live set', function () {
    it('compacts a journal grown beyond twice the live records (plus the floor) into a snapshot of the set', async function () {
      const { store } = open({ compactFloorBytes: 4096 });
      for (let i = 0; i < 20; i++) store.put(delivery(`d${i}`, 200));
      await store.flush();
      const snapshotSize = fs.statSync(file).size;
      let largest = 0;
      const before = store.bytesWritten;
      for (let round = 2; round < 400; round++) {
        for (let i = 0; i < 20; i++) store.reschedule(`d${i}`, round, round * 1000);
        await store.flush();
        largest = Math.max(largest, fs.statSync(file).size);
      }
      const bound = 2 * snapshotSize + 4096 + 20 * 10; // attempts and dueMs grow by a few digits
      assert.ok(store.bytesWritten - before > 2 * bound, 'enough was appended to need compaction');
      assert.ok(largest <= bound, `the journal grew to ${largest} bytes (a snapshot is ${snapshotSize})`);
      assert.ok(fs.statSync(file).size < bound);
      const { deliveries, problem } = open();
      assert.equal(problem, null);
      assert.equal(deliveries.length, 20);
      assert.ok(deliveries.every((d) => d.attempts === 399 && d.dueMs === 399000));
    });

    it('removes the file when nothing is kept', async function () {
      const { store } = open();
      store.put(delivery('a'));
      store.put(delivery('b'));
      await store.flush();
      assert.ok(fs.existsSync(file));
      store.remove('a');
      store.remove('b');
      await store.flush();
      assert.ok(!fs.existsSync(file));
      // And starts a new journal for the next one.
      store.put(delivery('c'));
      await store.flush();
      assert.deepEqual(
        open().deliveries.map((d) => d.id),
        ['c'],
      );
      store.remove('c');
      await store.flush();
      assert.ok(!fs.existsSync(file));
    });

    it('writes, per reschedule, a small line instead of the whole set', async function () {
      const kept = 200;
      const payload = 1024;
      const rounds = 10;
      const { store } = open();
      for (let i = 0; i < kept; i++) store.put(delivery(`d${i}`, payload));
      await store.flush(); // the first write makes the file: a snapshot of the whole set
      const snapshotBytes = store.bytesWritten;
      const before = store.bytesWritten;
      // As during an outage: a few deliveries rescheduled in each 200 ms flush.
      for (let round = 2; round < 2 + rounds; round++) {
        for (let i = 0; i < kept; i += 20) {
          for (let j = i; j < i + 20; j++) store.reschedule(`d${j}`, round, 1700000000000 + round * 5000);
          await store.flush();
        }
      }
      const reschedules = rounds * kept;
      const perReschedule = (store.bytesWritten - before) / reschedules;
      assert.ok(perReschedule < 150, `${perReschedule.toFixed(0)} bytes written per reschedule`);

      // The same changes written the way a store that rewrites the whole set on every flush would:
      // one snapshot per flush of 20 reschedules.
      const wholePerReschedule = snapshotBytes / 20;
      assert.ok(
        wholePerReschedule > 150 * 20,
        `rewriting the whole set: ${wholePerReschedule.toFixed(0)} bytes per reschedule`,
      );
    });
  });

  describe('a failed write', function () {
    function refusing(code) {
      return async () => {
        throw Object.assign(new Error(`${code}: directory fsync refused`), { code });
      };
    }

    for (const code of ['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF']) {
      it(`does not happen when the file system refuses the directory fsync with ${code}`, async function () {
        const { store } = open({ syncDirectory: refusing(code) });
        store.put(delivery('a'));
        await store.flush(); // a snapshot: rename, then the directory's fsync
        store.put(delivery('b'));
        store.remove('a');
        await store.flush();
        assert.deepEqual(
          open().deliveries.map((d) => d.id),
          ['b'],
        );
        store.remove('b');
        await store.flush(); // the file's removal, then the directory's fsync
        assert.ok(!fs.existsSync(file));
      });
    }

    it('is reported to onError when the store wrote by itself, and later writes go on', async function () {
      let failNext = true;
      const errors = [];
      const syncDirectory = async () => {
        if (failNext) {
          failNext = false;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
      };
      const { store } = open({ flushDelayMs: 10, syncDirectory, onError: (err) => errors.push(err) });
      store.put(delivery('a'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(errors.length, 1);
      assert.equal(errors[0].code, 'EIO');
      store.put(delivery('b'));
      await store.flush();
      assert.deepEqual(
        open()
          .deliveries.map((d) => d.id)
          .sort(),
        ['a', 'b'],
      );
    });

    it('rejects each flush() that asked for it, without calling onError', async function () {
      const errors = [];
      const syncDirectory = async () => {
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      };
      const { store } = open({ syncDirectory, onError: (err) => errors.push(err) });
      store.put(delivery('a'));
      await assert.rejects(store.flush(), /EIO/);
      store.put(delivery('b'));
      await assert.rejects(store.flush(), /EIO/);
      assert.deepEqual(errors, []);
    });

    it('is followed by a snapshot, so an append cut short by the error never corrupts the journal', async function () {
      const { store } = open();
      store.put(delivery('a'));
      await store.flush();
      fs.appendFileSync(file, '0123'); // what a failed append may leave behind
      store.put(delivery('b'));
      // A directory in the file's place for a moment: the append fails.
      fs.renameSync(file, `${file}.aside`);
      fs.mkdirSync(file);
      await assert.rejects(store.flush(), { code: 'EISDIR' });
      fs.rmdirSync(file);
      fs.renameSync(`${file}.aside`, file);
      store.put(delivery('c'));
      await store.flush();
      const { deliveries, problem } = open();
      assert.equal(problem, null);
      assert.deepEqual(deliveries.map((d) => d.id).sort(), ['a', 'b', 'c']);
      assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'));
    });
  });
});
