'use strict';
// The retry journal is input like any other: it may be larger than V8's longest
// string, damaged, written by hand or by an older release, or belong to another
// event name; and it holds message data, so only Node-RED's user may read it.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { DeliveryQueue } = require('../../nodes/lib/core/kumo/delivery-queue');
const { DurableRetries } = require('../../nodes/lib/core/store/durable-retries');
const { encodeData } = require('../../nodes/lib/core/store/message-data');
const {
  RetryStore,
  storeFileName,
  legacyStoreFileName,
  storableProps,
  storePayload,
} = require('../../nodes/lib/core/store/retry-store');
const { QUEUE, CONFIG } = require('../helpers/kumo-queue');

const DAY_MS = 86_400_000;

/** A journal line as versions 2 and 3 wrote it: 48 bits of SHA-1 of its JSON, then the JSON. */
function line(operation) {
  const json = JSON.stringify(operation);
  return `${crypto.createHash('sha1').update(json).digest('hex').slice(0, 12)} ${json}\n`;
}

function stored(id, extra = {}) {
  return {
    id,
    payload: { type: 'string', value: `payload of ${id}` },
    queue: QUEUE,
    queueConfig: CONFIG,
    createdMs: Date.now() - 1000,
    attempts: 2,
    dueMs: Date.now() + DAY_MS,
    props: { topic: id },
    ...extra,
  };
}

