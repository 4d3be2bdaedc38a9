// The receiving end of KumoMTA's log hook (log_hooks.lua): a body is one JSON log
// record (the hook's `send`) or a JSON array of them (`send_batch`). This splits a
// body into its elements with each element's own bytes, so a record is published
// as KumoMTA wrote it, and says of each element whether it is a log record.
//
// Everything here is bounded and iterative: V8's JSON.parse is iterative, but
// JSON.stringify, structuredClone and a recursive deep copy (Node-RED clones a msg
// at a fork) overflow the stack at some thousands of levels, so a record nested
// deeper than MAX_RECORD_DEPTH is not a log record, measured without recursion.

import { CoreError } from '../text/errors';
import { type Message, say, valueType } from '../text/messages';

/** How deep a log record may nest (the record itself is level 1); KumoMTA's own are under 10. */
export const MAX_RECORD_DEPTH = 64;

/** A log record's path: a literal path on Node-RED's HTTP server, no Express patterns. */
const PATH = /^\/[A-Za-z0-9._~\-/]*$/;
const MAX_PATH_LENGTH = 200;

/** The endpoint's path, checked (the editor and the runtime share this); the error says why. */
export function logHookPath(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new CoreError(say('log-hook.path-empty'));
  const path = value.trim();
  if (path.length > MAX_PATH_LENGTH) {
    throw new CoreError(say('log-hook.path-too-long', { limit: MAX_PATH_LENGTH }));
  }
  if (!PATH.test(path) || path.includes('//')) throw new CoreError(say('log-hook.path-invalid', { path }));
  return path;
}

export interface BodyLimits {
  /** Elements of an array body at most (a single record counts as one). */
  maxRecords: number;
  /** Nesting levels of one record at most. */
  maxDepth: number;
}

/** One element of a body: a log record with its own bytes, or something else with the reason. */
export type BodyElement =
  | { readonly record: true; readonly bytes: Buffer; readonly value: Readonly<Record<string, unknown>> }
  | {
      readonly record: false;
      readonly bytes: Buffer;
      /** The parsed element; null when it nests too deep to be handed on safely (then `bytes` is all). */
      readonly value: unknown;
      readonly tooDeep: boolean;
      readonly reason: Message;
    };

export type SplitBody =
  | { readonly kind: 'elements'; readonly batch: boolean; readonly elements: BodyElement[]; readonly records: number }
  | { readonly kind: 'not-json'; readonly reason: Message }
  | { readonly kind: 'too-many'; readonly limit: number };

interface Span {
  start: number;
  end: number;
  depth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The spans of the elements of a body that is a JSON array, each with its nesting depth
 * counted from the element (an element that is an object is level 1); null as soon as there
 * are more than `maxElements`. Valid JSON is assumed: JSON.parse decides validity afterwards.
 */
function scanArray(body: Buffer, maxElements: number): Span[] | null {
  const n = body.length;
  const spans: Span[] = [];
  let depth = 0;
  let start = -1;
  let last = -1;
  let peak = 0;
  const close = (): boolean => {
    if (start >= 0) spans.push({ start, end: last + 1, depth: peak });
    start = -1;
    peak = 0;
    return spans.length <= maxElements;
  };
  for (let i = 0; i < n; i++) {
    const c = body[i];
    if (isSpace(c)) continue;
    if (depth === 1 && start < 0 && c !== CLOSE_ARRAY && c !== COMMA) start = i;
    if (c === QUOTE) {
      let j = i + 1;
      for (;;) {
        j = body.indexOf(QUOTE, j);
        if (j < 0) return spans; // unterminated: JSON.parse says so
        let slashes = 0;
        while (body[j - 1 - slashes] === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        j++;
      }
      i = j;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      if (depth - 1 > peak) peak = depth - 1;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
      if (depth === 0) {
        if (!close()) return null;
        last = i;
        continue;
      }
    } else if (c === COMMA && depth === 1) {
      if (!close()) return null;
      continue;
    }
    last = i;
  }
  return spans;
}

/** Why a parsed element is not a log record, or null when it is one. */
function notARecord(value: unknown): Message | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return say('log-hook.not-an-object', { type: valueType(value) });
  }
  if (!Object.hasOwn(value, 'type') || typeof (value as { type?: unknown }).type !== 'string') {
    return say('log-hook.no-type');
  }
  return null;
}

