'use strict';
// A real Node-RED process with this pack linked into a temporary user
// directory, running the given flows: for end-to-end tests over HTTP.
// (scripts/node-red-process.js does the work; NODE_RED_HOME picks Node-RED 5.)

const { startNodeRed: start, freePort, PACK } = require('../../scripts/node-red-process');

/** Starts Node-RED with `flows`; pass the userDir of an earlier run to restart it. */
function startNodeRed(flows, options = {}) {
  return start({ flows, modules: [PACK], ...options });
}

module.exports = { startNodeRed, freePort };
