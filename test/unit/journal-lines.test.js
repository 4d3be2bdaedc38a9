'use strict';
// The journal writes a put line field by field (the queue config's JSON made once per frozen
// config, a Buffer payload's base64 copied as it is) instead of JSON.stringify of the whole
// delivery. Whatever a delivery holds, the line reads back as exactly what JSON.stringify would
// have written, and a store opened on the file finds every delivery whole.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const fc = require('fast-check');
const { RetryStore, storePayload } = require('../../nodes/lib/core/store/retry-store');

const deepFreeze = (value) => {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
};

// Text with what JSON must escape: quotes, backslashes, control characters, non-ASCII, lone surrogates.
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('"', '\\', '\n', '\u0000', '\u2028', '\ud800', 'é'),
);
const nameOrNull = fc.option(text, { nil: null });
const queue = fc.record({
  name: text,
  domain: text,
  tenant: nameOrNull,
  campaign: nameOrNull,
  routing_domain: nameOrNull,
});
const config = fc
  .record({
    protocol: fc.record({
      custom_lua: fc.record({ constructor: text, batch_size: fc.integer({ min: 1, max: 1000 }) }),
    }),
    retry_interval: text,
    max_retry_interval: nameOrNull,
    max_age: text,
  })
  .map((c) => (c.max_age.length % 2 === 0 ? deepFreeze(c) : c)); // frozen (cached JSON) or not
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => storePayload(Buffer.from(bytes))),
  text.map((value) => storePayload(value)),
  fc.jsonValue({ maxDepth: 3 }).map((value) => ({ type: 'json', value })),
  fc.constant(storePayload(undefined)),
);
const delivery = fc.record({
  id: text.filter((id) => id.length > 0), // the journal reads back ids of 1 to 128 characters
  payload,
  queue,
  queueConfig: config,
  createdMs: fc.integer({ min: 0, max: 2 ** 47 }),
  attempts: fc.nat(1000),
  dueMs: fc.integer({ min: 0, max: 2 ** 47 }),
  props: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
});

describe('journal put lines', function () {
  this.timeout(60000);
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-journal-lines-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('read back as what JSON.stringify of the delivery writes, and restore each delivery whole', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(delivery, { minLength: 1, maxLength: 8, selector: (d) => d.id }), async (ds) => {
        const file = path.join(dir, `journal-${++run}.json`);
        const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 60000 });
        store.load();
        // The same config object twice: the second put takes the JSON kept for it.
        for (const d of ds) store.put({ ...d, queueConfig: ds[0].queueConfig });
        for (const d of ds) store.put({ ...d, queueConfig: ds[0].queueConfig });
        await store.flush();
        const expected = ds.map((d) =>
          JSON.parse(JSON.stringify({ op: 'put', d: { ...d, queueConfig: ds[0].queueConfig } })),
        );
        const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
        const puts = lines.map((line) => JSON.parse(line.slice(9))).filter((o) => o.op === 'put');
        assert.deepEqual(puts, expected);
        const restored = new RetryStore(file, 'make.amqp').load();
        assert.equal(restored.problem, null);
        assert.deepEqual(
          restored.deliveries.map((d) => JSON.parse(JSON.stringify(d))),
          expected.map((o) => o.d),
        );
      }),
      { numRuns: 150 },
    );
  });
});
