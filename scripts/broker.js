#!/usr/bin/env node
'use strict';
// A private RabbitMQ for `npm start`, `npm test` and the benchmark: Debian's
// rabbitmq-server on 127.0.0.1, on its own ports, with its data under .run/
// so it never touches a system broker. Set AMQP_URL to use another broker.
//
//   node scripts/broker.js            start (or reuse) the default instance, print its URL
//   node scripts/broker.js stop       stop it
//
// Facts this relies on (Debian's rabbitmq-server 3.10): the server must run as
// user `rabbitmq`, so its data directory is owned by it; `rabbitmqctl await_startup`
// fails at once until the node answers, so it is retried.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const { ensurePackage, isRoot } = require('./debian');

const ROOT = path.resolve(__dirname, '..');
const RUN_DIR = path.join(ROOT, '.run');
const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const RABBITMQ_HOME = '/var/lib/rabbitmq'; // holds the Erlang cookie rabbitmqctl needs

// 5672 so that the examples' broker, amqp://localhost, is this one.
const DEFAULT_INSTANCE = { name: 'kumo-amqp', port: 5672, distPort: 25672 };

function log(message) {
  process.stderr.write(`[broker] ${message}\n`);
}

function ensureInstalled() {
  // Where an init system exists the package also starts a system broker on 5672; ours is separate.
  ensurePackage('rabbitmq-server', path.join(RABBITMQ_BIN, 'rabbitmq-server'), 'the local broker; or set AMQP_URL');
}

function instancePaths(instance) {
  const base = path.join(RUN_DIR, `rabbitmq-${instance.name}`);
  return {
    base,
    mnesia: path.join(base, 'mnesia'),
    logs: path.join(base, 'log'),
    config: path.join(base, 'rabbitmq'), // RabbitMQ appends .conf
    plugins: path.join(base, 'enabled_plugins'),
    envFile: path.join(base, 'rabbitmq-env.conf'),
  };
}

function nodeName(instance) {
  return `${instance.name}@localhost`;
}

function instanceEnv(instance) {
  const p = instancePaths(instance);
  return {
    PATH: process.env.PATH,
    HOME: isRoot() ? RABBITMQ_HOME : process.env.HOME,
    LANG: 'C.UTF-8',
    RABBITMQ_NODENAME: nodeName(instance),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(instance.port),
    RABBITMQ_DIST_PORT: String(instance.distPort),
    RABBITMQ_MNESIA_BASE: p.mnesia,
    RABBITMQ_LOG_BASE: p.logs,
    RABBITMQ_CONFIG_FILE: p.config,
    RABBITMQ_ENABLED_PLUGINS_FILE: p.plugins,
    RABBITMQ_CONF_ENV_FILE: p.envFile,
    ...(instance.env || {}),
  };
}

// Runs a RabbitMQ tool as the broker's user, with the instance's environment.
function rabbitCommand(instance, tool, args) {
  const env = instanceEnv(instance);
  const file = path.join(RABBITMQ_BIN, tool);
  if (!isRoot()) return { command: file, args, env };
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return { command: 'runuser', args: ['-u', 'rabbitmq', '--', 'env', ...assignments, file, ...args], env: process.env };
}

function rabbitmqctl(instance, args, options = {}) {
  const { command, args: argv, env } = rabbitCommand(instance, 'rabbitmqctl', ['-n', nodeName(instance), ...args]);
  const result = spawnSync(command, argv, { env, encoding: 'utf8', timeout: options.timeout || 60000 });
  if (result.status !== 0 && !options.allowFailure) {
    throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${(result.stderr || result.stdout || '').trim()}`);
  }
  return result;
}

function prepareDirectories(instance) {
  const p = instancePaths(instance);
  for (const dir of [p.base, p.mnesia, p.logs]) fs.mkdirSync(dir, { recursive: true });
  const extraConfig = instance.config || '';
  fs.writeFileSync(
    `${p.config}.conf`,
    `${[
      `listeners.tcp.default = 127.0.0.1:${instance.port}`, // loopback only
      'loopback_users.guest = true',
      extraConfig,
    ].join('\n')}\n`,
  );
  fs.writeFileSync(p.plugins, '[].\n');
  fs.writeFileSync(p.envFile, '');
  if (isRoot()) execFileSync('chown', ['-R', 'rabbitmq:rabbitmq', p.base]);
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

function brokerUrl(instance) {
  return `amqp://guest:guest@127.0.0.1:${instance.port}`;
}

// Starts the instance (or finds it already running) and resolves once it accepts AMQP.
async function startBroker(instance = DEFAULT_INSTANCE, options = {}) {
  ensureInstalled();
  const url = brokerUrl(instance);
  if (await portOpen(instance.port)) {
    const ping = rabbitmqctl(instance, ['await_startup', '--timeout', '30'], { allowFailure: true });
    if (ping.status === 0) {
      log(`reusing RabbitMQ ${nodeName(instance)} on 127.0.0.1:${instance.port}`);
      return { url, instance, started: false, stop: () => stopBroker(instance) };
    }
    throw new Error(`port ${instance.port} is taken by something that is not our RabbitMQ`);
  }
  prepareDirectories(instance);
  const { command, args, env } = rabbitCommand(instance, 'rabbitmq-server', []);
  const logFile = fs.openSync(path.join(instancePaths(instance).base, 'server.out'), 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', logFile, logFile], detached: !!options.detached });
  fs.closeSync(logFile);
  let exited = null;
  child.once('exit', (code) => {
    exited = code;
  });
  if (options.detached) child.unref();
  log(`starting RabbitMQ ${nodeName(instance)} on 127.0.0.1:${instance.port}`);
  const deadline = Date.now() + 120000;
  for (;;) {
    if (exited !== null) {
      throw new Error(`rabbitmq-server exited with code ${exited}; see ${instancePaths(instance).base}/server.out`);
    }
    const ping = rabbitmqctl(instance, ['await_startup', '--timeout', '10'], { allowFailure: true, timeout: 20000 });
    if (ping.status === 0 && (await portOpen(instance.port))) break;
    if (Date.now() > deadline) throw new Error('RabbitMQ did not start within 120 s');
    await new Promise((resolve) => setTimeout(resolve, 500)); // polling a process with no event to await
  }
  log(`RabbitMQ is up: ${url.replace(/\/\/[^@]*@/, '//')}`);
  return { url, instance, started: true, child, stop: () => stopBroker(instance) };
}

function stopBroker(instance = DEFAULT_INSTANCE) {
  rabbitmqctl(instance, ['stop'], { allowFailure: true, timeout: 60000 });
}

module.exports = {
  startBroker,
  stopBroker,
  rabbitmqctl,
  brokerUrl,
  DEFAULT_INSTANCE,
  nodeName,
  rabbitCommand,
  instancePaths,
};

if (require.main === module) {
  const verb = process.argv[2] || 'start';
  if (verb === 'stop') {
    stopBroker();
  } else {
    startBroker(DEFAULT_INSTANCE, { detached: true }).then(
      (b) => {
        process.stdout.write(`${b.url}\n`);
        process.exit(0);
      },
      (err) => {
        log(err.message);
        process.exit(1);
      },
    );
  }
}
