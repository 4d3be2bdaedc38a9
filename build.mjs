// `npm run build`: src/ (what we write) → nodes/ (what Node-RED loads).
//   src/core/, src/common/                              → tsc → nodes/lib/core/, nodes/lib/common/
//   src/nodes/<type>/settings.ts                        → tsc → nodes/lib/nodes/<type>/settings.js
//   src/nodes/<type>/<type>.ts and what its folder holds → esbuild → nodes/<type>/<type>.js
//     (its imports of the core, common and its settings stay requires of nodes/lib/: one
//     instance of each module for all the nodes, since the nodes meet there: bindings, metrics)
//   src/nodes/<type>/editor.ts (bundled with the core modules it imports by esbuild),
//   editor.html (the form), editor.css                  → nodes/<type>/<type>.html
//   src/nodes/<type>/locale.json (+ src/core/text/messages.en-US.json under "kumo"),
//   help.html                                           → nodes/<type>/locales/en-US/<type>.json|.html
//   icons/<type>.svg                                    → nodes/<type>/icons/
// Everything is type-checked with tsc first: the runtime with tsconfig.json, the editor
// with tsconfig.editor.json (browser, Node-RED's editor types).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';

const ROOT = path.dirname(fileURLToPath(import.meta.url));
const SRC_NODES = path.join(ROOT, 'src', 'nodes');
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'nodes');
// Built beside nodes/ and swapped in whole at the end: a test or a Node-RED reading nodes/
// meanwhile sees the previous build or the new one, never a half-written tree.
const STAGE = path.join(ROOT, `nodes.building-${process.pid}`);
const LIB = path.join(STAGE, 'lib');
const ICONS = path.join(ROOT, 'icons');
// What every node's form shares (see the sheet).
const FORM_CSS = fs.readFileSync(path.join(ROOT, 'src', 'editor', 'form.css'), 'utf8');
// The kumomta sidebar tab's sheet (editor/sidebar.ts, loaded with the broker's script).
const SIDEBAR_CSS = fs.readFileSync(path.join(ROOT, 'src', 'editor', 'sidebar.css'), 'utf8');
// The pack's palette category (one line a label), also once, with the broker's editor.
const PALETTE_CSS = fs.readFileSync(path.join(ROOT, 'src', 'editor', 'palette.css'), 'utf8');
const require = createRequire(import.meta.url);
// The core's catalogue in each language (messages.<lang>.json); common/node-text.ts and
// editor/editor-red.ts read it under this key of every node's catalogue.
const CORE_NAMESPACE = 'kumo';
const CORE_TEXT = path.join(SRC, 'core', 'text');
function coreMessages(lang) {
  const file = path.join(CORE_TEXT, `messages.${lang}.json`);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
}

function tsc(project, ...args) {
  const result = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project, ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`tsc -p ${project} failed`);
}

/** The editor's script: editor.ts and the core modules it imports, as one browser script. */
async function editorScript(dir) {
  const result = await esbuild.build({
    entryPoints: [path.join(dir, 'editor.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2019',
    platform: 'browser',
    legalComments: 'none',
    logLevel: 'warning',
  });
  return result.outputFiles[0].text;
}

/**
 * The node's runtime: its folder bundled into one file; an import that leaves the folder
 * (the core, common) stays a require of that module's build under nodes/lib/.
 */
async function runtimeScript(dir, out, type) {
  const toLib = {
    name: 'core-and-common-from-lib',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = path.resolve(args.resolveDir, args.path);
        // The node's own files are bundled, except its settings, which tests read too (one copy, in lib).
        if (target.startsWith(dir + path.sep) && path.basename(target, '.ts') !== 'settings') return undefined;
        const built = path.join(LIB, path.relative(SRC, target)).replace(/\.ts$/, '');
        const relative = path.relative(out, built).split(path.sep).join('/');
        return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true };
      });
    },
  };
  await esbuild.build({
    entryPoints: [path.join(dir, `${type}.ts`)],
    outfile: path.join(out, `${type}.js`),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    plugins: [toLib],
    legalComments: 'none',
    logLevel: 'warning',
  });
}

async function buildNode(type) {
  const dir = path.join(SRC_NODES, type);
  const out = path.join(STAGE, type);
  fs.mkdirSync(out, { recursive: true });
  await runtimeScript(dir, out, type);
  const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8');
  const has = (name) => fs.existsSync(path.join(dir, name));
  const parts = [`<style>\n${FORM_CSS}</style>`];
  // The sidebar's script comes with the broker's editor (every editor with the pack has it): its sheet too, once.
  if (type === 'amqp-broker') parts.push(`<style>\n${SIDEBAR_CSS}</style>`, `<style>\n${PALETTE_CSS}</style>`);
  if (has('editor.css')) parts.push(`<style>\n${read('editor.css')}</style>`);
  parts.push(`<script type="text/html" data-template-name="${type}">\n${read('editor.html')}</script>`);
  const script = has('editor.ts') ? await editorScript(dir) : read('editor.js');
  parts.push(`<script type="text/javascript">\n${script}</script>`);
  fs.writeFileSync(path.join(out, `${type}.html`), `${parts.join('\n\n')}\n`);

  // locale.json and help.html are en-US; locale.<lang>.json and help.<lang>.html another language.
  for (const name of fs.readdirSync(dir)) {
    const match = /^locale(?:\.([A-Za-z-]+))?\.json$/.exec(name);
    if (!match) continue;
    const lang = match[1] ?? 'en-US';
    const suffix = match[1] ? `.${lang}` : '';
    const locales = path.join(out, 'locales', lang);
    fs.mkdirSync(locales, { recursive: true });
    // The node's words, and under `kumo` the core's (RED._ looks them up in the node's namespace).
    const catalogue = { ...JSON.parse(read(name)), [CORE_NAMESPACE]: coreMessages(lang) };
    fs.writeFileSync(path.join(locales, `${type}.json`), `${JSON.stringify(catalogue, null, 4)}\n`);
    if (has(`help${suffix}.html`))
      fs.copyFileSync(path.join(dir, `help${suffix}.html`), path.join(locales, `${type}.html`));
  }

  // Node-RED looks for icons beside each node's file.
  fs.mkdirSync(path.join(out, 'icons'), { recursive: true });
  fs.copyFileSync(path.join(ICONS, `${type}.svg`), path.join(out, 'icons', `${type}.svg`));
}

fs.rmSync(STAGE, { recursive: true, force: true });
try {
  // One pass type-checks the whole runtime; of its output nodes/lib/ keeps the core, common
  // and each node's settings (the rest of a node's folder is bundled into its file below).
  tsc('tsconfig.json', '--outDir', LIB);
  for (const entry of fs.readdirSync(path.join(LIB, 'nodes'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'settings.js') fs.rmSync(path.join(entry.parentPath, entry.name));
  }
  tsc('tsconfig.editor.json', '--noEmit');
  const types = fs.readdirSync(SRC_NODES).filter((name) => fs.existsSync(path.join(SRC_NODES, name, `${name}.ts`)));
  await Promise.all(types.map(buildNode));
  const old = `${OUT}.old-${process.pid}`;
  if (fs.existsSync(OUT)) fs.renameSync(OUT, old);
  fs.renameSync(STAGE, OUT);
  fs.rmSync(old, { recursive: true, force: true });
} catch (err) {
  fs.rmSync(STAGE, { recursive: true, force: true });
  throw err;
}
