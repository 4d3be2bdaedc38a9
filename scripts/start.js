#!/usr/bin/env node
'use strict';
// `npm start`: install what is missing, build, start a local RabbitMQ (or use
// AMQP_URL), and run Node-RED on 127.0.0.1:1880 with this pack installed and
// the example flows loaded. Ctrl-C stops both.
//
// The local broker listens on 127.0.0.1:5672 so the examples' broker
// `amqp://localhost` works as imported; its data lives in .run/.

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const USER_DIR = path.join(ROOT, '.run', 'node-red');
const PACKAGE = require(path.join(ROOT, 'package.json'));
const { DEFAULT_INSTANCE: START_INSTANCE } = require('./broker');
const { ensureNpmPackages } = require('./npm-packages');
const UI_PORT = Number(process.env.PORT || 1880);

function log(message) {
  process.stderr.write(`[start] ${message}\n`);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed`);
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function broker() {
  if (process.env.AMQP_URL) {
    log(`using the broker named by AMQP_URL`);
    return { url: process.env.AMQP_URL, stop: null };
  }
  const { startBroker, rabbitmqctl } = require('./broker');
  if (await portOpen(START_INSTANCE.port)) {
    const ours = rabbitmqctl(START_INSTANCE, ['await_startup', '--timeout', '5'], { allowFailure: true }).status === 0;
    if (!ours) {
      log('a broker already listens on 127.0.0.1:5672: using it (set AMQP_URL to use another)');
      return { url: 'amqp://localhost', stop: null };
    }
  }
  const started = await startBroker(START_INSTANCE, { detached: true });
  return { url: 'amqp://localhost', stop: started.started ? started.stop : null };
}

/**
 * Every example in a tab of its own, as Import > Examples would add it: each keeps its ids (so
 * importing one again is seen as a copy, not silently doubled), and the broker config node the
 * examples share (same id, same settings in each) is there once, pointed at `brokerUrl`.
 */
function exampleFlows(brokerUrl) {
  const flows = [];
  const configs = new Map();
  const files = fs
    .readdirSync(path.join(ROOT, 'examples'))
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const file of files) {
    const nodes = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', file), 'utf8'));
    const tabs = new Set(nodes.map((n) => n.z).filter(Boolean));
    if (tabs.size !== 1) throw new Error(`examples/${file}: its nodes belong to ${tabs.size} tabs, not one`);
    const [tab] = tabs;
    flows.push({ id: tab, type: 'tab', label: file.replace(/\.json$/, ''), disabled: false, info: '' });
    for (const node of nodes) {
      if (node.z) {
        flows.push(node);
        continue;
      }
      // A config node shared by several examples must be the same in each, or one of them would change.
      const seen = configs.get(node.id);
      if (seen && JSON.stringify(seen.node) !== JSON.stringify(node))
        throw new Error(`examples/${file} and examples/${seen.file} define config node ${node.id} differently`);
      if (seen) continue;
      configs.set(node.id, { node, file });
      flows.push(node.type === 'amqp-broker' ? { ...node, url: brokerUrl } : node);
    }
  }
  return flows;
}

/** One tab per example, the first time only: later runs keep the user's edits. */
function writeFlows(brokerUrl) {
  const flowFile = path.join(USER_DIR, 'flows.json');
  if (fs.existsSync(flowFile)) return;
  const flows = exampleFlows(brokerUrl);
  fs.writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  log(`loaded ${flows.filter((n) => n.type === 'tab').length} example flows into ${path.relative(ROOT, flowFile)}`);
}

/**
 * Node-RED's settings for npm start: the editor opens on the flows, without the first-run
 * modals (the welcome tour, the question about update notifications).
 */
function editorSettings() {
  return {
    editorTheme: { tours: false },
    telemetry: { enabled: false, updateNotification: false },
  };
}

function prepareUserDir() {
  fs.mkdirSync(path.join(USER_DIR, 'node_modules', '@kumo-flows'), { recursive: true });
  // The pack is installed as a link to this checkout, so a rebuild is picked up on restart.
  const link = path.join(USER_DIR, 'node_modules', ...PACKAGE.name.split('/'));
  if (!fs.existsSync(link)) fs.symlinkSync(ROOT, link, 'dir');
  fs.writeFileSync(
    path.join(USER_DIR, 'package.json'),
    JSON.stringify(
      {
        name: 'node-red-project',
        private: true,
        dependencies: { [PACKAGE.name]: `file:${ROOT}` },
      },
      null,
      2,
    ),
  );
  const secretFile = path.join(USER_DIR, '.credential-secret');
  if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(24).toString('hex'), { mode: 0o600 });
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: UI_PORT,
    flowFile: 'flows.json',
    credentialSecret: fs.readFileSync(secretFile, 'utf8'),
    ...editorSettings(),
    externalModules: { palette: { allowInstall: true, allowUpload: true } },
  };
  fs.writeFileSync(path.join(USER_DIR, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
}

async function main() {
  ensureNpmPackages(log);
  run('npm', ['run', '--silent', 'build']);
  const amqp = await broker();
  prepareUserDir();
  writeFlows(amqp.url);
  const nodeRed = spawn(
    process.execPath,
    [
      require.resolve('node-red/red.js', { paths: [ROOT] }),
      '--userDir',
      USER_DIR,
      '--settings',
      path.join(USER_DIR, 'settings.js'),
    ],
    {
      cwd: USER_DIR,
      stdio: 'inherit',
    },
  );
  log(`Node-RED on http://127.0.0.1:${UI_PORT}/ (Ctrl-C stops Node-RED and the local broker)`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    nodeRed.kill('SIGINT');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await new Promise((resolve) => nodeRed.once('exit', (c) => resolve(c ?? 0)));
  if (amqp.stop) {
    log('stopping the local broker');
    amqp.stop();
  }
  process.exit(stopping ? 0 : code);
}

if (require.main === module) {
  main().catch((err) => {
    log(err.message);
    process.exit(1);
  });
}

module.exports = { exampleFlows, editorSettings };
