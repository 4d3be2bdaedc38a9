'use strict';
// What the durable retry store writes during a broker outage, per delivery:
// 10 000 deliveries of 1 KiB wait to retry for 60 s, each retried every 5 s
// (kept once, rescheduled 12 times, removed when the broker is back), with
// the custom protocol's 200 ms write batching. Time is simulated (no broker,
// no waiting): the store API is called as the custom protocol calls it.
//
//   node bench/retry-store.js            (after npm run build)
//
// "whole set" is the store that rewrites every payload kept on each 200 ms
// flush in which something changed; its bytes are counted, not written (it
// would write gigabytes). "journal" is nodes/lib/core/store/retry-store.js, writing to
// a temporary directory for real, fsyncs included.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { RetryStore, storePayload } = require('../nodes/lib/core/store/retry-store');

const DELIVERIES = Number(process.env.BENCH_DELIVERIES || 10000);
const PAYLOAD_BYTES = 1024;
const RETRY_MS = 5000;
const OUTAGE_MS = 60000;
const FLUSH_MS = 200;

const queue = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
const queueConfig = {
  protocol: { custom_lua: { constructor: 'make.amqp' } },
  retry_interval: '5s',
  max_retry_interval: null,
  max_age: '7 days',
};
const T0 = Date.UTC(2026, 10, 1);

/**
 * The outage as a list of operations on simulated time: delivery i first
 * fails at i × (5 s / N), as the ready queue works through the backlog, then
 * every 5 s for 60 s, and is delivered at the attempt after that.
 */
function operations() {
  const ops = [];
  const payload = storePayload(Buffer.alloc(PAYLOAD_BYTES, 'k'));
  const retries = OUTAGE_MS / RETRY_MS;
  for (let i = 0; i < DELIVERIES; i++) {
    const first = Math.floor((i * RETRY_MS) / DELIVERIES);
    const id = `0A1B2C3D4E5F${String(i).padStart(8, '0')}`;
    const d = {
      id,
      payload,
      queue,
      queueConfig,
      createdMs: T0,
      attempts: 1,
      dueMs: T0 + first + RETRY_MS,
      props: { topic: 'kumomta' },
    };
    ops.push({ at: first, kind: 'put', d });
    for (let k = 1; k <= retries; k++) {
      const at = first + k * RETRY_MS;
      ops.push({ at, kind: 'reschedule', id, attempts: k + 1, dueMs: T0 + at + RETRY_MS });
    }
    ops.push({ at: first + (retries + 1) * RETRY_MS, kind: 'remove', id });
  }
  return ops.sort((a, b) => a.at - b.at);
}

/** Calls `apply` for each operation and `flush` at the end of every 200 ms window that had one. */
async function replay(ops, apply, flush) {
  let i = 0;
  let flushes = 0;
  for (let windowEnd = FLUSH_MS; i < ops.length; windowEnd += FLUSH_MS) {
    let changed = false;
    while (i < ops.length && ops[i].at < windowEnd) {
      apply(ops[i++]);
      changed = true;
    }
    if (changed) {
      await flush();
      flushes++;
    }
  }
  return flushes;
}

async function wholeSet(ops) {
  // The version 1 file, {"version":1,"eventName":"make.amqp","deliveries":[...]}, which that
  // store rewrote and fsynced each time: its size is kept as a sum of its records' sizes,
  // since serialising 17 MiB 350 times would make the benchmark about JSON.stringify.
  const envelope = Buffer.byteLength(JSON.stringify({ version: 1, eventName: 'make.amqp', deliveries: [] }));
  const live = new Map();
  let sum = 0;
  const set = (d) => {
    const size = Buffer.byteLength(JSON.stringify(d));
    sum += size - (live.has(d.id) ? live.get(d.id).size : 0);
    live.set(d.id, { d, size });
  };
  let bytes = 0;
  let largest = 0;
  let checked = false;
  const flushes = await replay(
    ops,
    (op) => {
      if (op.kind === 'put') set(op.d);
      else if (op.kind === 'reschedule') set({ ...live.get(op.id).d, attempts: op.attempts, dueMs: op.dueMs });
      else {
        sum -= live.get(op.id).size;
        live.delete(op.id);
      }
    },
    () => {
      if (live.size === 0) return; // that store removed the file instead
      const size = envelope + sum + live.size - 1; // the commas between records
      if (!checked) {
        const real = Buffer.byteLength(
          JSON.stringify({ version: 1, eventName: 'make.amqp', deliveries: [...live.values()].map((e) => e.d) }),
        );
        if (real !== size) throw new Error(`the whole-set size is miscounted: ${size} instead of ${real}`);
        checked = true;
      }
      bytes += size;
      largest = Math.max(largest, size);
    },
  );
  return { bytes, flushes, largest };
}

async function journal(ops) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-bench-store-'));
  const file = path.join(dir, 'retries-make.amqp.json');
  const store = new RetryStore(file, 'make.amqp', { flushDelayMs: 3600000 });
  store.load();
  let largest = 0;
  const started = process.hrtime.bigint();
  try {
    const flushes = await replay(
      ops,
      (op) => {
        if (op.kind === 'put') store.put(op.d);
        else if (op.kind === 'reschedule') store.reschedule(op.id, op.attempts, op.dueMs);
        else store.remove(op.id);
      },
      async () => {
        await store.flush();
        if (fs.existsSync(file)) largest = Math.max(largest, fs.statSync(file).size);
      },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { bytes: store.bytesWritten, flushes, largest, seconds, leftOver: fs.existsSync(file) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

async function main() {
  const ops = operations();
  const record = Buffer.byteLength(JSON.stringify(ops[0].d));
  process.stderr.write(
    `[bench] ${DELIVERIES} deliveries, ${ops.length} operations, a stored record is ${record} bytes\n`,
  );
  const before = await wholeSet(ops);
  const after = await journal(ops);
  if (after.leftOver) throw new Error('the journal was not removed when the last delivery was');
  const rows = [
    ['store', 'writes (fsync)', 'bytes written', 'per retried delivery', 'largest file'],
    [
      'whole set on each flush',
      String(before.flushes),
      mib(before.bytes),
      `${(before.bytes / DELIVERIES / 1024).toFixed(1)} KiB`,
      mib(before.largest),
    ],
    [
      'journal',
      String(after.flushes),
      mib(after.bytes),
      `${(after.bytes / DELIVERIES / 1024).toFixed(1)} KiB`,
      mib(after.largest),
    ],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r) =>
    `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;
  process.stdout.write(
    [
      `Retry store during a ${OUTAGE_MS / 1000} s outage: ${DELIVERIES} deliveries of ${PAYLOAD_BYTES} B, retried every ${RETRY_MS / 1000} s, writes batched per ${FLUSH_MS} ms`,
      line(rows[0]),
      `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
      line(rows[1]),
      line(rows[2]),
      `journal / whole set: ${(after.bytes / before.bytes).toFixed(4)} of the bytes; the journal's writes took ${after.seconds.toFixed(1)} s of real time`,
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
