'use strict';
// Extra RabbitMQ instances for the fault-injection suite (test/nodes/faults):
// a TLS-enabled one with certificates from a CA made here, a cluster of three,
// and the faults themselves (restart, memory alarm). Each instance has its own
// name, ports and data directory under .run/, so the shared test broker that
// other suites use is never restarted or alarmed.
//
// Built on scripts/broker.js. Its rabbitmqctl is synchronous, which would
// freeze a test process (and the Node-RED runtime inside it) for the seconds
// a broker takes to stop; everything here runs the tools asynchronously, and
// starts brokers from child processes so that several start in parallel.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { rabbitCommand, nodeName, instancePaths } = require('./broker');

const BROKER_JS = path.join(__dirname, 'broker.js');

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** rabbitmqctl for an instance, without blocking the event loop. */
function ctl(instance, args, options = {}) {
  const { command, args: argv, env } = rabbitCommand(instance, 'rabbitmqctl', ['-n', nodeName(instance), ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout || 60000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      if (status !== 0 && !options.allowFailure) {
        reject(new Error(`rabbitmqctl ${args.join(' ')} (${instance.name}) failed: ${(stderr || stdout).trim()}`));
      } else {
        resolve({ status, stdout, stderr });
      }
    });
  });
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

/**
 * `n` TCP ports free on loopback now, for instances that must not clash with
 * another run in the same checkout (a test run on fixed ports would stop the
 * other run's broker when it starts its own).
 */
