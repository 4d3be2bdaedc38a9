// Durable retries: the deliveries a custom protocol node has not finished are
// kept in one file per event name under Node-RED's user directory, so a
// restart or redeploy delivers them afterwards.
//
// The file is a journal: one line per operation (a delivery kept, rescheduled
// or removed), each line prefixed with a checksum of its JSON. During an
// outage every delivery is rescheduled again and again; appending a line of a
// few dozen bytes per change, one append and one fsync per flush, costs what
// changed instead of rewriting every payload kept. A crash in the middle of an
// append tears at most the tail, which the checksums find and load() ignores.
// Now and then (when the journal is much larger than what it describes) it is
// rewritten as a snapshot of the live set, atomically: temporary file, fsync,
// rename, fsync of the directory, so a crash leaves the old file or the new,
// never a torn one.
//
// The file is read and written a line at a time, never as one string: a journal
// may hold more than V8's longest string (about 512 MiB). Every field read back is
// checked, since the file is input like any other; a message's data (payload and
// other properties) goes through the one codec of message-data.ts, so a Date or a
// Buffer comes back as one.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { crc32 } from 'node:zlib';
import { CoreError } from '../text/errors';
import { decodeData, encodeData } from './message-data';
import { render, say } from '../text/messages';
import type { QueueConfig } from '../kumo/queue-config';
import type { QueueName } from '../kumo/queue-name';

export type StoredPayload =
  | { type: 'buffer'; base64: string }
  | { type: 'string'; value: string }
  /** Any other value, in the codec's stored form (message-data.ts). */
  | { type: 'data'; value: unknown }
  /** Plain JSON, as journals of version 2 hold an object payload. */
  | { type: 'json'; value: unknown }
  | { type: 'none' };

export interface StoredDelivery {
  id: string;
  payload: StoredPayload;
  queue: QueueName;
  queueConfig: QueueConfig;
  createdMs: number;
  attempts: number;
  /** When the next attempt is due (epoch ms); 0 = as soon as possible. */
  dueMs: number;
  /** The message's other properties (msg.topic, msg.properties, ...), in the codec's stored form. */
  props: Record<string, unknown>;
}

export interface RetryStoreOptions {
  /** How long operations are buffered before they are written together (ms). */
  flushDelayMs?: number;
  /** A write the store started by itself (the delayed flush) failed; later writes go on. */
  onError?: (err: Error) => void;
  /** Journal growth beyond twice the live records that is tolerated before compaction (bytes). */
  compactFloorBytes?: number;
  /** Makes a rename or unlink in `dir` durable; replaceable so tests can play a file system that refuses it. */
  syncDirectory?: (dir: string) => Promise<void>;
  /** Where an earlier release kept this store: read when `file` does not exist yet, removed once `file` is written. */
  legacyFile?: string;
}

export interface LoadResult {
  /** Each with its props already restored (restoreProps): plain values, process-bound ones left out. */
  deliveries: StoredDelivery[];
  /** A sentence for the user when something could not be read; null when all was well. */
  problem: string | null;
}

/** The file written by the release before the journal: the whole set as one JSON document. */
interface StoreFileV1 {
  version: 1;
  eventName: string;
  deliveries: StoredDelivery[];
}

const JOURNAL_VERSION = 4;
/**
 * Still read: version 2 kept props as plain JSON and object payloads as type 'json';
 * versions 2 and 3 checked each line with 48 bits of SHA-1 instead of a CRC-32.
 */
const READABLE_VERSIONS = new Set([2, 3, JOURNAL_VERSION]);
/** From this version on, props and payloads are in the codec's form (message-data.ts). */
const CODEC_VERSION = 3;

type Operation =
  | { op: 'header'; version: number; eventName: string }
  | { op: 'put'; d: StoredDelivery }
  | { op: 'reschedule'; id: string; attempts: number; dueMs: number }
  | { op: 'remove'; id: string };

// Properties that belong to one process or one attempt, never to the message.
const TRANSIENT_PROPS = new Set([
  '_msgid',
  '_amqpAck',
  '_kumoLogHook',
  '__proto__',
  'req',
  'res',
  'payload',
  'queue',
  'queueConfig',
  'kumo',
  'amqp',
  'reject',
  'error',
  '_event',
]);

