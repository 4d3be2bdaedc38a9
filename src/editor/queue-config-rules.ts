// The queue config dialog's rules as its form holds them (every setting a
// string), checked by the core that compiles them at deploy, so the dialog
// refuses exactly what the runtime would.

import {
  MATCH_FIELDS,
  type MatchField,
  type MatchOp,
  QUEUE_CONFIG_DEFAULTS,
  type RuleField,
  ruleProblems,
} from '../core/kumo/queue-config';
import type { EditorTranslate } from './editor-red';

export const MATCH_OPS: readonly MatchOp[] = ['any', 'eq', 'regex'];
export const PROTOCOLS = ['custom_lua', 'smtp', 'maildir'] as const;

export interface FormMatch {
  op: MatchOp;
  value: string;
}

export interface FormRule {
  match: Record<MatchField, FormMatch>;
  protocol: string;
  constructor: string;
  maildir_path: string;
  retry_interval: string;
  max_retry_interval: string;
  max_age: string;
  /** custom_lua's batching; blank = not set (the custom protocol node's own settings). */
  batch_size: string;
  min_batch_size: string;
  max_batch_latency: string;
}

export interface FormProblem {
  /** The input to mark; null when the problem has none of its own. */
  field: RuleField | null;
  message: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Every object inherits a `constructor` (a function); only the rule's own one is a setting.
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function defaultRule(seed: boolean): FormRule {
  const any = (): FormMatch => ({ op: 'any', value: '' });
  return {
    // The seed document's rule for the first one; later ones start as a catch-all to narrow down.
    match: {
      domain: seed ? { op: 'eq', value: 'amqp' } : any(),
      tenant: any(),
      campaign: any(),
      routing_domain: any(),
    },
    protocol: 'custom_lua',
    constructor: 'make.amqp',
    maildir_path: '',
    retry_interval: QUEUE_CONFIG_DEFAULTS.retry_interval,
    max_retry_interval: '',
    max_age: QUEUE_CONFIG_DEFAULTS.max_age,
    batch_size: '',
    min_batch_size: '',
    max_batch_latency: '',
  };
}

/** A saved rule (from any flow file) as the form shows it. */
export function normaliseRule(saved: unknown): FormRule {
  const d = defaultRule(false);
  const r = isRecord(saved) ? saved : {};
  const savedMatch = isRecord(r.match) ? r.match : {};
  const str = (value: unknown, fallback: string): string => (value == null ? fallback : String(value));
  const match = {} as Record<MatchField, FormMatch>;
  for (const f of MATCH_FIELDS) {
    const m = isRecord(savedMatch[f]) ? savedMatch[f] : {};
    const op = MATCH_OPS.find((known) => known === m.op) ?? 'any';
    match[f] = { op, value: str(m.value, '') };
  }
  return {
    match,
    protocol: typeof r.protocol === 'string' && r.protocol !== '' ? r.protocol : d.protocol,
    constructor: str(own(r, 'constructor'), d.constructor),
    maildir_path: str(r.maildir_path, ''),
    retry_interval: str(r.retry_interval, d.retry_interval),
    max_retry_interval: str(r.max_retry_interval, ''),
    max_age: str(r.max_age, d.max_age),
    batch_size: str(r.batch_size, ''),
    min_batch_size: str(r.min_batch_size, ''),
    max_batch_latency: str(r.max_batch_latency, ''),
  };
}

/**
 * The rule the dialog saves: the form's settings over the saved rule's, so a
 * setting the form has no input for (one a newer version adds) survives
 * opening the dialog.
 */
export function keepUnshown(saved: unknown, rule: FormRule): FormRule {
  return isRecord(saved) ? ({ ...saved, ...rule } as FormRule) : rule;
}

/**
 * What the runtime would refuse at deploy, in the core's words, plus one hint
 * of the editor's own: `domain == ""` is valid but can never match.
 */
export function formProblems(rule: unknown, t: EditorTranslate, render: (what: unknown) => string): FormProblem[] {
  const problems: FormProblem[] = ruleProblems(rule).map((p) => ({ field: p.field, message: render(p.said) }));
  const match = isRecord(rule) && isRecord(rule.match) ? rule.match : {};
  const domain = isRecord(match.domain) ? match.domain : {};
  // The domain comes first in the form, so its hint does too.
  if (domain.op === 'eq' && domain.value === '')
    problems.unshift({ field: 'domain', message: t('errors.domain-empty') });
  return problems;
}

/** The constructors saved rules route to, each once, in rule order: where the node's messages go. */
export function routedEvents(rules: unknown): string[] {
  const events: string[] = [];
  for (const rule of Array.isArray(rules) ? rules : []) {
    if (!isRecord(rule) || rule.protocol !== 'custom_lua') continue;
    const name = own(rule, 'constructor');
    if (typeof name === 'string' && name !== '' && !events.includes(name)) events.push(name);
  }
  return events;
}
