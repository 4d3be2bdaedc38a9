'use strict';

// Runtime messages live in src/core/text/messages.en-US.json (the core) and in
// each node's catalogue, src/nodes/<type>/locale.json (the glue). These tests read the TypeScript
// sources to check that every key used exists, every placeholder is filled,
// and no user-facing sentence is written straight into the code.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { render, say, typeName } = require('../../nodes/lib/core/text/messages');
const { translator } = require('../../nodes/lib/common/node-text');

const ROOT = path.resolve(__dirname, '..', '..');
const CATALOGUE_FILE = path.join(ROOT, 'src', 'core', 'text', 'messages.en-US.json');
const nodeCatalogueFile = (type) => path.join(ROOT, 'src', 'nodes', type, 'locale.json');
const nodeGlueFile = (type) => `src/nodes/${type}/${type}.ts`;
const PLACEHOLDER = /__(\w+?)__/g;

// The node types whose glue (src/nodes/<type>/<type>.ts) reads its words with translator(RED, '<type>', english).
const NODE_TYPES = [
  'amqp-broker',
  'amqp-publish',
  'kumo-custom-protocol',
  'kumo-queue-config',
  'kumo-reject',
  'amqp-consume',
  'amqp-ack',
  'kumo-log-hook',
];

function flatten(value, prefix = '', into = new Map()) {
  if (typeof value === 'string') into.set(prefix, value);
  else for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  return into;
}

const CATALOGUE = flatten(JSON.parse(fs.readFileSync(CATALOGUE_FILE, 'utf8')));

function placeholders(template) {
  return new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]));
}

function sourceFiles() {
  const files = [];
  const dirs = ['src/core', 'src/common', ...NODE_TYPES.map((type) => `src/nodes/${type}`)];
  for (const dir of dirs) {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { recursive: true })) {
      const name = path.basename(entry);
      // The editor's scripts run in the browser and speak through RED._ (checked with the editor).
      if (name.endsWith('.ts') && name !== 'editor.ts') files.push(path.join(dir, entry));
    }
  }
  // The core's rooms hold every core file: a scan that missed one would check nothing there.
  assert.ok(
    files.some((file) => file.startsWith(path.join('src', 'core', 'kumo'))),
    'no file of src/core/kumo scanned',
  );
  return files;
}

/**
 * The source with comments blanked out and the inside of every string,
 * template and regular expression literal replaced by '#' (same length, so
 * positions match the original). Calls can then be found and their brackets
 * matched without a literal's text getting in the way. Also lists the literals.
 */