async function freePorts(n) {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function waitForPort(port, open, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(port)) !== open) {
    if (Date.now() > deadline)
      throw new Error(`port ${port} is still ${open ? 'closed' : 'open'} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // another process's socket: nothing to await
  }
}

/**
 * Starts an instance with scripts/broker.js's startBroker in a child process
 * (detached, so the broker outlives it) and resolves once it accepts AMQP.
 */
function startInChild(instance) {
  const script =
    `require(${JSON.stringify(BROKER_JS)}).startBroker(JSON.parse(process.argv[1]), { detached: true })` +
    '.then(() => process.exit(0), (err) => { process.stderr.write(err.message + "\\n"); process.exit(1); })';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(instance)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (status) => {
      if (status === 0) resolve();
      else reject(new Error(`RabbitMQ ${nodeName(instance)} did not start: ${stderr.trim()}`));
    });
  });
}

async function stopInstance(instance) {
  if (!(await portOpen(instance.port))) return;
  await ctl(instance, ['stop'], { allowFailure: true });
  await waitForPort(instance.port, false);
}

/** A new instance with an empty data directory (a leftover from an earlier run is stopped first). */
async function startFresh(instance) {
  await stopInstance(instance);
  fs.rmSync(instancePaths(instance).base, { recursive: true, force: true });
  await startInChild(instance);
  return instance;
}

/** Stops the broker and starts it again on the same data: durable queues and persistent messages survive. */
async function restartBroker(instance) {
  await stopInstance(instance);
  await startInChild(instance);
}

/**
 * Kills the broker's Erlang VM with SIGKILL: a crash, with no chance to close
 * connections or flush anything that was not already on disk.
 */
async function crashBroker(instance) {
  const pidFile = path.join(instancePaths(instance).mnesia, `${nodeName(instance)}.pid`);
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (!(pid > 1)) throw new Error(`no broker pid in ${pidFile}`);
  process.kill(pid, 'SIGKILL');
  await waitForPort(instance.port, false);
}

/**
 * Puts the broker's definitions declared so far (queues, exchanges, bindings)
 * on disk now. RabbitMQ 3.10 keeps them in Mnesia, whose transaction log is
 * written through Erlang's disk_log: a commit waits in that process's write
 * cache for up to 2 s (or 16 KiB) before it reaches the file, so a crash in
 * those 2 s forgets a queue the broker had declared durable. mnesia:sync_log()
 * writes the cache out and fsyncs the log.
 */
async function syncDefinitions(instance) {
  const { stdout } = await ctl(instance, ['eval', 'mnesia:sync_log().']);
  if (stdout.trim() !== 'ok') throw new Error(`mnesia:sync_log() on ${instance.name} answered ${stdout.trim()}`);
}

function amqpUrl(instance, { user = 'guest', password = 'guest', tls = false } = {}) {
  const port = tls ? instance.tlsPort : instance.port;
  return `${tls ? 'amqps' : 'amqp'}://${user}:${password}@127.0.0.1:${port}`;
}

/** The last `lines` lines of the instance's log files (server.out and RabbitMQ's log), for a failing test to print. */
function logTail(instance, lines = 60) {
  const { base, logs } = instancePaths(instance);
  const files = [path.join(base, 'server.out')];
  if (fs.existsSync(logs))
    files.push(
      ...fs
        .readdirSync(logs)
        .filter((f) => f.endsWith('.log'))
        .map((f) => path.join(logs, f)),
    );
  return files
    .filter((f) => fs.existsSync(f))
    .map((f) => {
      const text = fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      return `== ${path.relative(base, f)}\n${text}`;
    })
    .join('\n');
}

/** The memory alarm: a tiny watermark makes the broker block publishers (connection.blocked). */
async function setMemoryAlarm(instance, on) {
  await ctl(instance, ['set_vm_memory_high_watermark', on ? '0.0000001' : '0.4']);
}

// ---------------------------------------------------------------- TLS

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A CA, a server certificate for localhost / 127.0.0.1 and a client
 * certificate signed by it, plus a second CA that signed neither (for the
 * "wrong CA" case). Returns the file paths.
 */
function makeCertificates(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const key = (name) =>
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  const ca = (name, cn) => {
    key(name);
    openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    ]);
  };
  const leaf = (name, cn, extensions) => {
    key(name);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]);
  };
  ca('ca', 'kumo-amqp test CA');
  ca('other-ca', 'some other CA');
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'kumo-amqp client', 'extendedKeyUsage=clientAuth\n');
  // The broker runs as user rabbitmq and must read its key.
  if (isRoot()) execFileSync('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
  const file = (name) => path.join(dir, name);
  return {
    dir,
    ca: file('ca.pem'),
    otherCa: file('other-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}

/**
 * A broker with a plain listener on instance.port and a TLS one on
 * instance.tlsPort that requires a client certificate from the same CA.
 * `instance.config` adds more configuration lines.
 */
async function startTlsBroker(instance) {
  const certs = makeCertificates(fs.mkdtempSync(path.join(os.tmpdir(), `${instance.name}-certs-`)));
  const config = [
    `listeners.ssl.default = 127.0.0.1:${instance.tlsPort}`,
    `ssl_options.cacertfile = ${certs.ca}`,
    `ssl_options.certfile = ${certs.serverCert}`,
    `ssl_options.keyfile = ${certs.serverKey}`,
    'ssl_options.verify = verify_peer',
    'ssl_options.fail_if_no_peer_cert = true',
    instance.config || '',
  ].join('\n');
  const tlsInstance = { ...instance, config };
  await startFresh(tlsInstance);
  return {
    instance: tlsInstance,
    certs,
    url: amqpUrl(tlsInstance),
    async stop() {
      await stopInstance(tlsInstance);
      fs.rmSync(certs.dir, { recursive: true, force: true });
      fs.rmSync(instancePaths(tlsInstance).base, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- cluster

/**
 * Three (or `size`) nodes on loopback, `<name>-1`, `<name>-2`, ..., started
 * in parallel, then joined to the first one. Ports are `ports` / `distPorts`
 * if given, else consecutive from `port` / `distPort`. The nodes share the
 * Erlang cookie of the rabbitmq user's home.
 */
async function startCluster({ name, port, distPort, ports, distPorts, size = 3, config = '' }) {
  const members = Array.from({ length: size }, (_, i) => ({
    name: `${name}-${i + 1}`,
    port: ports ? ports[i] : port + i,
    distPort: distPorts ? distPorts[i] : distPort + i,
    config,
  }));
  await Promise.all(members.map((m) => startFresh(m)));
  const first = nodeName(members[0]);
  for (const member of members.slice(1)) {
    await ctl(member, ['stop_app']);
    await ctl(member, ['join_cluster', first]);
    await ctl(member, ['start_app']);
  }
  return {
    members,
    /** The URL setting of a broker node that lists every member, without userinfo. */
    urlList: members.map((m) => `amqp://127.0.0.1:${m.port}`).join(','),
    url: (i) => amqpUrl(members[i]),
    stopMember: (i) => stopInstance(members[i]),
    async stop() {
      await Promise.all(members.map((m) => stopInstance(m)));
      for (const m of members) fs.rmSync(instancePaths(m).base, { recursive: true, force: true });
    },
  };
}

module.exports = {
  ctl,
  startFresh,
  startInChild,
  stopInstance,
  restartBroker,
  crashBroker,
  syncDefinitions,
  setMemoryAlarm,
  logTail,
  makeCertificates,
  startTlsBroker,
  startCluster,
  amqpUrl,
  portOpen,
  freePorts,
};
