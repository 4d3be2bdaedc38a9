'use strict';
// Debian packages the project runs (rabbitmq-server for the broker, chromium
// for the editor tests), installed with apt-get on first use when missing.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Installs Debian package `name` unless `file` exists; without root, says what to run. */
function ensurePackage(name, file, why) {
  if (fs.existsSync(file)) return;
  if (!isRoot()) {
    throw new Error(`${name} is not installed (${why}); run \`sudo apt-get install ${name}\``);
  }
  process.stderr.write(`[setup] installing Debian package ${name} (${why})\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', name], { stdio: 'inherit', env });
}

module.exports = { ensurePackage, isRoot };
