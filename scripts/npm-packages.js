'use strict';
// `npm start` and `npm test` each work on a fresh clone: when a package the
// lock file names is missing from node_modules, `npm ci` installs them all
// (exactly the locked versions) before anything else runs.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function missingPackages() {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const direct = Object.keys({ ...lock.packages[''].dependencies, ...lock.packages[''].devDependencies });
  return direct.filter((name) => !fs.existsSync(path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json')));
}

function ensureNpmPackages(log = (m) => process.stderr.write(`${m}\n`)) {
  const missing = missingPackages();
  if (missing.length === 0) return;
  log(`installing npm packages (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''} missing)`);
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);
}

module.exports = { ensureNpmPackages };
