#!/usr/bin/env node
'use strict';
// node bench/consume.js: the consuming side, in one run on one broker.
//   a. raw amqplib: consume → ack, prefetch P
//   b. Node-RED: amqp consume (prefetch P) → amqp ack
//   c. raw amqplib relay: consume queue A → publish to B on a confirm channel → ack A's message after B's confirm
//   d. Node-RED relay: amqp consume → amqp publish (confirm) → amqp ack
// Each run: N persistent 1 KiB messages are put in the source queue (confirmed), then a fresh
// consumer process (a child for the raw rows, a Node-RED for the others) drains it. Every row is
// timed the same way, from outside, by polling the broker's queue counts: from the first poll that
// sees the source queue below N until the one that sees it empty (and, for a relay, B holding all N).
// The last ≤P messages are then still being acked: the same for every row. 3 runs per row,
// interleaved row by row; the median is printed, and each Node-RED row as a ratio of its raw peer.
//
//   BENCH_N=20000 (default)   messages per run
//   BENCH_PREFETCH=100        prefetch of every consumer (amqp consume's default)
//   AMQP_URL=amqp://...       reuse a broker, else a private RabbitMQ (port 5697) is started and stopped
//   BENCH_PROFILE_DIR=dir     the Node-RED rows run under --cpu-prof, writing their profiles there
//                             (summarise one with `node bench/profile.js <file>`)
// Needs `npm run build` first (Node-RED loads the built nodes/).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const amqp = require('amqplib');
const lib = require('./lib');

const { ROOT, BODY_SIZE, log, median } = lib;
const N = Math.max(1000, Number(process.env.BENCH_N) || 20000);
const PREFETCH = Number(process.env.BENCH_PREFETCH) || 100;
const RUNS = 3;
const POLL_MS = 5;
const SOURCE = 'kumo-bench-consume';
const TARGET = 'kumo-bench-consume-relayed';
const PACK = { name: '@kumo-flows/node-red-kumo-amqp', dir: ROOT };

// ---- the raw amqplib consumers, each in a child process of its own (as Node-RED is) ----

async function rawConsumer({ url, mode, prefetch }) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  if (mode === 'ack') {
    await channel.consume(SOURCE, (m) => channel.ack(m));
  } else {
    const confirm = await connection.createConfirmChannel();
    await channel.consume(SOURCE, (m) => {
      confirm.sendToQueue(TARGET, m.content, { persistent: true }, (err) => {
        if (err) channel.nack(m, false, true);
        else channel.ack(m);
      });
    });
  }
  process.stdout.write('consuming\n');
}

// ---- the Node-RED flows ----

function flow(url, mode) {
  const nodes = [
    { id: 'tab', type: 'tab', label: 'bench consume' },
    { id: 'broker', type: 'amqp-broker', name: 'bench', url, heartbeat: 60, connectionName: 'bench consume' },
    {
      id: 'in',
      z: 'tab',
      type: 'amqp-consume',
      broker: 'broker',
      queue: SOURCE,
      declare: false,
      prefetch: PREFETCH,
      ackMode: 'manual',
      output: 'auto',
      wires: [[mode === 'ack' ? 'settle' : 'pub']],
    },
    { id: 'settle', z: 'tab', type: 'amqp-ack', action: 'ack', wires: [[]] },
  ];
  if (mode === 'relay') {
    nodes.push({
      id: 'pub',
      z: 'tab',
      type: 'amqp-publish',
      broker: 'broker',
      exchange: '',
      routingKey: TARGET,
      routingKeyType: 'str',
      persistent: true,
      waitForConfirm: true,
      confirmTimeout: 30,
      maxWaiting: 10000,
      wires: [['settle'], []],
    });
  }
  return nodes;
}

// ---- one run ----

async function fill(side) {
  await side.channel.purgeQueue(SOURCE);
  await side.channel.purgeQueue(TARGET);
  const body = Buffer.alloc(BODY_SIZE, 'x');
  for (let i = 0; i < N; i += 1000) {
    for (let j = i; j < Math.min(N, i + 1000); j++) side.confirm.sendToQueue(SOURCE, body, { persistent: true });
    await side.confirm.waitForConfirms();
  }
}

