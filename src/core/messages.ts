// Runtime messages (errors for Catch nodes, warnings, reasons shown in status)
// are as user-facing as the editor's words, so they live beside them: in
// locales/<lang>/kumo-messages.json, nested by the core module that says them,
// with Node-RED's `__name__` placeholders. A key the catalogue lacks comes back
// as the key itself: reporting an error must never throw another one.

import * as fs from 'node:fs';
import * as path from 'node:path';

export type MessageVars = Record<string, string | number>;

const DEFAULT_LANGUAGE = 'en-US';
const FILE = 'kumo-messages.json';
// Compiled to nodes/core/messages.js; the catalogues are in nodes/locales.
const LOCALES = path.join(__dirname, '..', 'locales');
// A BCP 47 tag such as de or pt-BR: settings.lang never names a path.
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
const PLACEHOLDER = /__(\w+?)__/g;

const catalogues = new Map<string, ReadonlyMap<string, string>>();
let language = DEFAULT_LANGUAGE;

function flatten(value: unknown, prefix: string, into: Map<string, string>): void {
  if (typeof value === 'string') {
    into.set(prefix, value);
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  }
}

function catalogue(lang: string): ReadonlyMap<string, string> {
  let messages = catalogues.get(lang);
  if (!messages) {
    const flat = new Map<string, string>();
    try {
      flatten(JSON.parse(fs.readFileSync(path.join(LOCALES, lang, FILE), 'utf8')), '', flat);
    } catch {
      // No readable catalogue: every key falls back (to English, or to the key itself).
    }
    messages = flat;
    catalogues.set(lang, messages);
  }
  return messages;
}

/**
 * Uses locales/<lang> (or its base language, de for de-CH) when the package
 * ships one; keys it lacks still come from en-US. Anything else means en-US.
 */
export function setMessageLanguage(lang: string | null | undefined): void {
  language = DEFAULT_LANGUAGE;
  if (typeof lang !== 'string' || !LANGUAGE_TAG.test(lang)) return;
  for (const candidate of [lang, lang.split('-')[0]]) {
    if (fs.existsSync(path.join(LOCALES, candidate, FILE))) {
      language = candidate;
      return;
    }
  }
}

/** `text('queue-name.empty')`; `vars` fill the template's `__name__` placeholders. */
export function text(key: string, vars?: MessageVars): string {
  const template =
    (language === DEFAULT_LANGUAGE ? undefined : catalogue(language).get(key)) ?? catalogue(DEFAULT_LANGUAGE).get(key) ?? key;
  return vars === undefined ? template : fill(template, vars);
}

/** Fills a template's `__name__` placeholders; the node catalogues' fallback uses it too. */
export function fill(template: string, vars: MessageVars): string {
  // One pass: a value that itself contains __x__ is not filled in again.
  return template.replace(PLACEHOLDER, (placeholder, name: string) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : placeholder,
  );
}

/** How a message names the type of a value it did not expect. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return text('type.array');
  return typeof value;
}
