/**
 * KumoMTA's `get_queue_config` event and `kumo.make_queue_config {}`.
 *
 * In KumoMTA, `get_queue_config(domain, tenant, campaign, routing_domain)`
 * handlers run in the order they were registered and the first one that
 * returns a config wins; with none, the queue gets `kumo.make_queue_config {}`,
 * i.e. SMTP delivery with the default timings. Here the handlers are the
 * rules of a queue config node, compiled once at deploy time so that a bad
 * rule is reported then, not on the first message it meets.
 */

import { CoreError } from './errors';
import { BatchSettingError, type CustomLuaBatch, checkBatchField, customLuaBatch } from './batching';
import { DurationError, formatDuration, parseDuration } from './duration';
import { EventNameError, validateEventName } from './event-names';
import { type Message, type MessageParam, say, valueType } from './messages';
import type { QueueName } from './queue-name';

/**
 * The `protocol` of KumoMTA's QueueConfig (crates/kumod/src/queue/delivery_proto.rs):
 * `{ smtp = {...} }` (the default), `{ maildir_path = '...' }` or
 * `{ custom_lua = { constructor = '...' } }`.
 */
export type Protocol = { custom_lua: CustomLua } | { smtp: Record<string, never> } | { maildir_path: string };

/** `custom_lua = { constructor = 'make.amqp', batch_size = 100, ... }` */
export interface CustomLua extends CustomLuaBatch {
  constructor: string;
}

/** A KumoMTA-shaped queue config; durations stay as the user wrote them. */
export interface QueueConfig {
  protocol: Protocol;
  retry_interval: string;
  max_retry_interval: string | null;
  max_age: string;
}

export interface ResolvedTimings {
  retryIntervalSec: number;
  maxRetryIntervalSec: number | null;
  maxAgeSec: number;
}

/** KumoMTA's QueueConfig defaults (crates/kumod/src/queue/config.rs). */
export const QUEUE_CONFIG_DEFAULTS: Readonly<{
  retry_interval: string;
  max_retry_interval: string | null;
  max_age: string;
}> = Object.freeze({
  retry_interval: '20 minutes',
  max_retry_interval: null,
  max_age: '7 days',
});

export type MatchOp = 'any' | 'eq' | 'regex';

export interface MatchDefinition {
  op: MatchOp;
  value?: string;
}

export type MatchField = 'domain' | 'tenant' | 'campaign' | 'routing_domain';

export interface RuleDefinition {
  match: Partial<Record<MatchField, MatchDefinition>>;
  protocol: 'custom_lua' | 'smtp' | 'maildir';
  constructor?: string;
  maildir_path?: string;
  retry_interval?: string | number;
  max_retry_interval?: string | number | null;
  max_age?: string | number;
  /** custom_lua only; blank = not set (KumoMTA's defaults, or the custom protocol node's own). */
  batch_size?: string | number;
  min_batch_size?: string | number;
  max_batch_latency?: string | number;
}

export class QueueConfigError extends CoreError {
  override name = 'QueueConfigError';
}

type Matcher = (component: string) => boolean;

interface CompiledRule {
  readonly matchers: ReadonlyArray<readonly [MatchField, Matcher]>;
  readonly config: Readonly<QueueConfig>;
  /** Worked out once at deploy: every message of the rule needs them. */
  readonly timings: Readonly<ResolvedTimings>;
}

export interface CompiledRules {
  readonly rules: readonly CompiledRule[];
}

export interface SelectedQueueConfig {
  config: QueueConfig;
  timings: Readonly<ResolvedTimings>;
  /** 1-based number of the rule that matched, or null for the default. */
  rule: number | null;
}

export const MATCH_FIELDS: readonly MatchField[] = ['domain', 'tenant', 'campaign', 'routing_domain'];

/** A rule's durations; each left blank takes KumoMTA's default. */
export const RULE_DURATION_FIELDS = ['retry_interval', 'max_retry_interval', 'max_age'] as const;
export type RuleDurationField = (typeof RULE_DURATION_FIELDS)[number];

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// `constructor` is a key the editor and KumoMTA both use, and also the name of
// every object's inherited Object.prototype.constructor: only an own property counts.
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function freezeConfig(config: QueueConfig): Readonly<QueueConfig> {
  const protocol = config.protocol;
  if ('custom_lua' in protocol) Object.freeze(protocol.custom_lua);
  if ('smtp' in protocol) Object.freeze(protocol.smtp);
  Object.freeze(protocol);
  return Object.freeze(config);
}

