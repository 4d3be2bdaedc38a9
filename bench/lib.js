'use strict';
// Shared pieces of the benchmark: the broker, a real Node-RED process in a
// temporary user directory, /proc memory readings and percentile arithmetic.
// Plain CommonJS so `npm run bench` needs no build of its own (only nodes/,
// which `npm run build` compiles from src/).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNodeRed: startNodeRedProcess } = require('../scripts/node-red-process');

const ROOT = path.resolve(__dirname, '..');
const PEER_DIR = path.join(__dirname, '.peer');
const QUEUE = 'kumo-bench';
const BODY_SIZE = 1024;
const BENCH_BROKER = { name: 'kumo-amqp-bench', port: 5697, distPort: 25697 };

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/** AMQP_URL, or a private RabbitMQ started for this run (and stopped by release()). */
async function acquireBroker() {
  if (process.env.AMQP_URL) return { url: process.env.AMQP_URL, release: () => undefined };
  const { startBroker, stopBroker } = require(path.join(ROOT, 'scripts/broker'));
  const broker = await startBroker(BENCH_BROKER, { detached: true });
  return {
    url: broker.url,
    release: () => {
      if (broker.started) {
        log('stopping the private RabbitMQ');
        stopBroker(BENCH_BROKER);
      }
    },
  };
}

/** A side connection for declaring, purging and counting the bench queue. */
async function openSide(url) {
  const amqp = require('amqplib');
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  const version = conn.connection.serverProperties?.version;
  return {
    version: version ? String(version) : 'unknown',
    purge: () => ch.purgeQueue(QUEUE),
    count: async () => (await ch.checkQueue(QUEUE)).messageCount,
    close: async (deleteQueue) => {
      if (deleteQueue) await ch.deleteQueue(QUEUE).catch(() => undefined);
      await conn.close().catch(() => undefined);
    },
  };
}

/** kB fields of /proc/<pid>/status, in MB. VmHWM is the peak resident set. */
function memoryOf(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) / 1024 : NaN;
    };
    return { rss: field('VmRSS'), peak: field('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/**
 * CPU time (user + system) a process has used so far, in µs, from /proc/<pid>/stat
 * (clock ticks of 10 ms: a run of a second or more gives a useful per-message figure).
 */
function cpuUsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10000; // utime, stime (fields 14 and 15)
  } catch {
    return NaN;
  }
}

/**
 * Bytes a process has sent to storage so far: write_bytes of /proc/<pid>/io, counted
 * by the kernel when a page becomes dirty, so whole 4 KiB pages (an append that is
 * fdatasync'd alone costs a page), and nothing of what goes to sockets or pipes.
 */
function writeBytesOf(pid) {
  try {
    const m = /^write_bytes:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const SYNC_EVENTS = ['syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'];

/**
 * What a process writes to disk from now until stop(): bytes to storage (writeBytesOf)
 * and fsync + fdatasync calls, counted by the kernel's syscall tracepoints through
 * `perf stat` in counting mode (nothing sampled, the process is not stopped). The same
 * probe goes on the rows compared, so its small cost per system call is on both sides.
 * Without perf, or without the right to trace the process (root or
 * kernel.perf_event_paranoid ≤ 1), syncs is NaN.
 */
async function diskProbe(pid) {
  let perf = null;
  let text = '';
  let exited = Promise.resolve();
  try {
    perf = spawn('perf', ['stat', '-x', ',', '-I', '100', '-e', SYNC_EVENTS.join(','), '-p', String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    exited = new Promise((resolve) => {
      perf.once('error', resolve);
      perf.once('close', resolve);
    });
    // The first interval line says perf is attached; an exit first says it cannot trace here.
    const attached = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 10000);
      perf.stderr.on('data', (chunk) => {
        text += chunk;
        if (SYNC_EVENTS.some((e) => text.includes(e))) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!attached) {
      log(`perf stat cannot count system calls here: ${text.trim().split('\n')[0] || 'no output'}`);
      if (perf.exitCode === null) perf.kill('SIGKILL');
      perf = null;
    }
  } catch {
    perf = null;
  }
  const bytes0 = writeBytesOf(pid);
  return {
    async stop() {
      const writeBytes = writeBytesOf(pid) - bytes0;
      if (!perf) return { writeBytes, syncs: NaN };
      perf.kill('SIGINT');
      await exited;
      // -x, -I lines: time,count,unit,event,...; each a count for its interval.
      let syncs = 0;
      for (const line of text.split('\n')) {
        const fields = line.split(',');
        if (SYNC_EVENTS.includes(fields[3]) && /^\d+$/.test(fields[1])) syncs += Number(fields[1]);
      }
      return { writeBytes, syncs };
    },
  };
}

/**
 * A copy of the built pack (package.json and nodes/) in a temporary directory, for
 * every Node-RED of one bench run: a `npm run build` elsewhere while the bench runs
 * (nodes/ emptied and written again) then changes nothing, and all rows run the same
 * code. Its node_modules links to the checkout's, where the pack's dependencies are.
 */
function snapshotPack() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-bench-pack-'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(path.join(ROOT, 'nodes'), path.join(dir, 'nodes'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  // Every node file there and loadable: a copy taken in the middle of a build is refused here.
  try {
    for (const file of Object.values(pkg['node-red'].nodes)) {
      if (typeof require(path.join(dir, file)) !== 'function') throw new Error(`${file} exports no node`);
    }
  } catch (err) {
    remove();
    throw new Error(`the built pack is incomplete (a build running?): ${err.message}; run \`npm run build\``);
  }
  return { name: pkg.name, dir, remove };
}

/** Children of this process whose working directory is dir (a Node-RED in its user directory). */
function childrenIn(dir) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && fs.realpathSync(`/proc/${entry}/cwd`) === fs.realpathSync(dir))
        pids.push(Number(entry));
    } catch {
      // The process ended while we looked, or it is not ours to read.
    }
  }
  return pids;
}

