// Runtime messages (errors for Catch nodes, warnings, reasons shown in status)
// are as user-facing as the editor's words: their English lives in
// messages.en-US.json beside this file, nested by the core module that says them,
// with Node-RED's `__name__` placeholders. The catalogue is imported, not read by
// path, so the editor's bundle and the runtime share it. A key the catalogue lacks
// comes back as the key itself: reporting an error must never throw another one.
// Another language is the glue's business: it translates a CoreError's key and
// params with Node-RED's own RED._ (see common/node-text.ts).

import english from './messages.en-US.json';

export type MessageVars = Record<string, string | number>;

const PLACEHOLDER = /__(\w+?)__/g;

function flatten(value: unknown, prefix: string, into: Map<string, string>): Map<string, string> {
  if (typeof value === 'string') {
    into.set(prefix, value);
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  }
  return into;
}

const catalogue: ReadonlyMap<string, string> = flatten(english, '', new Map());

/** Every key of the English catalogue: for the check that each one is used. */
export function messageKeys(): string[] {
  return [...catalogue.keys()];
}

/** `text('queue-name.empty')`; `vars` fill the template's `__name__` placeholders. */
export function text(key: string, vars?: MessageVars): string {
  const template = catalogue.get(key) ?? key;
  return vars === undefined ? template : fill(template, vars);
}

/** Fills a template's `__name__` placeholders; the node catalogues' fallback uses it too. */
export function fill(template: string, vars: MessageVars): string {
  // One pass: a value that itself contains __x__ is not filled in again.
  return template.replace(PLACEHOLDER, (placeholder, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : placeholder,
  );
}

/** How a message names the type of a value it did not expect. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return text('type.array');
  return typeof value;
}