// Every message carries its own copy: flows may edit msg.queueConfig in a
// function node, and must not change the rule (or the next message) by doing so.
function copyConfig(config: Readonly<QueueConfig>): QueueConfig {
  const p = config.protocol;
  let protocol: Protocol;
  if ('custom_lua' in p) protocol = { custom_lua: { ...p.custom_lua } };
  else if ('maildir_path' in p) protocol = { maildir_path: p.maildir_path };
  else protocol = { smtp: {} };
  return {
    protocol,
    retry_interval: config.retry_interval,
    max_retry_interval: config.max_retry_interval,
    max_age: config.max_age,
  };
}

const DEFAULT_CONFIG: Readonly<QueueConfig> = freezeConfig({
  protocol: { smtp: {} },
  ...QUEUE_CONFIG_DEFAULTS,
});
const DEFAULT_TIMINGS: Readonly<ResolvedTimings> = Object.freeze(timingsOf(DEFAULT_CONFIG));

/** Checks a duration and returns it as KumoMTA would accept it in a policy. */
function durationText(value: unknown, what: MessageParam): string {
  const seconds = parseDuration(value, what);
  return typeof value === 'number' ? formatDuration(seconds) : (value as string).trim();
}

function checkRetryInterval(value: unknown, what: MessageParam): string {
  const duration = durationText(value, what);
  // KumoMTA accepts 0, but a custom protocol in Node-RED would then retry in a
  // tight loop until max_age; nobody means that.
  if (parseDuration(duration, what) <= 0) {
    throw new DurationError(say('queue-config.not-more-than-zero', { what }));
  }
  return duration;
}

function protocolFromParams(value: unknown): Protocol {
  if (value === undefined || value === null) return { smtp: {} };
  if (!isRecord(value)) {
    throw new QueueConfigError(say('queue-config.protocol-not-object', { type: valueType(value) }));
  }
  if ('custom_lua' in value) {
    const lua = value.custom_lua;
    if (!isRecord(lua)) {
      throw new QueueConfigError(say('queue-config.custom-lua-not-object', { type: valueType(lua) }));
    }
    return { custom_lua: { constructor: validateEventName(own(lua, 'constructor')), ...customLuaBatch(lua) } };
  }
  if ('maildir_path' in value) {
    const path = value.maildir_path;
    if (typeof path !== 'string' || path.trim() === '') {
      throw new QueueConfigError(say('queue-config.maildir-path-empty'));
    }
    return { maildir_path: path.trim() };
  }
  if ('smtp' in value) return { smtp: {} };
  throw new QueueConfigError(say('queue-config.protocol-unknown-keys', { keys: JSON.stringify(Object.keys(value)) }));
}

/** Says where a message comes from: 'queue config: ...' or 'rule 2: ...'. */
type Where = (said: Message) => Message;

function inConfig(said: Message): Message {
  return say('queue-config.in-config', { message: said });
}

function inRule(number: number): Where {
  return (said) => say('queue-config.in-rule', { number, message: said });
}

function wrap<T>(where: Where, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DurationError || err instanceof EventNameError || err instanceof BatchSettingError) {
      throw new QueueConfigError(where(err.said));
    }
    throw err;
  }
}

/**
 * `kumo.make_queue_config {}`: validates a KumoMTA-shaped config (for example
 * one a flow put on msg.queueConfig itself) and fills in KumoMTA's defaults.
 */
export function makeQueueConfig(params: unknown = {}): QueueConfig {
  if (!isRecord(params)) {
    throw new QueueConfigError(say('queue-config.not-object', { type: valueType(params) }));
  }
  return wrap(inConfig, () => {
    const protocol = protocolFromParams(params.protocol);
    const retry = params.retry_interval ?? QUEUE_CONFIG_DEFAULTS.retry_interval;
    const maxRetry = params.max_retry_interval ?? null;
    const maxAge = params.max_age ?? QUEUE_CONFIG_DEFAULTS.max_age;
    return {
      protocol,
      retry_interval: checkRetryInterval(retry, 'retry_interval'),
      max_retry_interval: maxRetry === null ? null : durationText(maxRetry, 'max_retry_interval'),
      max_age: durationText(maxAge, 'max_age'),
    };
  });
}

/** The timings of a config in seconds, with KumoMTA's defaults for any left out. */
export function timingsOf(config: QueueConfig): ResolvedTimings {
  return wrap(inConfig, () => {
    const maxRetry = config.max_retry_interval ?? null;
    return {
      retryIntervalSec: parseDuration(config.retry_interval ?? QUEUE_CONFIG_DEFAULTS.retry_interval, 'retry_interval'),
      maxRetryIntervalSec: maxRetry === null ? null : parseDuration(maxRetry, 'max_retry_interval'),
      maxAgeSec: parseDuration(config.max_age ?? QUEUE_CONFIG_DEFAULTS.max_age, 'max_age'),
    };
  });
}

