// A message's data, whole: the one codec for whatever the pack keeps of a msg
// (the retry journal, an attempt's own copy of the payload). JSON alone would
// give a Date back as a string and a Buffer as {type, data}, and the property
// check would then refuse the restored message; and a recursive copy or
// JSON.stringify of a payload nested some thousands deep overflows the stack,
// which inside a timer stops Node-RED. So every walk here is iterative, with a
// depth bound, and what it cannot keep is bad input for that message alone.
//
// The stored form is JSON with a few tagged objects, each a single key starting
// with `$`: {$date}, {$buffer} (base64), {$bigint}, {$number} (NaN, ±Infinity,
// -0), {$undefined}, {$map}, {$set}. A message's own object with a key starting
// with `$` is wrapped in {$object}, so it comes back as it was.

import { ERROR_CODES, KumoError } from '../text/errors';
import { say } from '../text/messages';

/**
 * How deep a message's data may nest. KumoMTA's log records nest four deep; a
 * bound far above any real message and far below what a recursive walk (Node-RED's
 * own msg clone at a fork, JSON.stringify) survives.
 */
export const MAX_DATA_DEPTH = 128;

type Container = Record<string, unknown> | unknown[] | Map<unknown, unknown> | Set<unknown>;

function tooDeep(what: string): KumoError {
  return new KumoError(ERROR_CODES.badInput, say('message-data.too-deep', { what, depth: MAX_DATA_DEPTH }));
}

/** Sets a key as an own property even when it is `__proto__`, so data never changes a prototype. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What a copy keeps of an object that is neither plain nor one of the kinds below: its own enumerable data, on its prototype. */
function emptyLike(value: object): Record<string, unknown> {
  return Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
}

/**
 * A deep copy of a payload (or any msg value) for one delivery attempt: Buffers,
 * typed arrays and Dates are copied, plain objects and arrays walked, functions
 * and other leaves kept as they are. `approxBytes` counts what the copy holds
 * (string lengths, buffer bytes, 8 per other value), for the byte limit of what a
 * node keeps. Throws KUMO_BAD_INPUT when it nests deeper than MAX_DATA_DEPTH
 * (a cycle does too). Iterative: no input can overflow the stack.
 */
export function copyData(value: unknown, what = 'msg.payload'): { copy: unknown; approxBytes: number } {
  let bytes = 0;
  const leaf = (v: unknown): { done: true; value: unknown } | { done: false; value: Container } => {
    if (v === null || typeof v !== 'object') {
      bytes += typeof v === 'string' ? v.length : 8;
      return { done: true, value: v };
    }
    if (Buffer.isBuffer(v)) {
      bytes += v.length;
      return { done: true, value: Buffer.from(v) };
    }
    if (ArrayBuffer.isView(v)) {
      bytes += v.byteLength;
      const sliceable = v as unknown as { slice?: () => unknown };
      return { done: true, value: typeof sliceable.slice === 'function' ? sliceable.slice() : v };
    }
    if (v instanceof Date) {
      bytes += 8;
      return { done: true, value: new Date(v.getTime()) };
    }
    if (Array.isArray(v)) return { done: false, value: new Array(v.length) };
    if (v instanceof Map) return { done: false, value: new Map() };
    if (v instanceof Set) return { done: false, value: new Set() };
    return { done: false, value: isPlainObject(v) ? {} : emptyLike(v) };
  };
  const first = leaf(value);
  if (first.done) return { copy: first.value, approxBytes: bytes };
  const stack: { from: object; to: Container; depth: number }[] = [
    { from: value as object, to: first.value, depth: 1 },
  ];
  while (stack.length > 0) {
    const { from, to, depth } = stack.pop() as { from: object; to: Container; depth: number };
    if (depth > MAX_DATA_DEPTH) throw tooDeep(what);
    const child = (v: unknown, place: (copied: unknown) => void): void => {
      const r = leaf(v);
      place(r.value);
      if (!r.done) stack.push({ from: v as object, to: r.value, depth: depth + 1 });
    };
    if (Array.isArray(from)) {
      const out = to as unknown[];
      for (let i = 0; i < from.length; i++)
        child(from[i], (c) => {
          out[i] = c;
        });
    } else if (from instanceof Map) {
      for (const [k, v] of from) child(v, (c) => (to as Map<unknown, unknown>).set(k, c));
    } else if (from instanceof Set) {
      for (const v of from) child(v, (c) => (to as Set<unknown>).add(c));
    } else {
      const out = to as Record<string, unknown>;
      for (const key of Object.keys(from)) {
        bytes += key.length;
        child((from as Record<string, unknown>)[key], (c) => setOwn(out, key, c));
      }
    }
  }
  return { copy: first.value, approxBytes: bytes };
}

const TAGS = new Set(['$date', '$buffer', '$bigint', '$number', '$undefined', '$map', '$set', '$object']);

/** An object of the message's own that could be read as a tag: stored inside {$object}. */
function hasDollarKey(o: Record<string, unknown>): boolean {
  for (const key of Object.keys(o)) if (key.charCodeAt(0) === 36) return true;
  return false;
}

function singleDollarKey(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  return keys.length === 1 && keys[0].startsWith('$');
}

/**
 * A value in the stored form: JSON-safe, depth-bounded (so JSON.stringify of it
 * cannot overflow), and decodeData gives back the same values. Functions and
 * symbols are left out, as JSON leaves them out. Throws KUMO_BAD_INPUT when the
 * value nests deeper than MAX_DATA_DEPTH or refers to itself.
 */
