#!/usr/bin/env node
'use strict';
// `npm test`: build, start the private RabbitMQ (unless AMQP_URL names one),
// run every mocha suite against it, stop the broker we started.
//   npm test -- test/unit        run only some files or folders
// Long soak variants run with SOAK=1.

const { spawnSync, spawn } = require('node:child_process');
const path = require('node:path');
const { startBroker, stopBroker, DEFAULT_INSTANCE } = require('./broker');

const ROOT = path.resolve(__dirname, '..');

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: env || process.env });
  if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);
}

async function main() {
  run('npm', ['run', '--silent', 'build']);
  let broker = null;
  const env = { ...process.env };
  if (!env.AMQP_URL) {
    // A test instance of its own, so `npm start` and `npm test` can run side by side.
    broker = await startBroker({ ...DEFAULT_INSTANCE, name: 'kumo-amqp-test', port: 5698, distPort: 25698 });
    env.AMQP_URL = broker.url;
  }
  const targets = process.argv.slice(2);
  const specs = targets.length ? targets : ['test/unit/**/*.test.js', 'test/nodes/**/*.test.js', 'test/browser/**/*.test.js'];
  const args = [require.resolve('mocha/bin/mocha.js'), ...specs];
  const mocha = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env });
  const code = await new Promise((resolve) => mocha.once('exit', (c) => resolve(c === null ? 1 : c)));
  if (broker && broker.started) stopBroker(broker.instance);
  process.exit(code);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