export function constructorOf(config: QueueConfig): string | null {
  const protocol: unknown = config?.protocol;
  if (!isRecord(protocol)) return null;
  const lua = protocol.custom_lua;
  if (!isRecord(lua)) return null;
  const name = own(lua, 'constructor');
  return typeof name === 'string' ? name : null;
}

/*
 * Matching a queue component:
 * - 'any' matches everything, including a component the queue name lacks.
 * - 'eq' and 'regex' see a missing tenant/campaign/routing_domain as the empty
 *   string: KumoMTA itself hands get_queue_config an empty tenant for
 *   `campaign:@domain`, so `eq ''` means "no tenant" and a regex such as
 *   `^(|acme)$` can say "no tenant, or acme".
 * - 'regex' is an unanchored search (JavaScript's RegExp.test, like Lua's
 *   string.find and Node-RED's switch node "matches regex"); write ^...$ to
 *   match the whole component.
 */
function compileMatcher(def: unknown, field: MatchField, where: Where): Matcher | null {
  if (def === undefined || def === null) return null;
  if (!isRecord(def)) {
    throw new QueueConfigError(where(say('queue-config.match-not-object', { field, type: valueType(def) })));
  }
  const op = def.op ?? 'any';
  if (op === 'any') return null;
  const value = def.value;
  if (op === 'eq') {
    if (typeof value !== 'string') {
      throw new QueueConfigError(where(say('queue-config.eq-not-string', { field, type: valueType(value) })));
    }
    return (component) => component === value;
  }
  if (op === 'regex') {
    if (typeof value !== 'string' || value === '') {
      throw new QueueConfigError(where(say('queue-config.regex-empty', { field })));
    }
    let re: RegExp;
    try {
      re = new RegExp(value);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new QueueConfigError(
        where(say('queue-config.regex-invalid', { field, pattern: JSON.stringify(value), reason })),
      );
    }
    return (component) => re.test(component);
  }
  throw new QueueConfigError(where(say('queue-config.unknown-op', { field, op: String(JSON.stringify(op)) })));
}

const blank = (v: unknown): boolean => v === undefined || v === null || v === '';

/** A rule's match, checked: an object naming queue components only. */
function ruleMatch(def: Record<string, unknown>, where: Where): Record<string, unknown> {
  const match = def.match ?? {};
  if (!isRecord(match)) {
    throw new QueueConfigError(where(say('queue-config.rule-match-not-object', { type: valueType(match) })));
  }
  for (const key of Object.keys(match)) {
    if (!(MATCH_FIELDS as readonly string[]).includes(key)) {
      throw new QueueConfigError(where(say('queue-config.rule-match-unknown-field', { key: JSON.stringify(key) })));
    }
  }
  return match;
}

function ruleProtocol(def: Record<string, unknown>, where: Where): Protocol {
  let protocol: Protocol;
  switch (def.protocol) {
    case 'custom_lua': {
      const name = own(def, 'constructor');
      if (name === undefined || name === null || (typeof name === 'string' && name.trim() === '')) {
        throw new QueueConfigError(where(say('queue-config.constructor-missing')));
      }
      protocol = { custom_lua: { constructor: validateEventName(name), ...customLuaBatch(def) } };
      break;
    }
    case 'maildir': {
      const path = def.maildir_path;
      if (typeof path !== 'string' || path.trim() === '') {
        throw new QueueConfigError(where(say('queue-config.maildir-missing')));
      }
      protocol = { maildir_path: path.trim() };
      break;
    }
    case 'smtp':
      protocol = { smtp: {} };
      break;
    default:
      throw new QueueConfigError(
        where(say('queue-config.protocol-unknown', { protocol: String(JSON.stringify(def.protocol)) })),
      );
  }
  return protocol;
}

/** A rule's duration as KumoMTA would accept it in a policy, or null when blank (KumoMTA's default applies). */
function ruleDuration(def: Record<string, unknown>, key: RuleDurationField): string | null {
  const value = def[key];
  if (blank(value)) return null;
  return key === 'retry_interval' ? checkRetryInterval(value, key) : durationText(value, key);
}

