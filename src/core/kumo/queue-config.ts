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

import { CoreError } from '../text/errors';
import { BatchSettingError, type CustomLuaBatch, checkBatchField, customLuaBatch } from './batching';
import { DurationError, formatDuration, parseDuration } from './duration';
import { EventNameError, validateEventName } from './event-names';
import { type Message, type MessageParam, say, valueType } from '../text/messages';
import type { QueueName } from './queue-name';
import ret, { type Root, type SetToken, type Token, types } from 'ret';
import safeRegex from 'safe-regex2';

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
 * Regular expressions that cannot block the event loop.
 *
 * A rule's pattern runs on every message, against a queue name part a client
 * chose. JavaScript's regular expressions backtrack: on a name that does not
 * match, some patterns try exponentially many ways (`^([a-z0-9]+-?)+$` takes
 * 1.5 s on a 28-character tenant and doubles with each character), and
 * Node-RED stops for every flow meanwhile. Parts are at most 255 octets
 * (queue-name.ts), so what is left to refuse is a pattern whose cost grows
 * exponentially, or polynomially with a high power, in the length of the part:
 * - a repetition inside a repetition, `(a+)+`, `(\w+\s?)+`, `(.*a){12}`
 *   (star height above 1), or more than SAFE_REGEX_MAX_REPETITIONS
 *   repetitions in all: fastify's safe-regex2;
 * - alternatives that can begin with the same character inside a repetition,
 *   `(a|a)*`, `(a|aa)+`: each character can be taken by either, which
 *   safe-regex2 does not see;
 * - more than MAX_OVERLAPPING_REPETITIONS unbounded repetitions in a row that
 *   can take the same characters, `.*a.*a.*b` (an unanchored pattern starts
 *   with one: the search tries every start): n^4 steps, a second at 255
 *   characters, where three take milliseconds.
 * The check is conservative (it refuses `(ab?)+`, which is fine), pure
 * JavaScript, and runs once per pattern, at deploy and in the editor.
 */

const SAFE_REGEX_MAX_REPETITIONS = 25;
const MAX_OVERLAPPING_REPETITIONS = 3;

/** Code unit ranges [from, to], sorted and disjoint: what one position of the text may hold. */
type Ranges = ReadonlyArray<readonly [number, number]>;

const MAX_UNIT = 0xffff;
const ANY: Ranges = [[0, MAX_UNIT]];
const NONE: Ranges = [];

