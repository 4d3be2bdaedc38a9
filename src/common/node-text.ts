// A node's user-visible words come from its locale.json (copied by the build to
// locales/en-US/<type>.json, where Node-RED's RED._ reads it). The glue also
// imports that same file, so where no catalogue is loaded (node-red-node-test-helper
// stubs RED._) the words are still the real ones: one source for every string.

import type { NodeAPI } from 'node-red';
import { fill } from '../core/messages';

type Catalogue = Record<string, unknown>;

function lookup(catalogue: Catalogue, key: string): string | null {
  let value: unknown = catalogue;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object') return null;
    value = (value as Catalogue)[part];
  }
  return typeof value === 'string' ? value : null;
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** `t('status.connected')` reads `<type>.status.connected` of the node's catalogue. */
export function translator(RED: NodeAPI, type: string, english: Catalogue): Translate {
  return (key, vars) => {
    const full = `${type}.${key}`;
    const translated = RED._(full, vars);
    if (translated && translated !== full) return translated;
    const template = lookup(english, full) ?? key;
    return vars ? fill(template, vars) : template;
  };
}
