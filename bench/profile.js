#!/usr/bin/env node
'use strict';
// CPU profile of row (e)'s hot path: Node-RED runs with --cpu-prof while the
// bench function pushes BENCH_N messages through queue config ⇒ custom protocol
// → amqp publish; only the samples inside the timed run are counted.
//
//   node bench/profile.js                       profile row (e) (BENCH_N, AMQP_URL as for run.js)
//   PROFILE_ROW=d node bench/profile.js         the publish node alone instead
//   PROFILE_ROW=e_b node bench/profile.js       row (e) with the rule's batch_size 100, 800 in flight
//   PROFILE_ROW=e_nospool, e_b_nospool          (e) and (e_b) with the custom protocol's Spool off
//   PROFILE_ROW=f node bench/profile.js         the webhook example over HTTP (driven from here)
//   PROFILE_ROW=f_b node bench/profile.js       the webhook example fed KumoMTA batches of 100 records
//   PROFILE_ROW=h node bench/profile.js         Node-RED's bare http in → http response
//   PROFILE_ROW=a, a128, a800                   raw amqplib (bench/raw.js) at 1000, 128, 800 in flight
//   PROFILE_ROWS=d,e,e_b,f,f_b,h node bench/profile.js   each row in turn, then one table of where a
//                                               message's CPU goes, by whom it was spent for (docs/performance.md keeps it)
//   PROFILE_INTERVAL_US=200                     the sampling interval (µs)
//   node bench/profile.js some.cpuprofile       summarise an existing profile (whole duration)
//   PROFILE_SETTINGS='{"kumoMetrics":false}'    the Node-RED settings to run it with (JSON)
// Needs `npm run build` first.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');
const flows = require('./flows');
const {
  rawRow,
  benchRun,
  webhookRun,
  batchWebhookRun,
  bareHttpRun,
  checkBuilt,
  BATCH,
  BATCH_WINDOW,
} = require('./run');

const TOP = Number(process.env.PROFILE_TOP) || 15;
// The sampling interval: finer than V8's default (1 ms), so that a cost of a µs per message shows in enough samples.
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US) || 200;
/** Node.js options that write the process's CPU profile into `dir`. */
const profilerArgs = (dir) => ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(INTERVAL_US)];
// Node-RED settings for the profiled process, as JSON (e.g. '{"httpAdminRoot":"/admin","kumoMetrics":false}').
const PROFILE_SETTINGS = process.env.PROFILE_SETTINGS ? JSON.parse(process.env.PROFILE_SETTINGS) : {};

