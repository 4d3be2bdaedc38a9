'use strict';
// The core's rooms and what each may import (docs/development.md draws the same map). A new
// import that crosses a line the map does not draw fails here, not in a reviewer's head.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const SRC = path.resolve(__dirname, '..', '..', 'src');
const MAY_IMPORT = {
  'core/base': [],
  'core/text': [],
  'core/kumo': ['core/base', 'core/text'],
  'core/amqp': ['core/base', 'core/text'],
  'core/store': ['core/base', 'core/text', 'core/kumo'],
  // The one seam between KumoMTA's model and AMQP: a msg published, its confirm read as an outcome.
  'core/publish': ['core/base', 'core/text', 'core/kumo', 'core/amqp'],
  common: ['core/base', 'core/text', 'core/kumo', 'core/amqp', 'core/store', 'core/publish'],
  editor: ['core/base', 'core/text', 'core/kumo', 'core/amqp', 'common'],
  nodes: ['core/base', 'core/text', 'core/kumo', 'core/amqp', 'core/store', 'core/publish', 'common', 'editor'],
};

function roomOf(file) {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel[0] === 'core' ? `core/${rel[1]}` : rel[0];
}

function sources() {
  return fs
    .readdirSync(SRC, { recursive: true })
    .filter((entry) => entry.endsWith('.ts'))
    .map((entry) => path.join(SRC, entry));
}

function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'/gm)].map((m) =>
    path.resolve(path.dirname(file), m[1] ?? m[2]),
  );
}

describe('the rooms of src/ and what each may import', () => {
  const files = sources();

  it('every source file stands in a room the map names', () => {
    const unknown = files.filter((file) => !(roomOf(file) in MAY_IMPORT));
    assert.deepEqual(unknown, []);
    assert.ok(files.length > 40, `only ${files.length} sources found`);
  });

  it('no import crosses a line the map does not draw', () => {
    const crossings = [];
    for (const file of files) {
      const from = roomOf(file);
      for (const target of importsOf(file)) {
        const to = roomOf(target);
        if (to === from) continue;
        // A node folder may import another node's types (the broker node's shape).
        if (from === 'nodes' && to === 'nodes') continue;
        if (!MAY_IMPORT[from].includes(to))
          crossings.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
      }
    }
    assert.deepEqual(crossings, []);
  });

  it('catches a crossing (the check itself reads imports)', () => {
    const publisher = path.join(SRC, 'core', 'publish', 'message-publisher.ts');
    const rooms = new Set(importsOf(publisher).map(roomOf));
    assert.ok(rooms.has('core/amqp') && rooms.has('core/kumo'), [...rooms].join(', '));
  });
});