const DEFAULT_FLUSH_DELAY_MS = 200;
// Each compaction encodes every live delivery again, and with the spool on every queued
// message is live: a floor of 16 MiB makes that a small share of what appending costs
// (at 1 KiB messages, one rewrite of the live set per ten thousand or so accepted), at
// the price of a journal that may grow that much past its live records before it shrinks.
const DEFAULT_COMPACT_FLOOR_BYTES = 16 * 1024 * 1024;
// A line's checksum: CRC-32 (8 hex digits), computed natively; it exists to find a torn or
// damaged line, not to resist a forger (the file is the node's own, in a 0700 directory).
// Versions 2 and 3 wrote the first 48 bits of SHA-1 (12 hex digits): still read.
const LINE = /^([0-9a-f]{8}|[0-9a-f]{12}) (.*)$/s;

// What some file systems (and Windows) answer to an fsync of a directory: the
// rename has happened, there is just no way to force it to disk from here.
const DIRECTORY_SYNC_REFUSED = new Set(['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF']);

/**
 * A Buffer payload whose base64 this process wrote (Buffer.toString): it needs no escaping
 * in JSON. Its class tells it apart from one read from a file (a WeakSet of them costs
 * twice as much per message, and weighs on every garbage collection).
 */
class OwnBase64 {
  readonly type = 'buffer';
  constructor(readonly base64: string) {}
}

/** Throws KUMO_BAD_INPUT for data the codec cannot keep (nested too deep); put() reports it. */
export function storePayload(payload: unknown): StoredPayload {
  if (Buffer.isBuffer(payload)) return new OwnBase64(payload.toString('base64'));
  if (typeof payload === 'string') return { type: 'string', value: payload };
  if (payload === undefined) return { type: 'none' };
  return { type: 'data', value: encodeData(payload, 'msg.payload') };
}

export function restorePayload(stored: StoredPayload): unknown {
  switch (stored.type) {
    case 'buffer':
      return Buffer.from(stored.base64, 'base64');
    case 'data':
      return decodeData(stored.value, 'msg.payload');
    case 'string':
    case 'json':
      return stored.value;
    default:
      return undefined;
  }
}

/**
 * The properties worth keeping across a restart, in the codec's stored form: not
 * tied to this process (req, res, an ack handle), nor to one attempt. A property the
 * codec cannot keep (nested too deep, refers to itself) is left out.
 */
export function storableProps(msg: object): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(msg)) {
    const value = (msg as Record<string, unknown>)[key];
    if (TRANSIENT_PROPS.has(key) || value === undefined || typeof value === 'function') continue;
    try {
      props[key] = encodeData(value, `msg.${key}`);
    } catch {
      // cannot outlive the process; the delivery itself is still kept
    }
  }
  return props;
}

/** The properties a stored delivery brings back, checked like any input: process-bound ones never come back. */
function restoreProps(props: Record<string, unknown>, version: number = JOURNAL_VERSION): Record<string, unknown> {
  const restored: Record<string, unknown> = {};
  for (const key of Object.keys(props)) {
    if (TRANSIENT_PROPS.has(key)) continue;
    restored[key] = version >= CODEC_VERSION ? decodeData(props[key], `msg.${key}`) : props[key];
  }
  return restored;
}

// Characters a file name keeps as they are; `_` is not among them, it starts an escape.
const FILE_NAME_SAFE = /[^A-Za-z0-9.-]/gu;

/**
 * One file per event name, whatever its characters: every other character is
 * written as `_` and its UTF-8 bytes in hex, so no two names share a file
 * (`make:amqp` → `make_3aamqp`, `make_amqp` → `make_5famqp`).
 */
export function storeFileName(directory: string, eventName: string): string {
  const escaped = eventName.replace(FILE_NAME_SAFE, (c) => `_${Buffer.from(c, 'utf8').toString('hex')}`);
  return path.join(directory, `retries-${escaped}.json`);
}

