// A node's user-visible words come from its locale.json (copied by the build to
// locales/en-US/<type>.json, where Node-RED's RED._ reads it). The glue also
// imports that same file, so where no catalogue is loaded (node-red-node-test-helper
// stubs RED._) the words are still the real ones: one source for every string.
// What the core says (a Message: a key and parameters) is rendered here too: the
// build puts the core's catalogue into every node's locale under CORE_NAMESPACE.

import type { NodeAPI } from 'node-red';
import { CoreError, type ErrorCode, withCode } from '../core/text/errors';
import { fill, type MessageLookup, render } from '../core/text/messages';

/** Where the build puts core/messages.<lang>.json inside each node's catalogue. */
export const CORE_NAMESPACE = 'kumo';

type Catalogue = Record<string, unknown>;

function lookup(catalogue: Catalogue, key: string): string | null {
  let value: unknown = catalogue;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object') return null;
    value = (value as Catalogue)[part];
  }
  return typeof value === 'string' ? value : null;
}

type Vars = Record<string, string | number>;

export type Translate = (key: string, vars?: Vars) => string;

// i18next takes 15–40 µs for one RED._ call, and the same words come again and again (a
// request's answer, a status): each RED._ answer is remembered, per key and parameters, for
// the process (its language is set once, at start). The cache is bounded, and so is what it
// holds: words with long parameters (an error's text) are not remembered, nor a key not found.
const REMEMBERED_MAX = 512;
const REMEMBERED_ID_MAX = 512;
const rememberedByRed = new WeakMap<object, (key: string, vars?: Vars) => string>();

function rememberedTranslation(RED: NodeAPI): (key: string, vars?: Vars) => string {
  let translate = rememberedByRed.get(RED);
  if (!translate) {
    const remembered = new Map<string, string>();
    translate = (key, vars) => {
      const id = vars ? `${key}\u0000${JSON.stringify(vars)}` : key;
      if (id.length > REMEMBERED_ID_MAX) return RED._(key, vars);
      let text = remembered.get(id);
      if (text === undefined) {
        text = RED._(key, vars);
        if (text === key) return text; // not found (yet): asked again next time
        if (remembered.size >= REMEMBERED_MAX) remembered.clear();
        remembered.set(id, text);
      }
      return text;
    };
    rememberedByRed.set(RED, translate);
  }
  return translate;
}

/** `t('status.connected')` reads `<type>.status.connected` of the node's catalogue. */
export function translator(RED: NodeAPI, type: string, english: Catalogue): Translate {
  const translate = rememberedTranslation(RED);
  return (key, vars) => {
    const full = `${type}.${key}`;
    const translated = translate(full, vars);
    if (translated && translated !== full) return translated;
    const template = lookup(english, full) ?? key;
    return vars ? fill(template, vars) : template;
  };
}

/** RED._ as a lookup of the core's catalogue; null where Node-RED has none (the core's English is used). */
function coreLookup(RED: NodeAPI): MessageLookup {
  const translate = rememberedTranslation(RED);
  return (key, vars) => {
    const full = `${CORE_NAMESPACE}.${key}`;
    const translated = translate(full, vars);
    return translated && translated !== full ? translated : null;
  };
}

export interface CoreText {
  /** What the core says (a Message, a core error) in Node-RED's language; any other error's own text. */
  render: (what: unknown) => string;
  /**
   * The error as Catch nodes get it: a core error's words in Node-RED's language (a
   * copy when they differ from its English, with its name, code and parameters), and
   * `code` given to an error that has none.
   */
  error(err: unknown, code?: ErrorCode): Error;
}

export function coreText(RED: NodeAPI): CoreText {
  const find = coreLookup(RED);
  const inWords = (what: unknown): string => render(what, find);
  return {
    render: inWords,
    error(err, code) {
      let error = err instanceof Error ? err : new Error(String(err));
      if (error instanceof CoreError) {
        const rendered = inWords(error);
        if (rendered !== error.message) {
          // The original may be shared (one connection loss fails many messages): it keeps its English.
          const copy = Object.create(Object.getPrototypeOf(error)) as CoreError;
          Object.defineProperties(copy, Object.getOwnPropertyDescriptors(error));
          Object.defineProperty(copy, 'message', { value: rendered, writable: true, configurable: true });
          error = copy;
        }
      }
      return code === undefined ? error : withCode(error, code);
    },
  };
}
