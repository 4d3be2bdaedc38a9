'use strict';
// Bench-only node (loaded into the benchmark's Node-RED, never shipped): the
// generator and the stopwatch of rows (d), (e) and (g), as plain code so that
// it costs little next to the nodes measured (a function node runs in a vm
// context, whose global lookups are slow).
//
// Input from http in POST /bench/start {n, window, size, mode}: generates n
// messages {payload: <size-byte Buffer>, queue: 'amqp'} on output 1, keeping
// `window` of them unsettled; every msg that comes back (publish output 1 =
// confirmed; output 2 or a Catch = failed) settles one, or, for a custom
// protocol batch (msg.kumo.batch, msg.payload the array of the messages'
// payloads), every message of it. When all n are settled the start request is
// answered (output 2 → http response) with {n, ok, failed, ms, p50, p99, clockUs}.
// mode 'fire': for a publisher without confirms, the request is answered at once
// and all n are generated, 500 per timer tick. GET /bench/status answers the progress.
//
// A batch msg is built afresh by the custom protocol and keeps none of the
// messages' own properties, only their payloads. So each message unsettled
// holds one of `window` payload Buffers (same bytes, its own object) and its
// send time is kept by that Buffer's slot: what comes back names its slot.

const { performance } = require('node:perf_hooks');

const clockUs = () => Number(process.hrtime.bigint() / 1000n);

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

module.exports = function register(RED) {
  function BenchDriver(def) {
    RED.nodes.createNode(this, def);
    let run = null;

    const refill = () => {
      const limit = Math.min(run.n, run.ok + run.failed + run.window);
      while (run.sent < limit) {
        run.sent++;
        const slot = run.free.pop();
        run.t0[slot] = performance.now();
        this.send([{ payload: run.pool[slot], queue: 'amqp' }, null]);
      }
    };

    /** Frees the slot of a payload that came back; its latency when it was confirmed. */
    const settle = (payload, ok, now) => {
      const slot = run.slotOf.get(payload);
      if (slot === undefined) {
        // A copy (a Catch node gets a clone of the msg): a failure whose slot is lost,
        // so a new one takes its place and the window stays as wide.
        run.failed++;
        run.firstError ??= 'a payload came back that the driver did not send';
        const buffer = Buffer.from(run.pool[0]);
        run.slotOf.set(buffer, run.pool.length);
        run.free.push(run.pool.length);
        run.pool.push(buffer);
        run.t0 = Float64Array.from([...run.t0, 0]);
        return;
      }
      run.free.push(slot);
      if (ok) run.latencies[run.ok++] = now - run.t0[slot];
      else run.failed++;
    };

    this.on('input', (msg, send, done) => {
      if (msg.req && msg.req.method === 'GET') {
        msg.payload = run
          ? { sent: run.sent, ok: run.ok, failed: run.failed, firstError: run.firstError }
          : { idle: true };
        send([null, msg]);
      } else if (msg.req) {
        const cfg = msg.payload;
        const slots = Math.min(cfg.n, cfg.window);
        const pool = cfg.mode === 'fire' ? [] : Array.from({ length: slots }, () => Buffer.alloc(cfg.size, 'x'));
        run = {
          n: cfg.n,
          window: cfg.window,
          sent: 0,
          ok: 0,
          failed: 0,
          firstError: null,
          latencies: new Float64Array(cfg.n),
          body: Buffer.alloc(cfg.size, 'x'),
          pool,
          slotOf: new Map(pool.map((buffer, slot) => [buffer, slot])),
          free: pool.map((_, slot) => slots - 1 - slot),
          t0: new Float64Array(slots),
          start: performance.now(),
          startUs: clockUs(),
          reply: msg,
        };
        if (cfg.mode === 'fire') {
          const current = run;
          current.reply = null;
          send([null, { ...msg, payload: { started: true } }]);
          const options = { persistent: true };
          const chunk = () => {
            const end = Math.min(current.n, current.sent + 500);
            for (; current.sent < end; current.sent++) this.send([{ payload: current.body, options }, null]);
            if (current.sent < current.n) setTimeout(chunk, 0);
          };
          chunk();
        } else {
          refill();
        }
      } else if (run?.reply) {
        const now = performance.now();
        const ok = msg.amqp && !msg.reject && !msg.error;
        if (!ok && !run.firstError)
          run.firstError = msg.error ? String(msg.error.message) : JSON.stringify(msg.reject || msg.amqp || null);
        if (Array.isArray(msg.kumo?.batch) && Array.isArray(msg.payload)) {
          // Element by element: a batch that went to output 2 may hold confirmed elements too.
          const results = msg.amqp?.results;
          msg.payload.forEach((payload, i) => {
            settle(payload, ok || (!msg.error && results?.[i]?.status === 'Ack'), now);
          });
        } else {
          settle(msg.payload, ok, now);
        }
        if (run.ok + run.failed < run.n) {
          refill();
        } else {
          const ms = performance.now() - run.start;
          const endUs = clockUs();
          const sorted = run.latencies.subarray(0, run.ok).sort();
          const reply = run.reply;
          reply.payload = {
            n: run.n,
            ok: run.ok,
            failed: run.failed,
            ms,
            p50: percentile(sorted, 50),
            p99: percentile(sorted, 99),
            firstError: run.firstError,
            clockUs: [run.startUs, endUs],
          };
          run = null;
          send([null, reply]);
        }
      }
      done();
    });
  }
  RED.nodes.registerType('kumo-bench-driver', BenchDriver);
};