function union(a: Ranges, b: Ranges): Ranges {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [from, to] of all) {
    const last = out[out.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

function complement(a: Ranges): Ranges {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [from, to] of a) {
    if (from > next) out.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= MAX_UNIT) out.push([next, MAX_UNIT]);
  return out;
}

function overlaps(a: Ranges, b: Ranges): boolean {
  return a.some(([from, to]) => b.some(([bFrom, bTo]) => from <= bTo && bFrom <= to));
}

function within(a: Ranges, b: Ranges): boolean {
  return a.every(([from, to]) => b.some(([bFrom, bTo]) => bFrom <= from && to <= bTo));
}

function setRanges(token: SetToken): Ranges {
  if (token.type === types.CHAR) return [[token.value, token.value]];
  if (token.type === types.RANGE) return [[token.from, token.to]];
  const inner = token.set.reduce<Ranges>((acc, t) => union(acc, setRanges(t)), NONE);
  return token.not ? complement(inner) : inner;
}

function isLookaround(token: Token): boolean {
  return token.type === types.GROUP && !!(token.followedBy || token.notFollowedBy || token.lookBehind);
}

function alternativesOf(token: { stack?: Token[]; options?: Token[][] }): Token[][] {
  return token.options ?? [token.stack ?? []];
}

/** Every character the token may consume. */
function charsOf(token: Token): Ranges {
  switch (token.type) {
    case types.CHAR:
    case types.SET:
      return setRanges(token);
    case types.REPETITION:
      return charsOf(token.value);
    case types.GROUP:
      if (isLookaround(token)) return NONE;
      return alternativesOf(token).reduce<Ranges>((acc, seq) => union(acc, seqChars(seq)), NONE);
    case types.REFERENCE:
      return ANY;
    default:
      return NONE;
  }
}

function seqChars(seq: Token[]): Ranges {
  return seq.reduce<Ranges>((acc, t) => union(acc, charsOf(t)), NONE);
}

function nullable(token: Token): boolean {
  switch (token.type) {
    case types.CHAR:
    case types.SET:
      return false;
    case types.REPETITION:
      return token.min === 0 || nullable(token.value);
    case types.GROUP:
      return isLookaround(token) || alternativesOf(token).some((seq) => seq.every(nullable));
    default:
      return true;
  }
}

/** The characters a match of the sequence may begin with. */
function firstChars(seq: Token[]): Ranges {
  let first = NONE;
  for (const token of seq) {
    if (token.type === types.GROUP && !isLookaround(token)) {
      first = union(
        first,
        alternativesOf(token).reduce<Ranges>((acc, alt) => union(acc, firstChars(alt)), NONE),
      );
    } else if (token.type === types.REPETITION) {
      first = union(first, firstChars([token.value]));
    } else if (token.type !== types.GROUP) {
      first = union(first, charsOf(token));
    }
    if (!nullable(token)) break;
  }
  return first;
}

function hasUnboundedRepetition(token: Token): boolean {
  if (token.type === types.REPETITION)
    return token.max === Number.POSITIVE_INFINITY || hasUnboundedRepetition(token.value);
  if (token.type === types.GROUP && !isLookaround(token)) {
    return alternativesOf(token).some((seq) => seq.some(hasUnboundedRepetition));
  }
  return false;
}

/** Calls visit on every token, depth first. */
function eachToken(seqs: Token[][], visit: (token: Token) => void): void {
  for (const seq of seqs) {
    for (const token of seq) {
      visit(token);
      if (token.type === types.GROUP) eachToken(alternativesOf(token), visit);
      else if (token.type === types.REPETITION) eachToken([[token.value]], visit);
    }
  }
}

/** An alternation inside a repetition whose alternatives can begin alike, as in `(a|aa)+`. */
function hasAmbiguousRepeatedAlternation(root: Token[][]): boolean {
  let found = false;
  eachToken(root, (token) => {
    if (found || token.type !== types.REPETITION || token.max <= 1) return;
    eachToken([[token.value]], (inner) => {
      if (found || inner.type !== types.GROUP || !inner.options) return;
      const firsts = inner.options.map(firstChars);
      found = firsts.some((a, i) => firsts.some((b, j) => j > i && overlaps(a, b)));
    });
  });
  return found;
}

interface Run {
  /** Unbounded repetitions so far that a text may be split among. */
  count: number;
  /** What the last of them can take; null when the run is broken. */
  last: Ranges | null;
}

/**
 * The longest run of unbounded repetitions in a sequence, starting from `run`,
 * where each can take the characters of the one before and nothing between
 * them must be taken by one only: each adds a power of the part's length to
 * the steps a failing match may take. The alternatives of a group and the
 * inside of a lookaround continue the run they stand in; it goes on after a
 * group, not after a lookaround (which takes nothing).
 */
function longestRun(seq: Token[], run: Run): number {
  let longest = run.count;
  const step = (token: Token): void => {
    if (token.type === types.POSITION) return;
    if (token.type === types.GROUP) {
      if (!token.options && !isLookaround(token)) {
        for (const inner of token.stack ?? []) step(inner);
        return;
      }
      // A run goes on after the group as it ends in its longest alternative.
      let after: Run = run;
      for (const alt of alternativesOf(token)) {
        const end = { ...run };
        longest = Math.max(longest, longestRun(alt, end));
        if (after === run || end.count > after.count) after = end;
      }
      if (!isLookaround(token)) Object.assign(run, after);
      return;
    }
    const chars = charsOf(token);
    if (hasUnboundedRepetition(token)) {
      run.count = run.last !== null && overlaps(chars, run.last) ? run.count + 1 : 1;
      run.last = chars;
    } else if (!nullable(token) && !(run.last !== null && within(chars, run.last))) {
      run.count = 0;
      run.last = null;
    }
    longest = Math.max(longest, run.count);
  };
  for (const token of seq) step(token);
  return longest;
}

function longestOverlappingRun(root: Root): number {
  let longest = 0;
  for (const seq of alternativesOf(root)) {
    const first = seq[0];
    const anchored = first?.type === types.POSITION && first.value === '^';
    // Unanchored, the search tries every start: as if the pattern began with [^]*.
    longest = Math.max(longest, longestRun(seq, anchored ? { count: 0, last: null } : { count: 1, last: ANY }));
  }
  return longest;
}

/** Why a valid pattern could block the event loop, or null when it cannot. */
function backtrackingProblem(pattern: string, field: MatchField): Message | null {
  const quoted = JSON.stringify(pattern);
  let root: Root;
  try {
    root = ret(pattern);
  } catch {
    return say('queue-config.regex-unreadable', { field, pattern: quoted });
  }
  if (!safeRegex(pattern, { limit: SAFE_REGEX_MAX_REPETITIONS })) {
    let repetitions = 0;
    eachToken(alternativesOf(root), (token) => {
      if (token.type === types.REPETITION) repetitions++;
    });
    return repetitions > SAFE_REGEX_MAX_REPETITIONS
      ? say('queue-config.regex-too-many-repetitions', { field, pattern: quoted, max: SAFE_REGEX_MAX_REPETITIONS })
      : say('queue-config.regex-nested-repetition', { field, pattern: quoted });
  }
  if (hasAmbiguousRepeatedAlternation(alternativesOf(root))) {
    return say('queue-config.regex-ambiguous-alternation', { field, pattern: quoted });
  }
  const run = longestOverlappingRun(root);
  if (run > MAX_OVERLAPPING_REPETITIONS) {
    return say('queue-config.regex-overlapping-repetitions', {
      field,
      pattern: quoted,
      count: run,
      max: MAX_OVERLAPPING_REPETITIONS,
    });
  }
  return null;
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
    const problem = backtrackingProblem(value, field);
    if (problem !== null) throw new QueueConfigError(where(problem));
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

/**
 * The frozen config of rule `rule` (numbered as selectQueueConfig numbers it; null: the default),
 * which every message of the rule had a copy of. A custom protocol's delivery keeps it: it is what
 * the message's copy held when it was routed, and the spool writes its JSON once per rule.
 */
export function ruleConfig(rules: CompiledRules, rule: number | null): Readonly<QueueConfig> {
  return rule === null ? DEFAULT_CONFIG : rules.rules[rule - 1].config;
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