export function encodeData(value: unknown, what = 'msg'): unknown {
  const leaf = (v: unknown): { done: true; value: unknown } | { done: false; value: Container; from: object } => {
    switch (typeof v) {
      case 'number':
        if (Number.isFinite(v) && !Object.is(v, -0)) return { done: true, value: v };
        return { done: true, value: { $number: Object.is(v, -0) ? '-0' : String(v) } };
      case 'bigint':
        return { done: true, value: { $bigint: v.toString() } };
      case 'undefined':
        return { done: true, value: { $undefined: 1 } };
      case 'object':
        break;
      default:
        return { done: true, value: v };
    }
    if (v === null) return { done: true, value: null };
    if (Buffer.isBuffer(v)) return { done: true, value: { $buffer: v.toString('base64') } };
    if (v instanceof Date) {
      const ms = v.getTime();
      return { done: true, value: { $date: Number.isNaN(ms) ? null : v.toISOString() } };
    }
    if (ArrayBuffer.isView(v))
      return { done: true, value: { $buffer: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } };
    if (Array.isArray(v)) return { done: false, value: [], from: v };
    if (v instanceof Map) {
      const entries: unknown[] = [];
      return { done: false, value: entries, from: [...v].flat() };
    }
    if (v instanceof Set) return { done: false, value: [], from: [...v] };
    return { done: false, value: {}, from: v as object };
  };
  const wrap = (v: unknown, out: Container): unknown => {
    if (v instanceof Map) return { $map: out };
    if (v instanceof Set) return { $set: out };
    if (!Array.isArray(v) && hasDollarKey(v as Record<string, unknown>)) return { $object: out };
    return out;
  };
  const first = leaf(value);
  if (first.done) return first.value;
  const stack: { from: object; to: Container; depth: number }[] = [{ from: first.from, to: first.value, depth: 1 }];
  while (stack.length > 0) {
    const { from, to, depth } = stack.pop() as { from: object; to: Container; depth: number };
    if (depth > MAX_DATA_DEPTH) throw tooDeep(what);
    const place = (v: unknown): unknown => {
      if (typeof v === 'function' || typeof v === 'symbol') return undefined;
      const r = leaf(v);
      if (r.done) return r.value;
      stack.push({ from: r.from, to: r.value, depth: depth + 1 });
      return wrap(v, r.value);
    };
    if (Array.isArray(from)) {
      const out = to as unknown[];
      for (const v of from) {
        const placed = place(v);
        out.push(placed === undefined ? null : placed);
      }
    } else {
      const out = to as Record<string, unknown>;
      for (const key of Object.keys(from)) {
        const placed = place((from as Record<string, unknown>)[key]);
        if (placed !== undefined) setOwn(out, key, placed);
      }
    }
  }
  return wrap(value, first.value);
}

/** The value encodeData was given. Iterative; a stored form nested deeper than the bound is refused. */
export function decodeData(stored: unknown, what = 'msg'): unknown {
  type Pending = { from: unknown[] | Record<string, unknown>; to: Container; depth: number };
  const stack: Pending[] = [];
  const leaf = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      stack.push({ from: v, to: out, depth });
      return out;
    }
    const o = v as Record<string, unknown>;
    if (singleDollarKey(o)) {
      const tag = Object.keys(o)[0];
      const inner = o[tag];
      if (TAGS.has(tag)) {
        switch (tag) {
          case '$date':
            return new Date(typeof inner === 'string' ? inner : Number.NaN);
          case '$buffer':
            return Buffer.from(String(inner), 'base64');
          case '$bigint':
            return BigInt(String(inner));
          case '$number':
            return inner === '-0' ? -0 : Number(inner);
          case '$undefined':
            return undefined;
          case '$map': {
            const flat: unknown[] = Array.isArray(inner) ? new Array(inner.length) : [];
            const map = new Map<unknown, unknown>();
            if (Array.isArray(inner)) stack.push({ from: inner, to: flat, depth });
            // Filled from `flat` once its elements are decoded (see below).
            pendingMaps.push({ flat, map });
            return map;
          }
          case '$set': {
            const flat: unknown[] = Array.isArray(inner) ? new Array(inner.length) : [];
            const set = new Set<unknown>();
            if (Array.isArray(inner)) stack.push({ from: inner, to: flat, depth });
            pendingSets.push({ flat, set });
            return set;
          }
          case '$object': {
            const out: Record<string, unknown> = {};
            if (inner !== null && typeof inner === 'object')
              stack.push({ from: inner as Record<string, unknown>, to: out, depth });
            return out;
          }
        }
      }
    }
    const out: Record<string, unknown> = {};
    stack.push({ from: o, to: out, depth });
    return out;
  };
  const pendingMaps: { flat: unknown[]; map: Map<unknown, unknown> }[] = [];
  const pendingSets: { flat: unknown[]; set: Set<unknown> }[] = [];
  const result = leaf(stored, 1);
  while (stack.length > 0) {
    const { from, to, depth } = stack.pop() as Pending;
    if (depth > MAX_DATA_DEPTH) throw tooDeep(what);
    if (Array.isArray(from)) {
      const out = to as unknown[];
      for (let i = 0; i < from.length; i++) out[i] = leaf(from[i], depth + 1);
    } else {
      const out = to as Record<string, unknown>;
      for (const key of Object.keys(from)) setOwn(out, key, leaf(from[key], depth + 1));
    }
  }
  // Every element is decoded now; maps and sets hold them by identity, so the order they fill in does not matter.
  for (const { flat, map } of pendingMaps) for (let j = 0; j + 1 < flat.length; j += 2) map.set(flat[j], flat[j + 1]);
  for (const { flat, set } of pendingSets) for (const v of flat) set.add(v);
  return result;
}