function category(url, functionName) {
  if (!url)
    return /^\((garbage collector|program|idle|root)\)$/.test(functionName) ? `V8 ${functionName}` : 'V8 / native';
  const file = url.replace(/^file:\/\//, '');
  // The pack runs from a copy of nodes/ (lib.snapshotPack); a flow's function nodes have urls of their own.
  if (file.startsWith(path.join(lib.ROOT, 'nodes') + path.sep) || /\/kumo-bench-pack-[^/]+\/nodes\//.test(file))
    return 'ours (nodes/)';
  if (file.startsWith('Function node:')) return "the flow's function nodes";
  if (/node_modules\/amqplib\//.test(file)) return 'amqplib';
  if (/node_modules\/(@node-red\/|node-red\/)/.test(file)) return 'Node-RED';
  if (file.startsWith(path.join(__dirname, 'harness') + path.sep)) return 'bench driver (harness/)';
  if (file.startsWith('node:')) return 'Node.js core';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return m ? `other: ${m[1]}` : 'other';
}

function shortUrl(url) {
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) return file.slice(nm + 'node_modules/'.length);
  const copy = /\/kumo-bench-pack-[^/]+\/(nodes\/.*)$/.exec(file);
  if (copy) return copy[1];
  return file.startsWith(lib.ROOT) ? path.relative(lib.ROOT, file) : file;
}

// Who the time is spent for: a sample in Node.js's or V8's own code (a socket write, a
// Buffer copy, a JSON.stringify) counts for the nearest caller on its stack that is the
// pack, Node-RED, amqplib or the bench driver. The pack is split in two: its journal
// (core/store/, the spool) and the rest. GC and V8's bookkeeping have no caller.
const OWNER_CATEGORIES = new Set([
  'ours (nodes/)',
  'Node-RED',
  "the flow's function nodes",
  'amqplib',
  'bench driver (harness/)',
]);

function ownerOf(node) {
  const { url, functionName } = node.callFrame;
  if (functionName === '(root)') return 'Node.js on its own';
  const cat = category(url, functionName);
  if (cat === 'ours (nodes/)') {
    if (/\/lib\/core\/store\//.test(url)) return 'the journal';
    // It writes amqplib's frames to the socket (core/amqp/socket-writes.ts): amqplib's cost, as in raw amqplib.
    if (/\/lib\/core\/amqp\/socket-writes\.js$/.test(url)) return 'amqplib';
    return 'the pack';
  }
  if (OWNER_CATEGORIES.has(cat)) return cat;
  if (cat.startsWith('other: ')) return 'Node-RED'; // express, i18next, ...: Node-RED's own dependencies
  if (/^V8 \(/.test(cat)) return cat;
  return null;
}

/** Self time per function (and per category) from samples within [fromUs, toUs] (profile clock). */
function summarise(profile, fromUs = -Infinity, toUs = Infinity) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children || []) parentOf.set(child, n.id);
  const owners = new Map();
  const ownerById = (id) => {
    if (owners.has(id)) return owners.get(id);
    const parent = parentOf.get(id);
    const owner = ownerOf(byId.get(id)) ?? (parent === undefined ? 'Node.js on its own' : ownerById(parent));
    owners.set(id, owner);
    return owner;
  };
  const self = new Map();
  const byCaller = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < fromUs || t > toUs) continue;
    // A sample's time is the gap to the next sample.
    const dt = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    const node = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${url}\u0000${lineNumber}\u0000${functionName}`;
    self.set(key, (self.get(key) || 0) + dt);
    const owner = ownerById(node.id);
    byCaller.set(owner, (byCaller.get(owner) || 0) + dt);
    total += dt;
  }
  const rows = [...self]
    .map(([key, us]) => {
      const [url, line, name] = key.split('\u0000');
      return {
        name: name || '(anonymous)',
        where: url ? `${shortUrl(url)}:${Number(line) + 1}` : '',
        category: category(url, name),
        us,
      };
    })
    .sort((a, b) => b.us - a.us);
  const categories = new Map();
  for (const r of rows) categories.set(r.category, (categories.get(r.category) || 0) + r.us);
  return {
    total,
    rows,
    categories: [...categories].sort((a, b) => b[1] - a[1]),
    byCaller: [...byCaller].sort((a, b) => b[1] - a[1]),
  };
}

function print({ total, rows, categories, byCaller }, title) {
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const out = [`${title}: ${(total / 1000).toFixed(0)} ms of samples`, '', 'Self time by origin:'];
  for (const [name, us] of categories) out.push(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  out.push(
    '',
    "By caller (Node.js's and V8's own code counted for the pack, Node-RED or amqplib when they called it):",
  );
  for (const [name, us] of byCaller) out.push(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  for (const cat of ['ours (nodes/)', 'Node-RED', "the flow's function nodes", 'amqplib']) {
    out.push('', `Top ${TOP} self time, ${cat}:`);
    for (const r of rows.filter((x) => x.category === cat).slice(0, TOP))
      out.push(`  ${pct(r.us)}  ${r.name}  ${r.where}`);
  }
  out.push('', `Top ${TOP} self time, everything:`);
  for (const r of rows.slice(0, TOP)) out.push(`  ${pct(r.us)}  ${r.name}  ${r.where}  [${r.category}]`);
  process.stdout.write(`${out.join('\n')}\n`);
}

async function profileRow(row) {
  checkBuilt();
  // (f), (f_b) and (h) are driven over HTTP by this process; (d), (e) and (e_b) by the bench driver node.
  const rows = {
    d: [flows.publishAlone, benchRun],
    e: [flows.fullRouting, benchRun],
    e_nospool: [(url) => flows.fullRouting(url, undefined, { spool: false }), benchRun],
    e_b: [
      (url) => flows.fullRouting(url, BATCH_WINDOW, { batchSize: BATCH }),
      (nr, count) => benchRun(nr, count, BATCH_WINDOW),
    ],
    e_b_nospool: [
      (url) => flows.fullRouting(url, BATCH_WINDOW, { batchSize: BATCH, spool: false }),
      (nr, count) => benchRun(nr, count, BATCH_WINDOW),
    ],
    f: [flows.webhookExample, webhookRun],
    f_b: [flows.webhookExample, batchWebhookRun],
    h: [flows.bareHttp, bareHttpRun],
  };
  const n = Math.max(100, Number(process.env.BENCH_N) || 20000);
  if (RAW_WINDOWS[row]) return profileRaw(row, n);
  if (!rows[row])
    throw new Error(`PROFILE_ROW=${row}: only ${[...Object.keys(RAW_WINDOWS), ...Object.keys(rows)].join(', ')}`);
  const [make, drive] = rows[row];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-bench-prof-'));
  const pack = lib.snapshotPack();
  const broker = await lib.acquireBroker().catch((err) => {
    pack.remove();
    throw err;
  });
  let side = null;
  try {
    side = await lib.openSide(broker.url);
    const nr = await lib.startNodeRed({
      flows: make(broker.url),
      modules: [pack],
      nodeArgs: profilerArgs(dir),
      settings: PROFILE_SETTINGS,
    });
    let run;
    try {
      await drive(nr, Math.min(1000, n));
      await side.purge();
      const clock0 = Number(process.hrtime.bigint() / 1000n);
      run = await drive(nr, n);
      run.clockUs = run.clockUs || [clock0, Number(process.hrtime.bigint() / 1000n)];
      await side.purge();
    } finally {
      await nr.stop();
    }
    const { file, profile } = readProfile(dir);
    return { row, run, file, summary: summarise(profile, run.clockUs[0], run.clockUs[1]) };
  } finally {
    if (side) await side.close(!!process.env.AMQP_URL);
    broker.release();
    pack.remove();
  }
}

// Raw amqplib's rows, profiled the same way: bench/raw.js in a process of its own.
const RAW_WINDOWS = { a: 1000, a128: 128, a800: BATCH_WINDOW };

function readProfile(dir) {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return { file: path.join(dir, file), profile: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) };
}

async function profileRaw(row, n) {
  checkBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-bench-prof-'));
  const broker = await lib.acquireBroker();
  try {
    const warmup = Math.min(1000, n);
    const { runs } = await rawRow('a', n, warmup, broker.url, 1, RAW_WINDOWS[row], profilerArgs(dir));
    const run = runs[0];
    const { file, profile } = readProfile(dir);
    return { row, run, file, summary: summarise(profile, run.clockUs[0], run.clockUs[1]) };
  } finally {
    broker.release();
  }
}

/** One row's profile, printed in full. */
async function profileOne(row) {
  const { run, file, summary } = await profileRow(row);
  process.stdout.write(
    `Row (${row}), N=${run.n}: ${((run.n / run.ms) * 1000).toFixed(0)} msg/s under the profiler; profile ${file} (timed run ${run.clockUs[0]}..${run.clockUs[1]})\n\n`,
  );
  print(summary, `Samples within the timed run (${(run.ms / 1000).toFixed(1)} s)`);
}

// The table's columns: who the time was spent for (summarise's byCaller), some taken together.
const COLUMNS = [
  ['the journal (spool)', ['the journal']],
  ['the rest of the pack', ['the pack']],
  ['Node-RED', ['Node-RED', "the flow's function nodes"]],
  ['amqplib (and its socket writes)', ['amqplib']],
  ['Node.js on its own (socket reads, HTTP, timers)', ['Node.js on its own']],
  ['GC', ['V8 (garbage collector)']],
  ['V8 other', ['V8 (program)']],
  ['bench driver', ['bench driver (harness/)']],
];

/** Several rows in turn, then one table: busy CPU µs per message, by origin, and the pack's top functions. */
async function profileTable(rows) {
  const lines = [
    `| row | msg/s under the profiler | idle | busy µs/msg | ${COLUMNS.map(([name]) => name).join(' | ')} | the pack's top functions (µs/msg) |`,
    `|---|---:|---:|---:|${COLUMNS.map(() => '---:|').join('')}---|`,
  ];
  for (const row of rows) {
    const { run, summary } = await profileRow(row);
    process.stderr.write(`[profile] ${row} done\n`);
    const by = new Map(summary.byCaller);
    const perMsg = (us) => (us / run.n).toFixed(1);
    const idle = by.get('V8 (idle)') || 0;
    const busy = summary.total - idle;
    const columns = COLUMNS.map(([, names]) => perMsg(names.reduce((sum, name) => sum + (by.get(name) || 0), 0)));
    const top = summary.rows
      .filter((r) => r.category === 'ours (nodes/)' && !r.where.includes('socket-writes'))
      .slice(0, 3)
      .map((r) => `${r.name} ${perMsg(r.us)}`)
      .join(', ');
    const rate = ((run.n / run.ms) * 1000).toFixed(0);
    const idleShare = `${((100 * idle) / summary.total).toFixed(0)}%`;
    lines.push(`| ${row} | ${rate} | ${idleShare} | ${perMsg(busy)} | ${columns.join(' | ')} | ${top} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const fail = (err) => {
  process.stderr.write(`profile failed: ${err.stack || err}\n`);
  process.exit(1);
};

if (process.argv[2]) {
  print(summarise(JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))), process.argv[2]);
} else if (process.env.PROFILE_ROWS) {
  profileTable(process.env.PROFILE_ROWS.split(',').map((row) => row.trim())).catch(fail);
} else {
  profileOne(process.env.PROFILE_ROW || 'e').catch(fail);
}
