// What ties a delivery queue to its journal. With the spool on, a delivery is
// written when it is accepted (group commit: the accepts of one turn share one
// write and one fdatasync, and the acceptance is answered after it), so a crash
// loses nothing accepted; with it off, a delivery is kept when it first fails.
// Each failure notes the new attempt count and due time (a short line, no
// payload); the end of a delivery drops it. On close everything unfinished is
// kept, so a redeploy or restart loses nothing either way.

import type { Delivery, DeliveryQueue, RetryingChange } from '../kumo/delivery-queue';
import { envelopeOf } from '../kumo/log-record';
import { makeQueueConfig, timingsOf } from '../kumo/queue-config';
import { queueNameFrom } from '../kumo/queue-name';
import * as fs from 'node:fs';
import { ERROR_CODES, KumoError } from '../text/errors';
import { copyData } from './message-data';
import { say } from '../text/messages';
import {
  legacyStoreFileName,
  RetryStore,
  restorePayload,
  type StoredDelivery,
  storableProps,
  storeFileName,
  storePayload,
} from './retry-store';

/** What a node's earlier run left, as taken back into its delivery queue. */
export interface Restored {
  restored: number;
  /** Why the store could not be read whole (lines skipped, a file moved aside), or null. */
  problem: string | null;
  /** Deliveries that could not be taken back, each with why. */
  skipped: { id: string; error: Error }[];
}

/** How many of the unfinished deliveries a close handed back were in each state. */
export function unfinishedCounts<M>(unfinished: Delivery<M>[]): { inFlight: number; queued: number; waiting: number } {
  const counts = { inFlight: 0, queued: 0, waiting: 0 };
  for (const d of unfinished)
    counts[d.state === 'in-flight' ? 'inFlight' : d.state === 'queued' ? 'queued' : 'waiting']++;
  return counts;
}

export interface StorableMessage {
  payload?: unknown;
  sender?: unknown;
  recipient?: unknown;
}

function storedDelivery<M extends StorableMessage>(d: Delivery<M>): StoredDelivery {
  return {
    id: d.id,
    payload: storePayload(d.msg.payload),
    queue: d.queue,
    queueConfig: d.config,
    createdMs: d.createdMs,
    attempts: d.attempts,
    // Not waiting (queued or in flight at a close): due as soon as the node runs again.
    dueMs: d.state === 'waiting' ? d.dueMs : 0,
    props: storableProps(d.msg),
  };
}

/** The store's directory holds message data: Node-RED's user alone may read it (see ensurePrivateDirectory). */
function narrowDirectory(directory: string): void {
  try {
    const stat = fs.statSync(directory);
    if ((stat.mode & 0o077) !== 0 && typeof process.getuid === 'function' && stat.uid === process.getuid())
      fs.chmodSync(directory, stat.mode & 0o700);
  } catch {
    // Not there yet: the first write creates it 0700.
  }
}

export class DurableRetries<M extends StorableMessage> {
  constructor(readonly store: RetryStore) {}

  /** The store of the custom protocol bound to `eventName`, in `directory` (one file per event name). */
  static open<M extends StorableMessage>(
    directory: string,
    eventName: string,
    onError: (err: Error) => void,
  ): DurableRetries<M> {
    narrowDirectory(directory);
    const legacyFile = legacyStoreFileName(directory, eventName);
    return new DurableRetries<M>(
      new RetryStore(storeFileName(directory, eventName), eventName, { onError, legacyFile }),
    );
  }

  /**
   * Takes back into `queue` what an earlier run kept: each delivery with its msg's
   * other properties, queue, config, age and attempts. `newId` gives each msg a fresh _msgid.
   */
  restoreInto(queue: DeliveryQueue<M>, newId: () => string): Restored {
    const { deliveries: saved, problem } = this.store.load();
    const skipped: Restored['skipped'] = [];
    let restored = 0;
    for (const entry of saved) {
      try {
        const config = makeQueueConfig(entry.queueConfig);
        const queueName = queueNameFrom(entry.queue);
        const payload = restorePayload(entry.payload);
        const msg = {
          ...entry.props,
          _msgid: newId(),
          payload,
          queue: queueName,
          queueConfig: config,
        } as unknown as M;
        const held = copyData(payload).approxBytes;
        queue.restore(msg, queueName, config, timingsOf(config), entry, envelopeOf(msg), held);
        restored++;
      } catch (err) {
        skipped.push({ id: String(entry?.id), error: err instanceof Error ? err : new Error(String(err)) });
      }
    }
    return { restored, problem, skipped };
  }

  /**
   * The spool: writes a delivery just accepted; resolves once it is on disk. Rejects
   * when it cannot be kept (the delivery still goes on in memory).
   */
  accepted(delivery: Delivery<M>): Promise<void> {
    if (!this.store.put(storedDelivery(delivery), () => storedDelivery(delivery)))
      return Promise.reject(new KumoError(ERROR_CODES.notKept, say('durable-retries.not-kept', { id: delivery.id })));
    return this.store.commit();
  }

  /** DeliveryIo.retrying and DeliveryIo.ended: one journal operation per change (an unknown id's end is nothing). */
  changed(delivery: Delivery<M>, change: RetryingChange): void {
    if (change === 'finished') this.store.remove(delivery.id);
    else if (this.store.has(delivery.id)) this.store.reschedule(delivery.id, delivery.attempts, delivery.dueMs);
    else this.store.put(storedDelivery(delivery), () => storedDelivery(delivery));
  }

  /** Keeps every delivery a closing queue handed back, then waits until it is on disk. */
  async keep(unfinished: Delivery<M>[]): Promise<void> {
    for (const d of unfinished) {
      if (this.store.has(d.id)) this.store.reschedule(d.id, d.attempts, d.state === 'waiting' ? d.dueMs : 0);
      else this.store.put(storedDelivery(d));
    }
    await this.store.flush();
  }
}