/** The name earlier releases gave the file (every other character as `_`), read once and then replaced. */
export function legacyStoreFileName(directory: string, eventName: string): string {
  return path.join(directory, `retries-${eventName.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** A line's checksum as checksum() writes it, straight into the line's first 8 bytes. */
function writeHex32(line: Buffer, value: number): void {
  for (let i = 7; i >= 0; i--) {
    line[i] = HEX_DIGITS[value & 0xf];
    value >>>= 4;
  }
}

function checksum(json: string): string {
  return crc32(json).toString(16).padStart(8, '0');
}

/** The checksum a line of an older journal carries. */
function sha1Checksum(json: string): string {
  return crypto.createHash('sha1').update(json).digest('hex').slice(0, 12);
}

/** A number as JSON writes it (String gives the same digits; JSON has no NaN or Infinity). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Frozen all the way down: nothing can change it after its JSON is kept. */
function deepFrozen(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > 16 || !Object.isFrozen(value)) return false;
  for (const inner of Object.values(value)) if (!deepFrozen(inner, depth + 1)) return false;
  return true;
}

// A rule's queue config is one frozen object shared by every message the rule routes:
// its JSON is made once, not once per accepted message.
const configJsonCache = new WeakMap<object, string>();

function queueConfigJson(config: QueueConfig): string {
  const cached = configJsonCache.get(config);
  if (cached !== undefined) return cached;
  const json = JSON.stringify(config);
  if (config !== null && typeof config === 'object' && deepFrozen(config)) configJsonCache.set(config, json);
  return json;
}

const isNameOrNull = (value: unknown): boolean => value === null || typeof value === 'string';

/** A queue name's JSON, field by field, when it has the QueueName shape; otherwise null. */
function queueJson(queue: QueueName): string | null {
  if (queue === null || typeof queue !== 'object' || typeof queue.name !== 'string' || typeof queue.domain !== 'string')
    return null;
  const { tenant, campaign, routing_domain } = queue;
  if (!isNameOrNull(tenant) || !isNameOrNull(campaign) || !isNameOrNull(routing_domain)) return null;
  const s = JSON.stringify;
  return `{"name":${s(queue.name)},"domain":${s(queue.domain)},"tenant":${s(tenant)},"campaign":${s(campaign)},"routing_domain":${s(routing_domain)}}`;
}

/**
 * A put line's JSON, field by field (what JSON.stringify would write of the delivery, made for
 * the one shape it has): the queue config's JSON is made once per config, and a Buffer payload's
 * base64 (most of the line, needing no escaping) is kept apart, to be written as it is.
 */
function putJson(d: StoredDelivery): { head: string; base64: string | null; tail: string } {
  const queue = queueJson(d.queue);
  if (queue === null || typeof d.id !== 'string' || d.props === null || typeof d.props !== 'object')
    return { head: JSON.stringify({ op: 'put', d }), base64: null, tail: '' }; // not the usual shape: as it is
  const tail =
    `,"id":${JSON.stringify(d.id)},"queue":${queue},"queueConfig":${queueConfigJson(d.queueConfig)}` +
    `,"createdMs":${jsonNumber(d.createdMs)},"attempts":${jsonNumber(d.attempts)},"dueMs":${jsonNumber(d.dueMs)}` +
    `,"props":${JSON.stringify(d.props)}}}`;
  if (d.payload instanceof OwnBase64)
    return {
      head: '{"op":"put","d":{"payload":{"type":"buffer","base64":"',
      base64: d.payload.base64,
      tail: `"}${tail}`,
    };
  return { head: `{"op":"put","d":{"payload":${JSON.stringify(d.payload)}`, base64: null, tail };
}

/**
 * A journal line, as bytes: `<crc32> <json>\n`. The JSON is written once, straight into the
 * line (a put's base64 as Latin-1, a plain copy), and the checksum reads those bytes.
 */
function encode(operation: Operation): Buffer {
  let head: string;
  let base64: string | null = null;
  let tail = '';
  if (operation.op === 'put') ({ head, base64, tail } = putJson(operation.d));
  else head = JSON.stringify(operation);
  const headBytes = Buffer.byteLength(head, 'utf8');
  const base64Bytes = base64 === null ? 0 : base64.length;
  const bytes = headBytes + base64Bytes + (tail === '' ? 0 : Buffer.byteLength(tail, 'utf8'));
  const line = Buffer.allocUnsafe(bytes + 10);
  let at = 9 + line.write(head, 9, 'utf8');
  if (base64 !== null) at += line.write(base64, at, 'latin1');
  if (tail !== '') line.write(tail, at, 'utf8');
  writeHex32(line, crc32(line.subarray(9, 9 + bytes)));
  line[8] = 0x20; // ' '
  line[line.length - 1] = 0x0a; // '\n'
  return line;
}

