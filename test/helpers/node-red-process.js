// @ts-check
'use strict';
// A real Node-RED process with this pack linked into a temporary user
// directory, running the given flows: for end-to-end tests over HTTP.
// (scripts/node-red-process.js does the work; NODE_RED_HOME picks Node-RED 5.)

const { startNodeRed: start, freePort, PACK } = require('../../scripts/node-red-process');

/**
 * What scripts/node-red-process.js takes besides the flows and the pack.
 * @typedef {object} NodeRedOptions
 * @property {Record<string, object>} [credentials] flows_cred.json's content, by node id
 * @property {object} [settings] merged over its default settings
 * @property {string} [userDir] the user directory of an earlier run, to restart it
 * @property {Record<string, string>} [env] added to the process's environment
 * @property {string[]} [nodeArgs] node's own flags (e.g. --cpu-prof)
 * @property {RegExp} [ready] the log line that means started
 * @property {number} [timeoutMs] how long to wait for it
 */
/** @typedef {Awaited<ReturnType<typeof start>>} NodeRed */

/**
 * Starts Node-RED with `flows`; pass the userDir of an earlier run to restart it.
 * @param {object[]} flows the flow file's content
 * @param {NodeRedOptions} [options]
 * @returns {Promise<NodeRed>}
 */
function startNodeRed(flows, options = {}) {
  return start({ flows, modules: [PACK], ...options });
}

module.exports = { startNodeRed, freePort };
