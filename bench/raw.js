'use strict';
// Rows (a), (b), (c): raw amqplib, each in its own process so its peak RSS is its own.
//   node bench/raw.js '{"row":"a","n":20000,"runs":3,"warmup":500,"url":"amqp://...","window":1000}'
// Prints one JSON line: {runs: [{n, ms, p50, p99, cpuUsPerMsg, clockUs}], peakMB}.

const { performance } = require('node:perf_hooks');
const amqp = require('amqplib');
const { QUEUE, BODY_SIZE, latencyStats, memoryOf } = require('./lib');

const WINDOW = Number(process.env.BENCH_WINDOW) || 1000; // confirms in flight for (a) unless the row says
const OPTIONS = { persistent: true };
const clockUs = () => Number(process.hrtime.bigint() / 1000n);

/** (a) one confirm channel, up to `window` unconfirmed, pausing on a full socket until 'drain'. */
function pipelined(ch, n, body, window) {
  const latencies = new Float64Array(n);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    let writable = true;
    const start = performance.now();
    const pump = () => {
      while (writable && sent < n && sent - confirmed < window) {
        const i = sent++;
        const t0 = performance.now();
        writable = ch.publish('', QUEUE, body, OPTIONS, (err) => {
          if (err) {
            reject(err);
            return;
          }
          latencies[i] = performance.now() - t0;
          if (++confirmed === n) {
            ch.removeListener('drain', onDrain);
            resolve({ ms: performance.now() - start, latencies });
          } else {
            pump();
          }
        });
      }
    };
    const onDrain = () => {
      writable = true;
      pump();
    };
    ch.on('drain', onDrain);
    pump();
  });
}

/** (b) one confirm channel, each publish waits for the previous confirm. */
async function oneByOne(ch, n, body) {
  const latencies = new Float64Array(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) =>
      ch.publish('', QUEUE, body, OPTIONS, (err) => (err ? reject(err) : resolve())),
    );
    latencies[i] = performance.now() - t0;
  }
  return { ms: performance.now() - start, latencies };
}

/**
 * (c) the seed's way: a new client (connection + confirm channel) per message,
 * waiting for its confirm. The latency is the seed's whole publish: connect,
 * open the channel, publish, confirm; closing counts in msg/s only.
 */
async function clientPerMessage(url, n, body) {
  const latencies = new Float64Array(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const conn = await amqp.connect(url);
    const ch = await conn.createConfirmChannel();
    await new Promise((resolve, reject) =>
      ch.publish('', QUEUE, body, OPTIONS, (err) => (err ? reject(err) : resolve())),
    );
    latencies[i] = performance.now() - t0;
    await conn.close();
  }
  return { ms: performance.now() - start, latencies };
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const body = Buffer.alloc(BODY_SIZE, 'x');
  const conn = await amqp.connect(cfg.url);
  const side = await conn.createChannel();
  await side.assertQueue(QUEUE, { durable: true });
  const ch = await conn.createConfirmChannel();
  const once = (n) => {
    if (cfg.row === 'a') return pipelined(ch, n, body, cfg.window || WINDOW);
    if (cfg.row === 'b') return oneByOne(ch, n, body);
    return clientPerMessage(cfg.url, n, body);
  };
  if (cfg.warmup > 0) await once(cfg.warmup);
  const runs = [];
  for (let r = 0; r < cfg.runs; r++) {
    await side.purgeQueue(QUEUE);
    const cpu0 = process.cpuUsage();
    const clock0 = clockUs();
    const { ms, latencies } = await once(cfg.n);
    const clockUsRange = [clock0, clockUs()]; // for bench/profile.js: the timed run within a CPU profile
    const cpu = process.cpuUsage(cpu0);
    runs.push({
      n: cfg.n,
      ms,
      ...latencyStats(latencies),
      cpuUsPerMsg: (cpu.user + cpu.system) / cfg.n,
      clockUs: clockUsRange,
    });
  }
  await side.purgeQueue(QUEUE);
  await conn.close();
  process.stdout.write(`${JSON.stringify({ runs, peakMB: memoryOf('self').peak })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
