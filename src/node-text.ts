// User-visible words come from nodes/locales/en-US/<type>.json through RED._.
// Where no catalogue is loaded (node-red-node-test-helper stubs RED._), the same
// English file is read directly, so there is one source for every string.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { fill, setMessageLanguage } from './core/messages';

type Catalogue = Record<string, unknown>;
const catalogues = new Map<string, Catalogue>();

function english(type: string): Catalogue {
  let catalogue = catalogues.get(type);
  if (!catalogue) {
    try {
      catalogue = JSON.parse(fs.readFileSync(path.join(__dirname, 'locales', 'en-US', `${type}.json`), 'utf8')) as Catalogue;
    } catch {
      catalogue = {}; // no English file: the key itself is shown, which still says what happened
    }
    catalogues.set(type, catalogue);
  }
  return catalogue;
}

function lookup(catalogue: Catalogue, key: string): string | null {
  let value: unknown = catalogue;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object') return null;
    value = (value as Catalogue)[part];
  }
  return typeof value === 'string' ? value : null;
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** The core's runtime messages follow settings.lang when Node-RED's settings name a language. */
export function useNodeRedLanguage(RED: NodeAPI): void {
  const lang = (RED.settings as { lang?: unknown }).lang;
  if (typeof lang === 'string') setMessageLanguage(lang);
}

/** `t('status.connected')` reads `<type>.status.connected` of the node's catalogue. */
export function translator(RED: NodeAPI, type: string): Translate {
  return (key, vars) => {
    const full = `${type}.${key}`;
    const translated = RED._(full, vars);
    if (translated && translated !== full) return translated;
    const text = lookup(english(type), full) ?? key;
    return vars ? fill(text, vars) : text;
  };
}
