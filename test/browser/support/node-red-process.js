// @ts-check
'use strict';
// A fresh Node-RED for the browser tests: no pack installed (the test installs
// it through the palette), palette upload enabled, no Flow Library catalogue.

const { startNodeRed: start, freePort, ROOT } = require('../../../scripts/node-red-process');

/**
 * Starts that Node-RED; `stop()` keeps its user directory (the test removes it).
 * @param {{ timeoutMs?: number }} [options] how long to wait for it to listen
 */
function startNodeRed({ timeoutMs = 60000 } = {}) {
  return start({
    ready: /Server now running at/,
    timeoutMs,
    settings: {
      credentialSecret: 'kumo-browser-test',
      externalModules: { palette: { allowInstall: true, allowUpload: true } },
      // No catalogue: this machine reaches no Flow Library, and the install tab must still work (upload only).
      editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
    },
    env: {
      // The palette upload runs `npm install <tarball>` here: use the local cache first, no audit or fund calls.
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      NODE_RED_ENABLE_PROJECTS: 'false',
    },
  }).then((nodeRed) => ({
    ...nodeRed,
    url: `${nodeRed.url}/`,
    logTail: nodeRed.logTail,
    stop: () => nodeRed.stop({ keep: true, graceMs: 10000 }),
  }));
}

module.exports = { startNodeRed, freePort, ROOT };