/** The operation a journal line holds, or null when the line is torn, damaged or not one of ours. */
function decode(line: string): Operation | null {
  const m = LINE.exec(line);
  if (!m || (m[1].length === 8 ? checksum(m[2]) : sha1Checksum(m[2])) !== m[1]) return null;
  let value: unknown;
  try {
    value = JSON.parse(m[2]);
  } catch {
    return null;
  }
  const o = value as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') return null;
  switch (o.op) {
    case 'header':
      return typeof o.version === 'number' && typeof o.eventName === 'string' ? (o as Operation) : null;
    case 'put':
      return isDelivery(o.d) ? (o as Operation) : null;
    case 'reschedule':
      return isId(o.id) && isCount(o.attempts) && isTime(o.dueMs) ? (o as Operation) : null;
    case 'remove':
      return isId(o.id) ? (o as Operation) : null;
    default:
      return null;
  }
}

// A line that passes its checksum may still not be ours (a file edited by hand,
// or copied from elsewhere): every field is checked before it is believed.
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function isPayload(p: unknown): p is StoredPayload {
  if (!isRecord(p)) return false;
  switch (p.type) {
    case 'buffer':
      return typeof p.base64 === 'string';
    case 'string':
      return typeof p.value === 'string';
    case 'data':
    case 'json':
      return 'value' in p;
    case 'none':
      return true;
    default:
      return false;
  }
}

function isDelivery(d: unknown): d is StoredDelivery {
  if (!isRecord(d)) return false;
  return (
    isId(d.id) &&
    isPayload(d.payload) &&
    isRecord(d.queue) &&
    isRecord(d.queueConfig) &&
    isTime(d.createdMs) &&
    isCount(d.attempts) &&
    isTime(d.dueMs) &&
    isRecord(d.props)
  );
}

interface Parsed {
  deliveries: Map<string, StoredDelivery>;
  /** The size of each delivery's latest put line, for compaction. */
  lineBytes: Map<string, number>;
  /** The journal's version: how its props are stored. */
  version: number;
  /** Lines that could not be read and were followed by lines that could: damage, not a crash. */
  damaged: number;
  /** The file can be appended to as it is (ends with a whole, valid line of the current format). */
  appendable: boolean;
  /** The file's size in bytes. */
  bytes: number;
}

// A journal a release before version 2 wrote as one JSON document; such files are small.
const V1_MAX_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

/** Calls onLine for each line of the file, read in chunks; returns the file's size and whether it ends with a newline. */
function readLines(file: string, onLine: (line: string) => void): { bytes: number; endsWithNewline: boolean } {
  const fd = fs.openSync(file, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let bytes = 0;
    let rest = '';
    let lastByte = -1;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      bytes += n;
      lastByte = chunk[n - 1];
      const text = rest + decoder.write(chunk.subarray(0, n));
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        onLine(text.slice(start, end));
        start = end + 1;
      }
      rest = text.slice(start);
    }
    rest += decoder.end();
    if (rest !== '') onLine(rest);
    return { bytes, endsWithNewline: lastByte === 0x0a };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Throws (with the reason) only when the file is not a retry store at all, or is
 * the store of another event name.
 */