/** Polls the queues until the source is drained (and the target full, for a relay); returns msg/s. */
async function timeDrain(side, relay, deadlineMs = 300000) {
  const until = Date.now() + deadlineMs;
  let start = null;
  for (;;) {
    const now = performance.now();
    const { messageCount: left } = await side.channel.checkQueue(SOURCE);
    if (start === null && left < N) start = now;
    if (start !== null && left === 0) {
      if (!relay || (await side.channel.checkQueue(TARGET)).messageCount >= N) return (N * 1000) / (now - start);
    }
    if (Date.now() > until) throw new Error(`the source queue still holds ${left} of ${N} messages`);
    await lib.sleep(POLL_MS); // the broker's counters have no event to wait for
  }
}

function startRaw(url, mode) {
  const child = spawn(process.execPath, [__filename, '--raw', JSON.stringify({ url, mode, prefetch: PREFETCH })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    stop: async () => {
      child.kill();
      await exited;
    },
    failure: exited.then((code) => new Error(`raw consumer exited (${code}): ${stderr.trim()}`)),
  };
}

async function run(side, url, row) {
  await fill(side);
  const relay = row.mode === 'relay';
  if (row.raw) {
    const raw = startRaw(url, row.mode);
    try {
      return await Promise.race([timeDrain(side, relay), raw.failure.then((err) => Promise.reject(err))]);
    } finally {
      await raw.stop();
    }
  }
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(profileDir)] : [];
  const nr = await lib.startNodeRed({ flows: flow(url, row.mode), modules: [PACK], nodeArgs });
  try {
    return await timeDrain(side, relay);
  } catch (err) {
    err.message += `\n--- Node-RED log (tail) ---\n${nr.log.slice(-2000)}`;
    throw err;
  } finally {
    await nr.stop();
  }
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'nodes/amqp-consume/amqp-consume.js')))
    throw new Error('nodes/amqp-consume/amqp-consume.js is missing: run `npm run build` first');
  const broker = await lib.acquireBroker();
  const connection = await amqp.connect(broker.url);
  const side = { channel: await connection.createChannel(), confirm: await connection.createConfirmChannel() };
  const rows = [
    { id: 'a', raw: true, mode: 'ack', label: `a. raw amqplib: consume → ack, prefetch ${PREFETCH}` },
    { id: 'b', mode: 'ack', peer: 'a', label: `b. Node-RED: amqp consume (prefetch ${PREFETCH}) → amqp ack` },
    {
      id: 'c',
      raw: true,
      mode: 'relay',
      label: `c. raw amqplib relay: consume → publish (confirm) → ack after the confirm, prefetch ${PREFETCH}`,
    },
    { id: 'd', mode: 'relay', peer: 'c', label: 'd. Node-RED relay: amqp consume → amqp publish (confirm) → amqp ack' },
  ];
  try {
    await side.channel.assertQueue(SOURCE, { durable: true });
    await side.channel.assertQueue(TARGET, { durable: true });
    const version = connection.connection.serverProperties?.version;
    log(`N=${N}, prefetch ${PREFETCH}, ${BODY_SIZE} B persistent, RabbitMQ ${version ?? 'unknown'}`);
    for (const row of rows) row.rates = [];
    for (let r = 1; r <= RUNS; r++) {
      for (const row of rows) {
        const rate = await run(side, broker.url, row);
        row.rates.push(rate);
        log(`run ${r} ${row.id}: ${Math.round(rate)} msg/s`);
      }
    }
    const byId = Object.fromEntries(rows.map((row) => [row.id, row]));
    const lines = [
      `consume benchmark: N=${N} persistent ${BODY_SIZE} B messages per run, median of ${RUNS} runs, one broker, one run of this script`,
      '',
      '| row | msg/s (median) | runs | vs raw |',
      '|---|---:|---|---:|',
    ];
    for (const row of rows) {
      const m = median(row.rates);
      const ratio = row.peer ? (m / median(byId[row.peer].rates)).toFixed(2) : '';
      lines.push(`| ${row.label} | ${Math.round(m)} | ${row.rates.map((x) => Math.round(x)).join(', ')} | ${ratio} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await side.channel.deleteQueue(SOURCE).catch(() => undefined);
    await side.channel.deleteQueue(TARGET).catch(() => undefined);
    await connection.close().catch(() => undefined);
    broker.release();
  }
}

const entry = process.argv[2] === '--raw' ? () => rawConsumer(JSON.parse(process.argv[3])) : main;
entry().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
