'use strict';
// A fresh Node-RED 4 for the browser tests: its own temporary user directory
// (no pack installed, palette upload enabled), on a free loopback port, with
// its log kept in a file so a failure can show what the runtime said.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../../..');
const RED_JS = require.resolve('node-red/red.js', { paths: [ROOT] });

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

function settingsFile(port) {
  // JSON inside JS: nothing here needs code, and it keeps the file easy to read in a failed run's temp dir.
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: 'kumo-browser-test',
    // info, not warn: the "Server now running" line is what the test waits for. It goes to a file, not the test output.
    logging: { console: { level: 'info', metrics: false, audit: false } },
    // No consent prompt, no update check: both would cover the editor and call the network.
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { palette: { allowInstall: true, allowUpload: true } },
    editorTheme: {
      tours: false,
      projects: { enabled: false },
      // No catalogue: this machine reaches no Flow Library, and the install tab must still work (upload only).
      palette: { catalogues: [] },
    },
  };
  return `module.exports = ${JSON.stringify(settings, null, 2)};\n`;
}

/**
 * Starts Node-RED; resolves once it logs "Server now running" (event-driven: no polling, no sleep).
 * Returns { url, userDir, stop(), logTail() }.
 */
async function startNodeRed({ timeoutMs = 60000 } = {}) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-browser-nodered-'));
  const port = await freePort();
  fs.writeFileSync(path.join(userDir, 'settings.js'), settingsFile(port));
  const logPath = path.join(userDir, 'node-red.log');
  const log = fs.createWriteStream(logPath);
  let output = '';

  const child = spawn(process.execPath, [RED_JS, '--userDir', userDir, '--port', String(port)], {
    cwd: userDir,
    env: {
      ...process.env,
      // The palette upload runs `npm install <tarball>` here: use the local cache first, no audit or fund calls.
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      NODE_RED_ENABLE_PROJECTS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const onData = (chunk) => {
    log.write(chunk);
    output = (output + chunk.toString()).slice(-20000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const logTail = (lines = 40) => output.split('\n').slice(-lines).join('\n');

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Node-RED did not say "Server now running" within ${timeoutMs} ms. Its log:\n${logTail()}`));
    }, timeoutMs);
    const onLine = () => {
      if (/Server now running at/.test(output)) {
        cleanup();
        resolve();
      }
    };
    exited.then(({ code, signal }) => {
      cleanup();
      reject(new Error(`Node-RED exited (${code ?? signal}) before it was running. Its log:\n${logTail()}`));
    });
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off('data', onLine);
    }
    child.stdout.on('data', onLine);
    onLine();
  });

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(killer);
    }
    await new Promise((resolve) => log.end(resolve));
  }

  return { url: `http://127.0.0.1:${port}/`, port, userDir, logPath, stop, logTail, process: child };
}

module.exports = { startNodeRed, freePort, ROOT };
