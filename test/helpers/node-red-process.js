'use strict';
// A real Node-RED process with this pack installed (as a link in a temporary
// user directory) running the given flows: for end-to-end tests over HTTP.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const ROOT = path.resolve(__dirname, '../..');
// The Node-RED to run: this checkout's, or another one's (NODE_RED_HOME, see scripts/test.js).
const RED_JS = process.env.NODE_RED_HOME ? path.join(path.resolve(process.env.NODE_RED_HOME), 'red.js') : require.resolve('node-red/red.js');

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

/** Starts Node-RED with `flows`; pass the userDir of an earlier run to restart it. */
async function startNodeRed(flows, options = {}) {
  const userDir = options.userDir || fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-nr-'));
  const scope = path.join(userDir, 'node_modules', '@kumo-flows');
  fs.mkdirSync(scope, { recursive: true });
  if (!fs.existsSync(path.join(scope, 'node-red-kumo-amqp'))) fs.symlinkSync(ROOT, path.join(scope, 'node-red-kumo-amqp'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: { '@kumo-flows/node-red-kumo-amqp': 'file:' + ROOT } }));
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  const port = await freePort();
  fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify({
    uiHost: '127.0.0.1', uiPort: port, flowFile: 'flows.json', credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } }, editorTheme: { tours: false },
  })};\n`);
  const child = spawn(process.execPath, [RED_JS, '--userDir', userDir, '--port', String(port), '--settings', path.join(userDir, 'settings.js')], {
    cwd: userDir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const lines = [];
  const onData = (chunk) => {
    log += chunk.toString();
    for (const waiter of lines.slice()) {
      if (waiter.pattern.test(log)) {
        lines.splice(lines.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const waitForLog = (pattern) => (pattern.test(log) ? Promise.resolve() : new Promise((resolve, reject) => {
    lines.push({ pattern, resolve });
    exited.then(() => reject(new Error(`Node-RED exited before logging ${pattern}:\n${log}`)));
  }));
  await waitForLog(/Started flows/);
  return {
    url: `http://127.0.0.1:${port}`,
    userDir,
    get log() { return log; },
    waitForLog,
    /** Stops Node-RED as Ctrl-C does (close handlers run); `keep` leaves the user directory for a restart. */
    async stop({ keep = false, signal = 'SIGINT' } = {}) {
      child.kill(signal);
      await exited;
      if (!keep) fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

module.exports = { startNodeRed, freePort };