function scan(source) {
  const masked = source.split('');
  const literals = [];
  const blank = (from, to, keep) => {
    for (let i = from; i < to; i++) if (masked[i] !== '\n') masked[i] = keep ? masked[i] : ' ';
  };
  const hide = (from, to) => {
    for (let i = from; i < to; i++) if (masked[i] !== '\n') masked[i] = '#';
  };
  let i = 0;
  let last = ''; // the last significant character of code, to tell a regex from a division
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const stop = source.indexOf('*/', i + 2) + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      literals.push({ kind: 'string', start: i, end: j + 1, parts: [source.slice(i + 1, j)] });
      hide(i + 1, j);
      i = j + 1;
      last = c;
    } else if (c === '`') {
      // A template: its static parts are the words; ${...} may nest braces and strings.
      const parts = [];
      let j = i + 1;
      let part = '';
      while (source[j] !== '`') {
        if (source[j] === '\\') {
          part += source.slice(j, j + 2);
          j += 2;
        } else if (source[j] === '$' && source[j + 1] === '{') {
          parts.push(part);
          part = '';
          let depth = 1;
          j += 2;
          while (depth > 0) {
            if (source[j] === '{') depth++;
            else if (source[j] === '}') depth--;
            else if (source[j] === "'" || source[j] === '"') {
              const q = source[j];
              j++;
              while (source[j] !== q) j += source[j] === '\\' ? 2 : 1;
            }
            j++;
          }
          part = '';
          parts.push(null); // where an expression goes
        } else {
          part += source[j];
          j++;
        }
      }
      parts.push(part);
      literals.push({ kind: 'template', start: i, end: j + 1, parts: parts.filter((p) => p !== null) });
      hide(i + 1, j);
      i = j + 1;
      last = '`';
    } else if (
      c === '/' &&
      (last === '' ||
        '(,=:[!&|?{};+-*%<>~^'.includes(last) ||
        /\b(?:return|typeof|case)\s*$/.test(source.slice(Math.max(0, i - 10), i)))
    ) {
      let j = i + 1;
      let inClass = false;
      while (inClass || source[j] !== '/') {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      hide(i + 1, j);
      i = j + 1;
      while (/[a-z]/.test(source[i])) i++; // flags
      last = '/';
    } else {
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return { masked: masked.join(''), literals };
}

/** The arguments of the call whose '(' is at `open`: [{start, end}] in the source, and where the call ends. */
function callArguments(masked, open) {
  const args = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < masked.length; i++) {
    const c = masked[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        if (masked.slice(start, i).trim() !== '') args.push({ start, end: i });
        return { args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push({ start, end: i });
      start = i + 1;
    }
  }
  throw new Error(`unbalanced call at ${open}`);
}

/** The keys of an object literal argument, or null when they cannot be known statically (a spread, a variable). */
function objectKeys(source, masked, arg) {
  const code = masked.slice(arg.start, arg.end).trim();
  if (!code.startsWith('{') || !code.endsWith('}')) return null;
  const offset = masked.indexOf('{', arg.start);
  const { args: entries } = callArguments(masked, offset);
  const keys = new Set();
  for (const entry of entries) {
    const original = source.slice(entry.start, entry.end).trim();
    if (original.startsWith('...')) return null;
    const m = /^([A-Za-z_$][\w$]*)\s*(?::|$)/.exec(original);
    if (!m) return null;
    keys.add(m[1]);
  }
  return keys;
}

function lineOf(source, index) {
  return source.slice(0, index).split('\n').length;
}

/** Every call of `name(` (not a method, not its declaration) in the sources. */
function calls(name) {
  const found = [];
  for (const file of sourceFiles()) {
    const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const { masked } = scan(source);
    const re = new RegExp(`(?<![\\w.$])${name}\\(`, 'g');
    for (const m of masked.matchAll(re)) {
      if (/function\s+$/.test(masked.slice(Math.max(0, m.index - 10), m.index))) continue;
      const open = m.index + name.length;
      const { args } = callArguments(masked, open);
      const keyText = args[0] ? source.slice(args[0].start, args[0].end).trim() : '';
      const key = /^'[^']*'$/.test(keyText) ? keyText.slice(1, -1) : null;
      found.push({
        file,
        line: lineOf(source, m.index),
        key,
        keyText,
        vars: args[1] ? objectKeys(source, masked, args[1]) : new Set(),
        varsText: args[1] ? source.slice(args[1].start, args[1].end).trim() : '',
      });
    }
  }
  return found;
}

describe('runtime messages: render() fills a template from the catalogue', function () {
  it('substitutes every __name__ placeholder with its value', function () {
    assert.equal(render(say('queue-name.not-string', { type: 'number' })), 'queue name must be a string, got number');
    assert.equal(
      render(say('delivery-queue.overloaded', { name: 'make.amqp', count: 10, limit: 10 })),
      'custom protocol "make.amqp" is not keeping up: 10 messages unfinished (limit 10); message not accepted',
    );
  });

  it('inserts a value as it is, once: placeholders or $ patterns inside it are not expanded', function () {
    assert.equal(
      render(say('queue-name.not-string', { type: '__type__ $& $1' })),
      'queue name must be a string, got __type__ $& $1',
    );
  });

  it('returns a template without placeholders unchanged', function () {
    assert.equal(render(say('queue-name.empty')), 'queue name is empty');
  });

  it('leaves a placeholder whose value is not given visible rather than throwing', function () {
    assert.equal(render(say('queue-name.not-string', {})), 'queue name must be a string, got __type__');
  });

  it('returns the key itself for a key the catalogue lacks, so reporting an error never throws', function () {
    assert.equal(render(say('no-such-module.no-such-key')), 'no-such-module.no-such-key');
    assert.equal(render(say('no-such-module.no-such-key', { a: 1 })), 'no-such-module.no-such-key');
  });

  it('names the type of an unexpected value', function () {
    assert.equal(typeName(null), 'null');
    assert.equal(typeName([]), 'an array');
    assert.equal(typeName(5), 'number');
  });
});

