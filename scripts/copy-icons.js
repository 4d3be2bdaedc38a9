#!/usr/bin/env node
'use strict';
// Node-RED looks for a node's icons in an `icons` folder beside its .js file,
// so the build copies the pack's icons/ there (nodes/icons is a build output).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const target = path.join(ROOT, 'nodes', 'icons');
fs.rmSync(target, { recursive: true, force: true });
fs.mkdirSync(target, { recursive: true });
for (const file of fs.readdirSync(path.join(ROOT, 'icons'))) {
  fs.copyFileSync(path.join(ROOT, 'icons', file), path.join(target, file));
}