function parse(file: string, eventName: string): Parsed {
  const deliveries = new Map<string, StoredDelivery>();
  const lineBytes = new Map<string, number>();
  let header: Operation | null | undefined;
  let legacy: string | null = null;
  let version = JOURNAL_VERSION;
  let unreadable = 0;
  let damaged = 0;
  const { bytes, endsWithNewline } = readLines(file, (line) => {
    if (legacy !== null) {
      legacy += `\n${line}`;
      if (legacy.length > V1_MAX_BYTES) throw new CoreError(say('retry-store.not-a-store'));
      return;
    }
    if (header === undefined) {
      if (line.startsWith('{')) {
        legacy = line;
        return;
      }
      header = decode(line);
      if (header?.op !== 'header' || !READABLE_VERSIONS.has(header.version))
        throw new CoreError(say('retry-store.not-a-store'));
      if (header.eventName !== eventName)
        throw new CoreError(say('retry-store.other-event', { name: header.eventName }));
      version = header.version;
      return;
    }
    const operation = decode(line);
    if (!operation || operation.op === 'header') {
      unreadable++;
      return;
    }
    // A bad line followed by good ones is damage; bad lines at the end are an append a crash cut short.
    damaged += unreadable;
    unreadable = 0;
    if (operation.op === 'put') {
      deliveries.set(operation.d.id, operation.d);
      lineBytes.set(operation.d.id, Buffer.byteLength(line) + 1);
    } else if (operation.op === 'reschedule') {
      const d = deliveries.get(operation.id);
      if (d) deliveries.set(d.id, { ...d, attempts: operation.attempts, dueMs: operation.dueMs });
    } else {
      deliveries.delete(operation.id);
      lineBytes.delete(operation.id);
    }
  });
  if (legacy !== null) return parseV1(legacy, eventName, bytes);
  if (header === undefined) throw new CoreError(say('retry-store.not-a-store'));
  return {
    deliveries,
    lineBytes,
    version,
    damaged,
    appendable: version === JOURNAL_VERSION && damaged === 0 && unreadable === 0 && endsWithNewline,
    bytes,
  };
}

function parseV1(content: string, eventName: string, bytes: number): Parsed {
  const data = JSON.parse(content) as StoreFileV1;
  if (data === null || data.version !== 1 || !Array.isArray(data.deliveries) || !data.deliveries.every(isDelivery)) {
    throw new CoreError(say('retry-store.not-a-store'));
  }
  if (data.eventName !== eventName)
    throw new CoreError(say('retry-store.other-event', { name: String(data.eventName) }));
  const deliveries = new Map<string, StoredDelivery>();
  for (const d of data.deliveries) deliveries.set(d.id, d);
  // The next write converts it to a journal.
  return { deliveries, lineBytes: new Map(), version: 1, damaged: 0, appendable: false, bytes };
}

/** Copies with their props restored: what a caller does with them must not change what a compaction writes. */
function restoredDeliveries(parsed: Parsed): StoredDelivery[] {
  const out: StoredDelivery[] = [];
  for (const d of parsed.deliveries.values()) {
    let props: Record<string, unknown>;
    try {
      props = restoreProps(d.props, parsed.version);
    } catch {
      props = {}; // the message itself is still worth delivering
    }
    out.push({ ...d, props });
  }
  return out;
}

