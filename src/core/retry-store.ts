// Durable retries: the deliveries a custom protocol node has not finished are
// kept in one JSON file per event name under Node-RED's user directory, so a
// restart or redeploy delivers them afterwards. Each write goes to a temporary
// file that is fsynced and renamed over the old one: a crash in the middle of a
// write leaves the previous complete file, never a torn one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { text } from './messages';
import type { QueueConfig } from './queue-config';
import type { QueueName } from './queue-name';

export type StoredPayload =
  | { type: 'buffer'; base64: string }
  | { type: 'string'; value: string }
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
  /** The message's other JSON-safe properties (msg.topic, msg.properties, ...). */
  props: Record<string, unknown>;
}

interface StoreFile {
  version: 1;
  eventName: string;
  deliveries: StoredDelivery[];
}

// Properties that belong to one process or one attempt, never to the message.
const TRANSIENT_PROPS = new Set(['_msgid', 'req', 'res', 'payload', 'queue', 'queueConfig', 'kumo', 'amqp', 'reject', 'error', '_event']);

export function storePayload(payload: unknown): StoredPayload {
  if (Buffer.isBuffer(payload)) return { type: 'buffer', base64: payload.toString('base64') };
  if (typeof payload === 'string') return { type: 'string', value: payload };
  if (payload === undefined) return { type: 'none' };
  return { type: 'json', value: payload };
}

export function restorePayload(stored: StoredPayload): unknown {
  switch (stored.type) {
    case 'buffer':
      return Buffer.from(stored.base64, 'base64');
    case 'string':
    case 'json':
      return stored.value;
    default:
      return undefined;
  }
}

/** The properties worth keeping across a restart: JSON-safe and not tied to this process. */
export function storableProps(msg: object): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg)) {
    if (TRANSIENT_PROPS.has(key) || value === undefined || typeof value === 'function') continue;
    try {
      JSON.stringify(value);
      props[key] = value;
    } catch {
      // a circular or BigInt value cannot outlive the process
    }
  }
  return props;
}

export function storeFileName(directory: string, eventName: string): string {
  return path.join(directory, `retries-${eventName.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

export class RetryStore {
  private writing: Promise<void> = Promise.resolve();
  private pending: StoredDelivery[] | null = null;

  constructor(readonly file: string, private readonly eventName: string) {}

  /**
   * Reads what a previous run left. A file that cannot be read is moved aside
   * (kept for inspection) and reported, so one bad file never stops the node.
   */
  load(): { deliveries: StoredDelivery[]; problem: string | null } {
    this.removeTemporaryFiles();
    let json: string;
    try {
      json = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { deliveries: [], problem: null };
      return { deliveries: [], problem: text('retry-store.cannot-read', { file: this.file, error: (err as Error).message }) };
    }
    try {
      const data = JSON.parse(json) as StoreFile;
      if (data.version !== 1 || !Array.isArray(data.deliveries)) throw new Error(text('retry-store.not-a-store'));
      return { deliveries: data.deliveries, problem: null };
    } catch (err) {
      const aside = `${this.file}.unreadable-${Date.now()}`;
      fs.renameSync(this.file, aside);
      return { deliveries: [], problem: text('retry-store.invalid-moved', { file: this.file, error: (err as Error).message, aside }) };
    }
  }

  /** Leftovers of writes a crash interrupted: never the real store, safe to drop. */
  private removeTemporaryFiles(): void {
    const dir = path.dirname(this.file);
    const prefix = `${path.basename(this.file)}.`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
    }
  }

  /** Replaces the stored set; writes are serialised and coalesced (the newest set wins). */
  save(deliveries: StoredDelivery[]): Promise<void> {
    const idle = this.pending === null;
    this.pending = deliveries;
    if (idle) {
      // A failed write must not stop later ones: each caller sees its own result.
      this.writing = this.writing.catch(() => undefined).then(() => {
        const latest = this.pending as StoredDelivery[];
        this.pending = null;
        return this.write(latest);
      });
    }
    return this.writing;
  }

  private async write(deliveries: StoredDelivery[]): Promise<void> {
    if (deliveries.length === 0) {
      await fs.promises.rm(this.file, { force: true });
      return;
    }
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    const data: StoreFile = { version: 1, eventName: this.eventName, deliveries };
    await replaceAtomically(this.file, JSON.stringify(data));
  }
}

let tempCounter = 0;

/**
 * Write, fsync, rename, fsync the directory: the POSIX recipe for replacing a
 * file so that after a crash it holds the old content or the new, whole.
 * (write-file-atomic does the same; its current major needs Node >= 22.22,
 * while Node-RED 4 runs on Node 18 and 20.)
 */
async function replaceAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${++tempCounter}.tmp`;
  const handle = await fs.promises.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync(); // the rename itself survives a power cut
  } finally {
    await dir.close();
  }
}