describe("runtime messages: a node speaks Node-RED's language through RED._", function () {
  const english = { 'kumo-reject': { errors: { code: 'code: __error__' } } };

  it('uses the translation RED._ finds in the loaded catalogue', function () {
    const RED = { _: (key, vars) => (key === 'kumo-reject.errors.code' ? `Code: ${vars.error} (zz)` : key) };
    assert.equal(translator(RED, 'kumo-reject', english)('errors.code', { error: 'x' }), 'Code: x (zz)');
  });

  it('falls back to the English catalogue the glue imports when RED._ has none (the test helper stubs it)', function () {
    const RED = { _: (key) => key };
    assert.equal(translator(RED, 'kumo-reject', english)('errors.code', { error: 'x' }), 'code: x');
  });

  it('returns the key for a key neither has, so reporting an error never throws', function () {
    const RED = { _: () => '' };
    assert.equal(translator(RED, 'kumo-reject', english)('errors.missing'), 'errors.missing');
  });
});

describe('runtime messages: the en-US catalogue and the sources agree', function () {
  // say() names every message the core has: errors and status reasons are rendered later, in the reader's
  // language; what is data (log records, the store's warnings) is rendered in English at once, render(say(...)).
  const sayCalls = calls('say');

  it('finds the calls (the source scan works)', function () {
    assert.ok(sayCalls.length > 80, `only ${sayCalls.length} say() calls found`);
  });

  it('calls say() with a literal key everywhere, so keys can be checked', function () {
    const dynamic = sayCalls.filter((c) => c.key === null).map((c) => `${c.file}:${c.line} (${c.keyText}, ...)`);
    assert.deepEqual(dynamic, []);
  });

  it('has every key that src/ uses', function () {
    const missing = sayCalls
      .filter((c) => c.key !== null && !CATALOGUE.has(c.key))
      .map((c) => `${c.file}:${c.line} ${c.key}`);
    assert.deepEqual(missing, []);
  });

  it('uses every key it has', function () {
    const used = new Set(sayCalls.map((c) => c.key));
    assert.deepEqual(
      [...CATALOGUE.keys()].filter((key) => !used.has(key)),
      [],
    );
  });

  it('gets exactly the variables its template uses at every call', function () {
    const wrong = [];
    for (const call of sayCalls) {
      if (call.key === null || !CATALOGUE.has(call.key)) continue;
      const wanted = [...placeholders(CATALOGUE.get(call.key))].sort();
      if (call.vars === null) {
        wrong.push(`${call.file}:${call.line} ${call.key}: variables not checkable (${call.varsText})`);
        continue;
      }
      const given = [...call.vars].sort();
      if (JSON.stringify(wanted) !== JSON.stringify(given)) {
        wrong.push(`${call.file}:${call.line} ${call.key}: template uses [${wanted}], call gives [${given}]`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});

describe('runtime messages: the glue reads its words from its node catalogue', function () {
  for (const type of NODE_TYPES) {
    it(`${type}: every key src/nodes/${type}/${type}.ts uses exists, with the variables its template uses`, function () {
      const file = nodeGlueFile(type);
      const catalogue = flatten(JSON.parse(fs.readFileSync(nodeCatalogueFile(type), 'utf8'))[type]);
      const problems = [];
      for (const call of calls('t').filter((c) => c.file === file)) {
        if (call.key === null) continue; // a key chosen by the caller: its literals are checked below
        if (!catalogue.has(call.key)) {
          problems.push(`${file}:${call.line} ${call.key} is not in ${type}.json`);
          continue;
        }
        if (call.vars === null) continue; // e.g. shared variables spread in
        const wanted = [...placeholders(catalogue.get(call.key))].sort();
        const given = [...call.vars].sort();
        if (JSON.stringify(wanted) !== JSON.stringify(given)) {
          problems.push(`${file}:${call.line} ${call.key}: template uses [${wanted}], call gives [${given}]`);
        }
      }
      // Keys handed to t() through a parameter are literals such as 'errors.max-queued-invalid'.
      const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of source.matchAll(/'((?:errors|warnings|log)\.[\w-]+)'/g)) {
        if (!catalogue.has(m[1])) problems.push(`${file}:${lineOf(source, m.index)} ${m[1]} is not in ${type}.json`);
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe('runtime messages: placeholders are well formed', function () {
  const files = [CATALOGUE_FILE, ...NODE_TYPES.map(nodeCatalogueFile)];
  for (const file of files) {
    it(`${path.relative(ROOT, file)}: every __ belongs to a __name__ placeholder`, function () {
      const bad = [];
      for (const [key, template] of flatten(JSON.parse(fs.readFileSync(file, 'utf8')))) {
        if (template.replace(/__[A-Za-z][A-Za-z0-9]*__/g, '').includes('__')) bad.push(`${key}: ${template}`);
      }
      assert.deepEqual(bad, []);
    });
  }
});

describe('runtime messages: no user-facing sentence is written into the code', function () {
  // Calls whose text a user reads: an Error's message, a node's warn/error/log, a 'warning' event.
  const CALLS = /\bnew\s+(\w*Error)\(|(?<![\w$])(node|this)\.(warn|error|log)\(|\.emit\('warning',/g;
  // Arguments that are literals on purpose (callee and position), each with its reason.
  const ALLOWED_ARGUMENTS = [
    { callee: 'PublishError', position: 0, reason: 'the PublishErrorKind, a code for programs, not text' },
    { callee: "emit('warning'", position: 0, reason: 'the event name' },
  ];
  // Literals that read like sentences but are KumoMTA's own wording, which
  // consumers of its log records parse: they must stay exactly as KumoMTA writes them.
  const KUMOMTA_WORDING = [
    {
      file: 'src/core/kumo/log-record.ts',
      text: 'Next delivery time would be ',
      reason: "an Expiration's response content (queue.rs)",
    },
    {
      file: 'src/core/kumo/log-record.ts',
      text: 'after creation, which exceeds max_age=',
      reason: "an Expiration's response content (queue.rs)",
    },
    {
      file: 'src/core/kumo/log-record.ts',
      text: 'KumoMTA internal: error in deliver_message: sender:',
      reason: "a failed Lua send's response content, with the method's context (lua_deliver.rs)",
    },
  ];

  it('passes every message of an Error, warn, error, log or warning event through the catalogue', function () {
    const direct = [];
    for (const file of sourceFiles()) {
      const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
      const { masked, literals } = scan(source);
      for (const m of masked.matchAll(CALLS)) {
        // In the core `this.log` is a class's own method; in the glue `this` is the node.
        if (m[2] === 'this' && file.startsWith('src/core/')) continue;
        const callee = m[1] || (m[2] ? `${m[2]}.${m[3]}` : "emit('warning'");
        const open = m.index + m[0].length - 1;
        const { args } =
          masked[open] === '('
            ? callArguments(masked, open)
            : callArguments(masked, masked.lastIndexOf('(', m.index + m[0].length));
        args.forEach((arg, position) => {
          if (ALLOWED_ARGUMENTS.some((a) => a.callee === callee && a.position === position)) return;
          // A literal at the argument's own level (not inside a nested call such as say(...)).
          let depth = 0;
          for (let i = arg.start; i < arg.end; i++) {
            const c = masked[i];
            if (c === '(' || c === '[' || c === '{') depth++;
            else if (c === ')' || c === ']' || c === '}') depth--;
            else if (depth === 0 && (c === "'" || c === '"' || c === '`')) {
              const literal = literals.find((l) => l.start === i);
              direct.push(`${file}:${lineOf(source, m.index)} ${callee}(${source.slice(literal.start, literal.end)})`);
              i = literal.end - 1;
            }
          }
        });
      }
    }
    assert.deepEqual(direct, []);
  });

  it('writes no sentence as a literal anywhere in src/, except KumoMTA wording', function () {
    const sentences = [];
    const allowedSeen = new Set();
    for (const file of sourceFiles()) {
      const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
      const { literals } = scan(source);
      for (const literal of literals) {
        for (const part of literal.parts) {
          // Three words in a row: prose, not a key, a code, a type name or a URL.
          if (!/[A-Za-z]{2,}[,:]?\s+[A-Za-z]+[,:]?\s+[A-Za-z]+/.test(part)) continue;
          if (/^(?:import|export)\b/m.test(source.slice(source.lastIndexOf('\n', literal.start) + 1, literal.start)))
            continue;
          const allowed = KUMOMTA_WORDING.find((a) => a.file === file && a.text === part);
          if (allowed) allowedSeen.add(allowed);
          else sentences.push(`${file}:${lineOf(source, literal.start)} ${JSON.stringify(part)}`);
        }
      }
    }
    assert.deepEqual(sentences, []);
    assert.deepEqual(
      KUMOMTA_WORDING.filter((a) => !allowedSeen.has(a)).map((a) => a.text),
      [],
      'an allowed literal no longer exists: drop it from the list',
    );
  });
});
