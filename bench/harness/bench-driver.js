'use strict';
// Bench-only node (loaded into the benchmark's Node-RED, never shipped): the
// generator and the stopwatch of rows (d), (e) and (g), as plain code so that
// it costs little next to the nodes measured (a function node runs in a vm
// context, whose global lookups are slow).
//
// Input from http in POST /bench/start {n, window, size, mode}: generates n
// messages {payload: <size-byte Buffer>, queue: 'amqp', t0} on output 1,
// keeping `window` of them unsettled; every msg that comes back (publish
// output 1 = confirmed; output 2 or a Catch = failed) settles one. When all n
// are settled the start request is answered (output 2 → http response) with
// {n, ok, failed, ms, p50, p99, clockUs}. mode 'fire': for a publisher without
// confirms, the request is answered at once and all n are generated, 500 per
// timer tick. GET /bench/status answers the progress.

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
        this.send([{ payload: run.body, queue: 'amqp', t0: performance.now() }, null]);
      }
    };

    this.on('input', (msg, send, done) => {
      if (msg.req && msg.req.method === 'GET') {
        msg.payload = run
          ? { sent: run.sent, ok: run.ok, failed: run.failed, firstError: run.firstError }
          : { idle: true };
        send([null, msg]);
      } else if (msg.req) {
        const cfg = msg.payload;
        run = {
          n: cfg.n,
          window: cfg.window,
          sent: 0,
          ok: 0,
          failed: 0,
          firstError: null,
          latencies: new Float64Array(cfg.n),
          body: Buffer.alloc(cfg.size, 'x'),
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
        if (msg.amqp && !msg.reject && !msg.error) {
          run.latencies[run.ok++] = performance.now() - msg.t0;
        } else {
          run.failed++;
          if (!run.firstError)
            run.firstError = msg.error ? String(msg.error.message) : JSON.stringify(msg.reject || msg.amqp || null);
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
