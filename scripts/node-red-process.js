'use strict';
// A real Node-RED process in a user directory of its own, on a free loopback
// port: used by the end-to-end tests, the browser tests and the benchmark.
// Node modules are installed as links (this pack, a bench harness, ...);
// readiness is a line of Node-RED's log, awaited as an event, not a sleep.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PACK = { name: require(path.join(ROOT, 'package.json')).name, dir: ROOT };
const LOG_LIMIT = 200000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** red.js of this checkout's Node-RED, or of another one (NODE_RED_HOME, e.g. Node-RED 5). */
function redJs(home = process.env.NODE_RED_HOME) {
  return home ? path.join(path.resolve(home), 'red.js') : require.resolve('node-red/red.js', { paths: [ROOT] });
}

/**
 * options:
 *   flows         the flow file's content (omitted: Node-RED starts with none)
 *   credentials   flows_cred.json content (unencrypted: credentialSecret is false unless settings say otherwise)
 *   modules       [{name, dir}] linked into the user directory's node_modules
 *   settings      merged over the defaults below
 *   userDir       reuse a user directory (a restart); default: a new temporary one
 *   env, nodeArgs extra environment and node flags (e.g. --cpu-prof)
 *   ready         the log line that means "started" (default: flows started)
 */
async function startNodeRed(options = {}) {
  const {
    flows,
    credentials,
    modules = [],
    env = {},
    nodeArgs = [],
    ready = /Started flows/,
    timeoutMs = 60000,
  } = options;
  const userDir = options.userDir || fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-node-red-'));
  const dependencies = {};
  for (const { name, dir } of modules) {
    const link = path.join(userDir, 'node_modules', ...name.split('/'));
    fs.mkdirSync(path.dirname(link), { recursive: true });
    if (!fs.existsSync(link)) fs.symlinkSync(dir, link, 'dir');
    dependencies[name] = `file:${dir}`;
  }
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-project', private: true, dependencies }, null, 2),
  );
  if (flows) fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  if (credentials) fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(credentials));
  const port = await freePort();
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    editorTheme: { tours: false, projects: { enabled: false } },
    ...options.settings,
  };
  const settingsFile = path.join(userDir, 'settings.js');
  fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);

  const child = spawn(
    process.execPath,
    [...nodeArgs, redJs(), '--userDir', userDir, '--port', String(port), '--settings', settingsFile],
    {
      cwd: userDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  const waiters = new Set();
  const onData = (chunk) => {
    log += chunk.toString();
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT / 2);
    for (const waiter of waiters) {
      if (waiter.pattern.test(log)) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logTail = (lines = 40) => log.split('\n').slice(-lines).join('\n');

  /** Resolves once Node-RED's log matches pattern (already, or later). */
  const waitForLog = (pattern, ms = timeoutMs) => {
    if (pattern.test(log)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`Node-RED did not log ${pattern} within ${ms} ms. Its log:\n${logTail()}`));
      }, ms);
      waiters.add(waiter);
      exited.then(({ code, signal }) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`Node-RED exited (${code ?? signal}) before logging ${pattern}. Its log:\n${logTail()}`));
      });
    });
  };

  try {
    await waitForLog(ready);
  } catch (err) {
    // A Node-RED that never got ready must not outlive the test or bench that started it.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    userDir,
    pid: child.pid,
    process: child,
    get log() {
      return log;
    },
    logTail,
    waitForLog,
    /** Stops Node-RED as Ctrl-C does (close handlers run); `keep` leaves the user directory for a restart. */
    async stop({ keep = false, signal = 'SIGINT', graceMs = 30000 } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(killer);
      }
      if (!keep) fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

module.exports = { startNodeRed, freePort, redJs, ROOT, PACK };
