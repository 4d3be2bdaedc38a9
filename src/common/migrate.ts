// Versioned settings. A node's saved definition carries `version`; migrate() brings an older
// one up to date, a step at a time, when the runtime creates the node and when the editor
// adds or opens it. A definition without a version was saved before versions existed (0.1.0
// and the builds up to this one): version 0. A version newer than this pack knows is refused,
// never guessed at: the flow was saved by a newer pack.
//
// Node-RED's import (paste, Import) fills a missing property with its default, and `version`'s
// default is the current version, so a pasted old node may already say it is current. Each step
// therefore changes only what is still in the old shape, and running it again changes nothing.

import { ERROR_CODES, KumoError } from '../core/text/errors';
import { say } from '../core/text/messages';

export type Definition = Record<string, unknown>;

/** One step: brings a definition of `version - 1` to `version`. */
export interface Migration {
  readonly version: number;
  readonly up: (def: Definition) => Definition;
}

/** The version a node's steps lead to. */
export function currentVersion(steps: readonly Migration[]): number {
  return steps.length === 0 ? 0 : steps[steps.length - 1].version;
}

/** The saved version of a definition: 0 when it has none. */
export function savedVersion(def: Definition): number {
  const version = def.version;
  if (version === undefined || version === null || version === '') return 0;
  const n = Number(version);
  return Number.isInteger(n) && n >= 0 ? n : Number.NaN;
}

/**
 * The definition brought up to date (a new object; the one given is not changed).
 * Throws a KumoError (KUMO_NOT_CONFIGURED) for a version this pack does not know.
 */
export function migrate<D extends object>(type: string, def: D, steps: readonly Migration[]): D & { version: number } {
  const known = currentVersion(steps);
  const from = savedVersion(def as Definition);
  if (!(from <= known)) {
    throw new KumoError(
      ERROR_CODES.notConfigured,
      say('settings.unknown-version', { type, version: String((def as Definition).version), known }),
    );
  }
  let current: Definition = { ...(def as Definition) };
  for (const step of steps) if (step.version > from) current = { ...step.up(current), version: step.version };
  current.version = known;
  return current as D & { version: number };
}

/** A step that gives each setting the definition lacks the value that behaves as before it existed. */
export function fillMissing(version: number, values: Readonly<Definition>): Migration {
  return {
    version,
    up: (def) => {
      const filled: Definition = { ...def };
      for (const [key, value] of Object.entries(values)) if (filled[key] === undefined) filled[key] = value;
      return filled;
    },
  };
}