/** BENCH_NODE_ARGS: Node.js options for every process the bench measures (Node-RED and raw amqplib's), e.g. a larger young generation. */
function benchNodeArgs() {
  return (process.env.BENCH_NODE_ARGS || '').split(/\s+/).filter(Boolean);
}

/**
 * Starts Node-RED (the devDependency) in a fresh user directory with the given
 * flows and node modules ({name, dir} linked into its node_modules), plus
 * the bench-only driver node of harness/. No editor: only the flows' http in
 * endpoints are served, unless `settings` say otherwise (the metrics rows serve the admin
 * API for /kumo/metrics). scripts/node-red-process.js does the work.
 */
async function startNodeRed({ flows, credentials = null, modules, nodeArgs = [], settings = {} }) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-node-red-'));
  let nodeRed;
  try {
    nodeRed = await startNodeRedProcess({
      flows,
      credentials,
      userDir,
      modules: [...modules, { name: 'kumo-bench-harness', dir: path.join(__dirname, 'harness') }],
      nodeArgs: [...benchNodeArgs(), ...nodeArgs],
      // BENCH_SYNC_DELIVERY: what Node-RED's asynchronous wires cost (a setting users may choose too).
      settings: {
        httpAdminRoot: false,
        ...(process.env.BENCH_SYNC_DELIVERY ? { runtimeSyncDelivery: true } : {}),
        ...settings,
      },
    });
  } catch (err) {
    // A start that timed out leaves its Node-RED running (and this process waiting for it): end it.
    for (const pid of childrenIn(userDir)) process.kill(pid, 'SIGKILL');
    fs.rmSync(userDir, { recursive: true, force: true });
    throw err;
  }
  const { url } = nodeRed;
  return {
    url,
    pid: nodeRed.pid,
    get log() {
      return nodeRed.log;
    },
    memory: () => memoryOf(nodeRed.pid),
    cpuUs: () => cpuUsOf(nodeRed.pid),
    async post(pathname, body, timeoutMs) {
      const response = await fetch(url + pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      if (response.status !== 200)
        throw new Error(`POST ${pathname} answered ${response.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text);
    },
    async get(pathname) {
      const response = await fetch(url + pathname, { signal: AbortSignal.timeout(10000) });
      return JSON.parse(await response.text());
    },
    /** The body of a GET that must answer 200 (a metrics scrape). */
    async getText(pathname) {
      const response = await fetch(url + pathname, { signal: AbortSignal.timeout(10000) });
      const text = await response.text();
      if (!response.ok) throw new Error(`GET ${pathname}: ${response.status}`);
      return text;
    },
    stop: () => nodeRed.stop(),
  };
}

/** Percentile of sorted numbers (nearest rank). */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function latencyStats(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = {
  ROOT,
  PEER_DIR,
  QUEUE,
  BODY_SIZE,
  log,
  acquireBroker,
  openSide,
  startNodeRed,
  benchNodeArgs,
  snapshotPack,
  memoryOf,
  cpuUsOf,
  diskProbe,
  percentile,
  latencyStats,
  median,
  sleep,
};