describe('the retry journal, read as input', function () {
  let dir;
  let queue;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-journal-'));
    queue = new DeliveryQueue(
      { constructorName: 'make.amqp', attemptTimeoutMs: 60000, maxInFlight: 8 },
      { send() {}, log() {}, changed() {} },
    );
  });
  afterEach(async function () {
    await queue.close(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives msg.properties back whole across a restart: a Date timestamp, a Buffer and a number in headers', async function () {
    const props = {
      topic: 'logging.alt',
      properties: {
        messageId: 'm-7',
        timestamp: new Date('2026-12-06T09:00:00.000Z'),
        headers: { attempt: 3, trace: Buffer.from([1, 2, 3]) },
      },
    };
    const earlier = new RetryStore(storeFileName(dir, 'make.amqp'), 'make.amqp');
    earlier.load();
    earlier.put(
      stored('a', { props: storableProps(props), payload: { type: 'data', value: encodeData({ when: new Date(7) }) } }),
    );
    await earlier.flush();

    const durable = DurableRetries.open(dir, 'make.amqp', assert.fail);
    assert.equal(durable.restoreInto(queue, () => 'id').restored, 1);
    const [back] = queue.retryingDeliveries;
    assert.deepStrictEqual(back.msg.properties, props.properties);
    assert.ok(back.msg.properties.timestamp instanceof Date);
    assert.ok(Buffer.isBuffer(back.msg.properties.headers.trace));
    assert.ok(back.msg.payload.when instanceof Date);
  });

  it('never brings back a field tied to the earlier process or attempt (req, res, kumo, _msgid, an ack handle)', async function () {
    const file = storeFileName(dir, 'make.amqp');
    const hostile = stored('h', {
      props: {
        topic: 't',
        req: { url: '/x' },
        res: { x: 1 },
        kumo: { id: 'other', attempt: 9 },
        _msgid: 'old',
        _amqpAck: 'amqp:1.1.1',
        _kumoLogHook: 'r:1',
      },
    });
    fs.writeFileSync(
      file,
      line({ op: 'header', version: 2, eventName: 'make.amqp' }) + line({ op: 'put', d: hostile }),
    );
    const durable = DurableRetries.open(dir, 'make.amqp', assert.fail);
    assert.equal(durable.restoreInto(queue, () => 'fresh').restored, 1);
    const [back] = queue.retryingDeliveries;
    assert.equal(back.msg.topic, 't');
    for (const gone of ['req', 'res', 'kumo', '_amqpAck', '_kumoLogHook'])
      assert.equal(back.msg[gone], undefined, gone);
    assert.equal(back.msg._msgid, 'fresh');
  });

  it('checks every field of a line before believing it: wrong types are skipped and reported, not restored', function () {
    const file = storeFileName(dir, 'make.amqp');
    const bad = [
      stored('attempts-string', { attempts: '5' }),
      stored('attempts-negative', { attempts: -1 }),
      stored('due-null', { dueMs: null }),
      stored('created-negative', { createdMs: -5 }),
      stored('props-array', { props: [] }),
      stored('payload-odd', { payload: { type: 'buffer', base64: 7 } }),
    ];
    fs.writeFileSync(
      file,
      line({ op: 'header', version: 3, eventName: 'make.amqp' }) +
        bad.map((d) => line({ op: 'put', d })).join('') +
        line({ op: 'reschedule', id: 'good', attempts: 'x', dueMs: 0 }) +
        line({ op: 'put', d: stored('good') }),
    );
    const durable = DurableRetries.open(dir, 'make.amqp', assert.fail);
    const { restored, problem } = durable.restoreInto(queue, () => 'id');
    assert.equal(restored, 1);
    assert.deepEqual(
      queue.retryingDeliveries.map((d) => d.id),
      ['good'],
    );
    assert.match(problem, /7 damaged line\(s\)/);
  });

  it('keeps one file per event name whatever its characters, and does not load a file that names another event', async function () {
    assert.notEqual(storeFileName(dir, 'make:amqp'), storeFileName(dir, 'make_amqp'));
    assert.notEqual(storeFileName(dir, 'make/amqp'), storeFileName(dir, 'make_2famqp'));
    assert.equal(path.dirname(storeFileName(dir, '../../etc/passwd')), dir);

    const colon = new RetryStore(storeFileName(dir, 'make:amqp'), 'make:amqp');
    colon.load();
    colon.put(stored('colon-1'));
    await colon.flush();
    const underscore = DurableRetries.open(dir, 'make_amqp', assert.fail);
    assert.equal(underscore.restoreInto(queue, () => 'id').restored, 0);

    // A file copied under another event's name: its header says whose it is.
    fs.copyFileSync(storeFileName(dir, 'make:amqp'), storeFileName(dir, 'make.other'));
    const other = DurableRetries.open(dir, 'make.other', assert.fail);
    const result = other.restoreInto(queue, () => 'id');
    assert.equal(result.restored, 0);
    assert.match(result.problem, /retry store of event "make:amqp"/);
  });

  it('takes back a store an earlier release kept under the old name, once, and then writes the new one', async function () {
    const legacy = legacyStoreFileName(dir, 'make_amqp');
    fs.writeFileSync(
      legacy,
      line({ op: 'header', version: 2, eventName: 'make_amqp' }) + line({ op: 'put', d: stored('old') }),
    );
    assert.notEqual(legacy, storeFileName(dir, 'make_amqp'));
    const durable = DurableRetries.open(dir, 'make_amqp', assert.fail);
    assert.equal(durable.restoreInto(queue, () => 'id').restored, 1);
    durable.store.put(stored('new'));
    await durable.store.flush();
    assert.ok(fs.existsSync(storeFileName(dir, 'make_amqp')));
    assert.ok(!fs.existsSync(legacy));
  });

  it('creates its directory readable by the user alone (0700) and narrows one that is wider', async function () {
    const storeDir = path.join(dir, 'kumo-amqp');
    const durable = DurableRetries.open(storeDir, 'make.amqp', assert.fail);
    durable.restoreInto(queue, () => 'id');
    durable.store.put(stored('a'));
    await durable.store.flush();
    assert.equal(fs.statSync(storeDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(storeFileName(storeDir, 'make.amqp')).mode & 0o777, 0o600);

    fs.chmodSync(storeDir, 0o755);
    DurableRetries.open(storeDir, 'make.amqp', assert.fail);
    assert.equal(fs.statSync(storeDir).mode & 0o777, 0o700);
  });

  it("writes a Buffer payload's line as the JSON of the delivery, and reads the same bytes back", async function () {
    const file = storeFileName(dir, 'make.amqp');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const d = stored('bytes', { payload: storePayload(bytes), props: { topic: 'quote " and \\ backslash' } });
    const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 });
    store.load();
    store.put(d);
    await store.flush();
    const put = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l.slice(9)))
      .find((o) => o.op === 'put');
    assert.deepEqual(put, JSON.parse(JSON.stringify({ op: 'put', d })));
    const [back] = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 }).load().deliveries;
    assert.deepEqual(Buffer.from(back.payload.base64, 'base64'), bytes);
    assert.equal(back.props.topic, 'quote " and \\ backslash');
  });

  it('reads a journal of version 3 (SHA-1 checksums) and writes version 4 from then on: CRC-32, a damaged line skipped', async function () {
    const file = storeFileName(dir, 'make.amqp');
    fs.writeFileSync(
      file,
      line({ op: 'header', version: 3, eventName: 'make.amqp' }) +
        line({ op: 'put', d: stored('old-1') }) +
        line({ op: 'put', d: stored('old-2') }),
    );
    const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 });
    assert.deepEqual(
      store.load().deliveries.map((d) => d.id),
      ['old-1', 'old-2'],
    );
    store.put(stored('new'));
    await store.flush();
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    for (const written of lines) {
      const [, sum, json] = /^([0-9a-f]+) (.*)$/s.exec(written);
      assert.equal(sum, zlib.crc32(json).toString(16).padStart(8, '0'), written.slice(0, 60));
    }
    assert.equal(JSON.parse(lines[0].slice(9)).version, 4);

    // One character of a line changed: its checksum no longer matches, the line is skipped and reported.
    const damaged = lines.map((l) => (l.includes('"old-2"') ? l.replace('payload of old-2', 'payload of old-X') : l));
    fs.writeFileSync(file, `${damaged.join('\n')}\n`);
    const again = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 }).load();
    assert.deepEqual(again.deliveries.map((d) => d.id).sort(), ['new', 'old-1']);
    assert.match(again.problem, /1 damaged line/);
  });

  it('reads a journal larger than the longest string V8 can hold (about 512 MiB), a line at a time', async function () {
    this.timeout(180000);
    const file = storeFileName(dir, 'make.amqp');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, line({ op: 'header', version: 3, eventName: 'make.amqp' }));
    const payload = { type: 'buffer', base64: Buffer.alloc(48 * 1024, 7).toString('base64') };
    const count = 9000; // 9 000 × 64 KiB of base64 ≈ 590 MB
    for (let i = 0; i < count; i++) fs.writeSync(fd, line({ op: 'put', d: stored(`d${i}`, { payload }) }));
    // An append a crash cut short: the next write rewrites the whole set as a snapshot.
    fs.writeSync(fd, line({ op: 'remove', id: 'd1' }).slice(0, 20));
    fs.closeSync(fd);
    assert.ok(fs.statSync(file).size > 2 ** 29, 'the file is longer than V8 allows a string to be');

    const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 });
    const { deliveries, problem } = store.load();
    assert.equal(problem, null);
    assert.equal(deliveries.length, count);
    assert.equal(store.size, count);
    // The next write (a snapshot, after the torn tail) streams it back out, whole.
    store.remove('d0');
    await store.flush();
    const again = new RetryStore(file, 'make.amqp').load();
    assert.equal(again.problem, null, 'rewritten whole: no torn line left in the middle');
    assert.equal(again.deliveries.length, count - 1);
  });
});