function compileRule(def: unknown, number: number): CompiledRule {
  const where = inRule(number);
  if (!isRecord(def)) {
    throw new QueueConfigError(where(say('queue-config.rule-not-object', { type: valueType(def) })));
  }
  const match = ruleMatch(def, where);
  const matchers: Array<readonly [MatchField, Matcher]> = [];
  for (const field of MATCH_FIELDS) {
    const matcher = compileMatcher(match[field], field, where);
    if (matcher !== null) matchers.push([field, matcher]);
  }

  return wrap(where, () => {
    const config: QueueConfig = {
      protocol: ruleProtocol(def, where),
      retry_interval: ruleDuration(def, 'retry_interval') ?? QUEUE_CONFIG_DEFAULTS.retry_interval,
      max_retry_interval: ruleDuration(def, 'max_retry_interval') ?? QUEUE_CONFIG_DEFAULTS.max_retry_interval,
      max_age: ruleDuration(def, 'max_age') ?? QUEUE_CONFIG_DEFAULTS.max_age,
    };
    const frozen = freezeConfig(config);
    return { matchers, config: frozen, timings: Object.freeze(timingsOf(frozen)) };
  });
}

/** A setting of a rule: where the editor's form shows a problem. */
export type RuleField =
  | MatchField
  | 'match'
  | 'protocol'
  | 'constructor'
  | 'maildir_path'
  | RuleDurationField
  | RuleBatchField;

/** A custom_lua rule's batch settings; each left blank is not set. */
export const RULE_BATCH_FIELDS = ['batch_size', 'min_batch_size', 'max_batch_latency'] as const;
export type RuleBatchField = (typeof RULE_BATCH_FIELDS)[number];

export interface RuleProblem {
  /** The setting to fix; null when the rule is not an object at all. */
  field: RuleField | null;
  /** What is wrong, for the editor to say in its language. */
  said: Message;
}

/**
 * Every reason compileRules would refuse one rule, each with the setting it
 * belongs to, so the editor can mark every bad input while the user types.
 * compileRules stops at the first, with the same words after "rule N: ".
 */
export function ruleProblems(def: unknown): RuleProblem[] {
  const plain: Where = (said) => said;
  if (!isRecord(def)) {
    return [{ field: null, said: say('queue-config.rule-not-object', { type: valueType(def) }) }];
  }
  const problems: RuleProblem[] = [];
  const check = (field: RuleField, fn: () => unknown): void => {
    try {
      wrap(plain, fn);
    } catch (err) {
      if (!(err instanceof QueueConfigError)) throw err;
      problems.push({ field, said: err.said });
    }
  };
  check('match', () => {
    const match = ruleMatch(def, plain);
    for (const field of MATCH_FIELDS) check(field, () => compileMatcher(match[field], field, plain));
  });
  // Each protocol checks its own setting only.
  if (def.protocol === 'custom_lua') {
    const unbatched: Record<string, unknown> = { ...def, constructor: own(def, 'constructor') };
    for (const key of RULE_BATCH_FIELDS) delete unbatched[key];
    check('constructor', () => ruleProtocol(unbatched, plain));
    const before = problems.length;
    for (const key of RULE_BATCH_FIELDS) check(key, () => checkBatchField(key, def[key]));
    // min_batch_size above batch_size: once each is fine on its own.
    if (problems.length === before) check('min_batch_size', () => customLuaBatch(def));
  } else {
    check(def.protocol === 'maildir' ? 'maildir_path' : 'protocol', () => ruleProtocol(def, plain));
  }
  for (const key of RULE_DURATION_FIELDS) check(key, () => ruleDuration(def, key));
  return problems;
}

/** Validates and compiles the rules as the editor stores them; throws QueueConfigError naming the rule. */
export function compileRules(defs: unknown): CompiledRules {
  if (defs === undefined || defs === null) return Object.freeze({ rules: Object.freeze([]) });
  if (!Array.isArray(defs)) {
    throw new QueueConfigError(say('queue-config.rules-not-list', { type: valueType(defs) }));
  }
  const rules = defs.map((def, index) => compileRule(def, index + 1));
  return Object.freeze({ rules: Object.freeze(rules) });
}

/** get_queue_config: the first rule matching the queue wins; otherwise kumo.make_queue_config {}. */
export function selectQueueConfig(rules: CompiledRules, queue: QueueName): SelectedQueueConfig {
  const list = rules.rules;
  for (let i = 0; i < list.length; i++) {
    const rule = list[i];
    let matched = true;
    for (const [field, matcher] of rule.matchers) {
      if (!matcher(queue[field] ?? '')) {
        matched = false;
        break;
      }
    }
    if (matched) return { config: copyConfig(rule.config), timings: rule.timings, rule: i + 1 };
  }
  return { config: copyConfig(DEFAULT_CONFIG), timings: DEFAULT_TIMINGS, rule: null };
}
