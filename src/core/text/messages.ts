// Runtime messages (errors for Catch nodes, warnings, reasons shown in status)
// are as user-facing as the editor's words. The core does not write sentences:
// it names what it has to say as a `Message`, a catalogue key with parameters,
// and a parameter may itself be a Message (a hint, a field's name). The English
// catalogue, messages.en-US.json beside this file, is imported (the editor's
// bundle and the runtime share it) and gives every error its English `message`.
// Another language is the glue's business: the build puts this catalogue into
// every node's locale under `kumo`, and the glue renders a Message with Node-RED's
// own RED._ (see common/node-text.ts). A key the catalogue lacks comes back as
// the key itself: reporting an error must never throw another one.

import english from './messages.en-US.json';

export type MessageVars = Record<string, string | number>;

/** A parameter of a message: a value shown as it is, or another message, rendered first. */
export type MessageParam = string | number | Message;

/** Something the core has to say: a catalogue key and its parameters. */
export interface Message {
  readonly key: string;
  readonly params: Readonly<Record<string, MessageParam>>;
}

/** Looks a key up in some language's catalogue; null when it has no such key. */
export type MessageLookup = (key: string, vars: MessageVars) => string | null;

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

/** `say('queue-name.empty')`: what to say, to be rendered in the reader's language. */
export function say(key: string, params: Record<string, MessageParam> = {}): Message {
  return { key, params };
}

export function isMessage(value: unknown): value is Message {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Message).key === 'string' &&
    typeof (value as Message).params === 'object'
  );
}

const englishLookup: MessageLookup = (key, vars) => {
  const template = catalogue.get(key);
  return template === undefined ? null : fill(template, vars);
};

/**
 * What a value says, in words: a Message (nested messages first), or an error carrying
 * one (a core error's `said`), through `lookup` (a language's catalogue) with English
 * where it has no such key; any other error's own text; anything else as a string.
 */
export function render(what: unknown, lookup: MessageLookup = englishLookup): string {
  if (isMessage(what)) {
    const vars: MessageVars = {};
    for (const [name, value] of Object.entries(what.params)) {
      vars[name] = isMessage(value) ? render(value, lookup) : value;
    }
    return lookup(what.key, vars) ?? englishLookup(what.key, vars) ?? what.key;
  }
  if (what instanceof Error) {
    const said = (what as { said?: unknown }).said;
    return isMessage(said) ? render(said, lookup) : what.message;
  }
  return String(what);
}

/** Fills a template's `__name__` placeholders; the node catalogues' fallback (common/node-text.ts) uses it too. */
export function fill(template: string, vars: MessageVars): string {
  // One pass: a value that itself contains __x__ is not filled in again.
  return template.replace(PLACEHOLDER, (placeholder, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : placeholder,
  );
}

/** How a message names the type of a value it did not expect (a parameter of that message). */
export function valueType(value: unknown): MessageParam {
  if (value === null) return 'null';
  if (Array.isArray(value)) return say('type.array');
  return typeof value;
}

/** The type's name in English. */
export function typeName(value: unknown): string {
  return render(valueType(value));
}