/** One element with its bytes: too deep to hand on, a log record, or something else with the reason. */
function elementOf(bytes: Buffer, value: unknown, tooDeep: boolean, limits: BodyLimits): BodyElement {
  if (tooDeep) {
    const reason = say('log-hook.too-deep', { limit: limits.maxDepth });
    return { record: false, bytes, value: null, tooDeep: true, reason };
  }
  const reason = notARecord(value);
  return reason
    ? { record: false, bytes, value, tooDeep: false, reason }
    : { record: true, bytes, value: value as Record<string, unknown> };
}

/**
 * A log hook's body, split: each element with its own bytes (a single record is the
 * whole body), and whether it is a log record. Too many elements, or a body that is
 * not JSON, say so instead.
 */
export function splitLogHookBody(body: Buffer, limits: BodyLimits): SplitBody {
  if (!startsArray(body)) return splitOne(body, limits);
  const spans = scanArray(body, limits.maxRecords);
  if (!spans) return { kind: 'too-many', limit: limits.maxRecords };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { kind: 'not-json', reason: say('log-hook.not-json', { error: (err as Error).message }) };
  }
  if (!Array.isArray(parsed) || parsed.length !== spans.length) {
    // Valid JSON always scans to as many spans as it has elements; this guards the scan itself.
    return { kind: 'not-json', reason: say('log-hook.unexpected-structure') };
  }
  const elements: BodyElement[] = [];
  let records = 0;
  for (let k = 0; k < parsed.length; k++) {
    const span = spans[k];
    const element = elementOf(body.subarray(span.start, span.end), parsed[k], span.depth > limits.maxDepth, limits);
    if (element.record) records++;
    elements.push(element);
  }
  return { kind: 'elements', batch: true, elements, records };
}

function startsArray(body: Buffer): boolean {
  let i = 0;
  while (i < body.length && isSpace(body[i])) i++;
  return i < body.length && body[i] === OPEN_ARRAY;
}

/**
 * How deep a parsed value nests, counted as scanArray() counts brackets (an object or array is
 * a level, a scalar none), walked without recursion; stops as soon as it passes `limit`.
 */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: { value: object; depth: number }[] = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: object; depth: number };
    if (depth > limit) return true;
    for (const key in current) {
      const inner = (current as Record<string, unknown>)[key];
      if (inner !== null && typeof inner === 'object') stack.push({ value: inner, depth: depth + 1 });
    }
  }
  return false;
}

/**
 * A body that is one value (KumoMTA's `send`): parsed, then measured by walking what was parsed
 * (JSON.parse itself is iterative), which costs less than scanning its bytes.
 */
function splitOne(body: Buffer, limits: BodyLimits): SplitBody {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { kind: 'not-json', reason: say('log-hook.not-json', { error: (err as Error).message }) };
  }
  const element = elementOf(body, value, nestsDeeperThan(value, limits.maxDepth), limits);
  return { kind: 'elements', batch: false, elements: [element], records: element.record ? 1 : 0 };
}

/** Why no element of a body is a log record (the body gets 422 with the verdict), or null when one is. */
export function noRecordReason(split: SplitBody): Message | null {
  if (split.kind === 'not-json') return split.reason;
  if (split.kind !== 'elements' || split.records > 0) return null;
  if (split.elements.length === 0) return say('log-hook.empty-array');
  const first = split.elements[0];
  if (!split.batch) return first.record ? null : first.reason;
  return say('log-hook.no-record-in-array', {
    count: split.elements.length,
    reason: first.record ? '' : first.reason,
  });
}
