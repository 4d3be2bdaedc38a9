// What every node's editor script shares: Node-RED's editor API (a global in
// the browser) and the node's own words from its catalogue.

import type { EditorRED } from 'node-red';
import { type Definition, type Migration, migrate } from '../common/migrate';
import { type MessageLookup, render } from '../core/text/messages';

/** Node-RED's editor API; node definition scripts run after the editor created it. */
export const RED = (window as unknown as { RED: EditorRED }).RED;

export const PACKAGE = '@kumo-flows/node-red-kumo-amqp';
export const CATEGORY = 'kumomta';

export type EditorTranslate = (key: string, vars?: Record<string, string | number>) => string;

/** `t('label.code')` reads `<type>.label.code` from the node's catalogue (locales/en-US/<type>.json). */
export function editorText(type: string): EditorTranslate {
  const namespace = `${PACKAGE}/${type}`;
  return (key, vars) => RED._(`${namespace}:${type}.${key}`, vars);
}

/** The core's words in the editor, as the glue's coreText (common/node-text.ts) gives them at runtime. */
export interface EditorCoreText {
  /** What the core says (a Message, or a core error a validator threw) in the editor's language. */
  render: (what: unknown) => string;
}

/** The build puts the core's catalogue into each node's under `kumo`: the editor reads it there. */
export function coreText(type: string): EditorCoreText {
  const namespace = `${PACKAGE}/${type}`;
  const lookup: MessageLookup = (key, vars) => {
    const translated = RED._(`${namespace}:kumo.${key}`, vars);
    // i18next answers a missing key with the key: the core's English is used then.
    return translated && !translated.endsWith(`kumo.${key}`) ? translated : null;
  };
  return { render: (what) => render(what, lookup) };
}

/** A form field's current value while the dialog is open, else the node's saved one. */
export function currentValue(node: object, prop: string): unknown {
  const el = $(`#node-input-${prop}`);
  return el.length ? el.val() : (node as Record<string, unknown>)[prop];
}

/**
 * Node-RED 3+ accepts a validator that returns true or a message (shown in the
 * editor), and passes options as a second argument; the DefinitelyTyped types
 * still say boolean only.
 */
export type Validator<T = unknown> = (this: T, value: string, options?: unknown) => boolean | string;

export function validator<T>(fn: Validator<T>): (this: T, value: string) => boolean {
  // Node-RED shows a returned message only when the validator declares two parameters.
  const twoArguments = function (this: T, value: string, options?: unknown) {
    return fn.call(this, value, options);
  };
  return twoArguments as unknown as (this: T, value: string) => boolean;
}

/** Parts of Node-RED's editor API the DefinitelyTyped types lack (Node-RED 3+). */
interface MoreUtils {
  validateTypedProperty(value: string, type: string, options?: unknown): boolean | string;
}

export const utils = (): MoreUtils => RED.utils as unknown as MoreUtils;

/** A property definition with Node-RED 3's `label` (named in validation messages). */
export function labelled<D extends object>(definition: D, label: string): D {
  return { ...definition, label };
}

/**
 * A node fresh from the palette takes the one broker there is: Node-RED leaves its config field at
 * "none" even then, so Done would leave it invalid. With none or several, the user chooses.
 */
export function takeTheOnlyBroker(node: { broker?: string }): void {
  if (node.broker) return;
  const brokers: string[] = [];
  RED.nodes.eachConfig((config) => {
    const { id, type } = config as { id: string; type: string };
    if (type === 'amqp-broker') brokers.push(id);
    return true;
  });
  if (brokers.length === 1) node.broker = brokers[0];
}

/**
 * Brings a node's saved settings up to date in the editor, when it is added (from the
 * palette, a paste or an import) and when its dialog opens; the runtime does the same when
 * it creates the node. A version this pack does not know is said in a notification.
 */
export function upgradeNode(node: object, type: string, steps: readonly Migration[]): void {
  const fields = node as Definition;
  try {
    const migrated = migrate(type, { ...fields }, steps);
    for (const [key, value] of Object.entries(migrated)) if (fields[key] !== value) fields[key] = value;
  } catch (err) {
    RED.notify(coreText(type).render(err), 'error');
  }
}