async function syncDirectoryDefault(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let tempCounter = 0;

interface LiveEntry {
  d: StoredDelivery | null;
  source: (() => StoredDelivery) | null;
  /** The size of its put line, which compaction weighs the journal against. */
  bytes: number;
}

// writev takes at most IOV_MAX (1024 on Linux) buffers at a time.
const LINES_PER_WRITEV = 1024;

/** Writes the lines in order, without joining them into one buffer first; resolves to their bytes. */
async function writeLines(handle: fs.promises.FileHandle, lines: Buffer[]): Promise<number> {
  let bytes = 0;
  for (let start = 0; start < lines.length; start += LINES_PER_WRITEV) {
    const group = lines.slice(start, start + LINES_PER_WRITEV);
    let groupBytes = 0;
    for (const line of group) groupBytes += line.length;
    const { bytesWritten } = await handle.writev(group);
    // A short write (rare on a file, but allowed): the rest goes out in one piece.
    if (bytesWritten < groupBytes) await handle.writeFile(Buffer.concat(group, groupBytes).subarray(bytesWritten));
    bytes += groupBytes;
  }
  return bytes;
}

/**
 * The store's directory, readable by Node-RED's user alone: the journal holds
 * message data. One the pack made earlier with wider permissions is narrowed.
 */
export async function ensurePrivateDirectory(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await fs.promises.stat(dir);
  if ((stat.mode & 0o077) !== 0 && typeof process.getuid === 'function' && stat.uid === process.getuid()) {
    await fs.promises.chmod(dir, stat.mode & 0o700);
  }
}

/** A delivery of an older journal version in the current one. */
function upgraded(d: StoredDelivery, version: number): StoredDelivery {
  if (version >= CODEC_VERSION) return d;
  const props = storableProps(d.props); // plain JSON values, now in the codec's form
  let payload = d.payload;
  try {
    if (payload.type === 'json') payload = storePayload(payload.value);
  } catch {
    // nested too deep for the codec: kept as the plain JSON it was
  }
  return { ...d, props, payload };
}

/**
 * The deliveries of one custom protocol node that must survive a restart.
 *
 * The store holds the live set in memory and mirrors every change to the
 * file: put / reschedule / remove buffer one journal line each and schedule a
 * flush (one append, one fsync) `flushDelayMs` after the first of them.
 * Writes are serialised; a failed write never
 * stops later ones, and the write after a failure is a full snapshot, so the
 * file catches up with the set in memory.
 */
export class RetryStore {
  /** Bytes handed to the file system (journal appends and snapshots), for the benchmark. */
  bytesWritten = 0;

  /**
   * What is kept, by id: the record itself (read from the file, or put without a source),
   * or where to make it again when a snapshot needs it. A spooled delivery lives in the
   * delivery queue anyway: keeping a second copy of its data here (base64 and all) would
   * double what every unfinished message holds in memory.
   */
  private readonly live = new Map<string, LiveEntry>();
  private liveBytes = 0;
  private buffer: Buffer[] = [];
  private bufferBytes = 0;
  /** The journal's size on disk; 0 when there is no file. */
  private journalBytes = 0;
  /** False until a write or load() shows the file is a journal that ends with a whole line. */
  private appendable = false;
  private timer: NodeJS.Timeout | null = null;
  /** The write that the operations buffered in this turn wait for (group commit), once one was asked for. */
  private committing: Promise<void> | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly flushDelayMs: number;
  private readonly compactFloorBytes: number;
  private readonly onError: (err: Error) => void;
  private readonly syncDirectory: (dir: string) => Promise<void>;
  private legacyFile: string | null;

  constructor(
    readonly file: string,
    private readonly eventName: string,
    options: RetryStoreOptions = {},
  ) {
    this.flushDelayMs = options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;
    this.compactFloorBytes = options.compactFloorBytes ?? DEFAULT_COMPACT_FLOOR_BYTES;
    this.onError = options.onError ?? (() => undefined);
    this.syncDirectory = options.syncDirectory ?? syncDirectoryDefault;
    this.legacyFile = options.legacyFile && options.legacyFile !== file ? options.legacyFile : null;
  }

  /** How many deliveries are kept. */
  get size(): number {
    return this.live.size;
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  /**
   * Reads what a previous run left; call it once, before any other operation
   * (without it, the first write replaces whatever the file held). Damaged
   * lines in the middle are skipped and reported; a file that is not a store
   * at all is moved aside (kept for inspection) and reported. Never throws:
   * one bad file must not stop the node.
   */
  load(): LoadResult {
    this.live.clear();
    this.liveBytes = 0;
    this.appendable = false;
    this.journalBytes = 0;
    try {
      this.removeTemporaryFiles();
      let source = this.file;
      if (this.legacyFile && !fs.existsSync(this.file) && fs.existsSync(this.legacyFile)) source = this.legacyFile;
      else this.legacyFile = null;
      let parsed: Parsed;
      try {
        parsed = parse(source, this.eventName);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { deliveries: [], problem: null };
        if (typeof code === 'string' && !(err instanceof CoreError)) {
          // Left in place: the first write will replace it, as it would any file of that name.
          return {
            deliveries: [],
            problem: render(say('retry-store.cannot-read', { file: source, error: (err as Error).message })),
          };
        }
        if (source !== this.file) {
          // Another event's file under the old naming: not ours, left alone.
          this.legacyFile = null;
          return { deliveries: [], problem: null };
        }
        return { deliveries: [], problem: this.moveAside((err as Error).message) };
      }
      // Every kept delivery is rewritten in the current version at the first write.
      for (const d of parsed.deliveries.values()) {
        const current = parsed.version === JOURNAL_VERSION ? d : upgraded(d, parsed.version);
        const bytes = current === d ? parsed.lineBytes.get(d.id) : undefined;
        this.index(current, bytes ?? encode({ op: 'put', d: current }).length);
      }
      this.journalBytes = source === this.file ? parsed.bytes : 0;
      this.appendable = source === this.file && parsed.appendable;
      const problem =
        parsed.damaged > 0 ? render(say('retry-store.lines-skipped', { file: source, count: parsed.damaged })) : null;
      return { deliveries: restoredDeliveries(parsed), problem };
    } catch (err) {
      this.live.clear();
      this.liveBytes = 0;
      return {
        deliveries: [],
        problem: render(say('retry-store.cannot-read', { file: this.file, error: (err as Error).message })),
      };
    }
  }

  private moveAside(error: string): string {
    const aside = `${this.file}.unreadable-${Date.now()}`;
    try {
      fs.renameSync(this.file, aside);
      return render(say('retry-store.invalid-moved', { file: this.file, error, aside }));
    } catch (err) {
      return render(say('retry-store.invalid-not-moved', { file: this.file, error, reason: (err as Error).message }));
    }
  }

  /** Leftovers of snapshots a crash interrupted: never the real store, safe to drop. */
  private removeTemporaryFiles(): void {
    const dir = path.dirname(this.file);
    const prefix = `${path.basename(this.file)}.`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return; // no directory yet: nothing left over
    }
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      try {
        fs.rmSync(path.join(dir, name), { force: true });
      } catch {
        // A leftover that cannot be removed only takes space; the store is still readable.
      }
    }
  }

  /**
   * Keeps a delivery (a new one, or a new version of a kept one): its whole
   * record, payload included, is written. With `source`, the store keeps only that
   * (what makes the record again, as it is then, for a snapshot) instead of the record.
   * A record JSON cannot write (a circular or BigInt payload) is not kept and goes to
   * onError; returns whether it was kept.
   */
  put(d: StoredDelivery, source?: () => StoredDelivery): boolean {
    const record = source ? d : { ...d };
    let line: Buffer;
    try {
      line = encode({ op: 'put', d: record });
    } catch (err) {
      this.onError(new CoreError(say('retry-store.not-storable', { id: String(d.id), error: (err as Error).message })));
      return false;
    }
    const bytes = line.length;
    this.append(line);
    this.indexEntry(d.id, { d: source ? null : record, source: source ?? null, bytes });
    return true;
  }

  /** A kept delivery's new attempt count and due time: a line without the payload. Unknown ids are ignored. */
  reschedule(id: string, attempts: number, dueMs: number): void {
    const entry = this.live.get(id);
    if (!entry) return;
    // A source gives the delivery as it is now; a kept record is brought up to date.
    if (entry.d) entry.d = { ...entry.d, attempts, dueMs };
    this.append(encode({ op: 'reschedule', id, attempts, dueMs }));
  }

  /** A delivery that is finished (or given up): no longer kept. Unknown ids are ignored. */
  remove(id: string): void {
    const entry = this.live.get(id);
    if (!entry) return;
    this.live.delete(id);
    this.liveBytes -= entry.bytes;
    this.append(encode({ op: 'remove', id }));
  }

  /**
   * Group commit: resolves once what is buffered now is on disk. Every caller in
   * the same turn shares one write and one fdatasync, made once the turn is over
   * (after the write in progress, if any); rejects when that write fails.
   */
  commit(): Promise<void> {
    if (!this.committing) {
      this.committing = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.committing = null;
          this.flush().then(resolve, reject);
        });
      });
    }
    return this.committing;
  }

  /**
   * Writes what is buffered now. Resolves when it is on disk (and everything
   * earlier too); rejects with the error when that write fails (onError is not
   * called for it: the caller has the error).
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const done = this.writing.then(() => this.writeOut());
    this.writing = done.catch(() => undefined);
    return done;
  }

  /** `bytes`: the size of its put line, which compaction weighs the journal against (attempts and dueMs change it by a few digits). */
  private index(d: StoredDelivery, bytes: number): void {
    this.indexEntry(d.id, { d, source: null, bytes });
  }

  /** Holds an entry in the in-memory index of what is live, by id. */
  private indexEntry(id: string, entry: LiveEntry): void {
    const old = this.live.get(id);
    if (old) this.liveBytes -= old.bytes;
    this.live.set(id, entry);
    this.liveBytes += entry.bytes;
  }

  private append(line: Buffer): void {
    this.buffer.push(line);
    this.bufferBytes += line.length;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush().catch((err: Error) => this.onError(err));
      }, this.flushDelayMs);
    }
  }

  /** Runs when the previous write has finished: decides then what this one writes. */
  private async writeOut(): Promise<void> {
    const lines = this.buffer;
    const bytes = this.bufferBytes;
    this.buffer = [];
    this.bufferBytes = 0;
    if (this.live.size === 0) {
      if (this.journalBytes > 0 || !this.appendable) await this.removeFile();
      return;
    }
    const compact = this.journalBytes + bytes > 2 * this.liveBytes + this.compactFloorBytes;
    if (!this.appendable || this.journalBytes === 0 || compact) {
      await this.writeSnapshot();
    } else if (lines.length > 0) {
      await this.appendLines(lines, bytes);
    }
  }

  private async appendLines(lines: Buffer[], bytes: number): Promise<void> {
    // Until this append is known to be whole, a later write must not append after it.
    this.appendable = false;
    let handle: fs.promises.FileHandle;
    try {
      // Without O_CREAT: appending to a file someone removed would start a journal without its header.
      handle = await fs.promises.open(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The snapshot holds the live set as it is now: what was buffered meanwhile is in it.
      this.buffer = [];
      this.bufferBytes = 0;
      await this.writeSnapshot();
      return;
    }
    try {
      this.bytesWritten += bytes;
      await writeLines(handle, lines);
      // The data and the size it needs to be read back; the rest of the inode can wait.
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.journalBytes += bytes;
    this.appendable = true;
  }

  private async writeSnapshot(): Promise<void> {
    this.appendable = false;
    // The lines of the live set as it is now (it changes while the write runs).
    const lines = [encode({ op: 'header', version: JOURNAL_VERSION, eventName: this.eventName })];
    for (const entry of this.live.values()) {
      try {
        lines.push(encode({ op: 'put', d: entry.d ?? (entry.source as () => StoredDelivery)() }));
      } catch (err) {
        // It was written once (its put line is in the journal this snapshot replaces): say so, keep the rest.
        this.onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
    await ensurePrivateDirectory(path.dirname(this.file));
    const bytes = await this.replaceAtomically(lines);
    this.bytesWritten += bytes;
    this.journalBytes = bytes;
    this.appendable = true;
    if (this.legacyFile) {
      const legacy = this.legacyFile;
      this.legacyFile = null;
      await fs.promises.rm(legacy, { force: true });
    }
  }

  private async removeFile(): Promise<void> {
    this.appendable = false;
    try {
      await fs.promises.unlink(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.journalBytes = 0;
      this.appendable = true;
      return;
    }
    this.journalBytes = 0;
    // A removal lost in a power cut would bring back deliveries that were finished.
    await this.syncDirectoryTolerant();
    this.appendable = true;
  }

  /**
   * Write, fsync, rename, fsync the directory: the POSIX recipe for replacing a
   * file so that after a crash it holds the old content or the new, whole.
   * (write-file-atomic does the same; its current major needs Node >= 22.22,
   * while this pack runs on Node 20 and later.)
   */
  private async replaceAtomically(lines: Buffer[]): Promise<number> {
    const temp = `${this.file}.${process.pid}.${++tempCounter}.tmp`;
    let bytes = 0;
    try {
      const handle = await fs.promises.open(temp, 'w', 0o600);
      try {
        bytes = await writeLines(handle, lines);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temp, this.file);
    } catch (err) {
      await fs.promises.rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
    await this.syncDirectoryTolerant();
    return bytes;
  }

  private async syncDirectoryTolerant(): Promise<void> {
    try {
      await this.syncDirectory(path.dirname(this.file));
    } catch (err) {
      if (!DIRECTORY_SYNC_REFUSED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
}
