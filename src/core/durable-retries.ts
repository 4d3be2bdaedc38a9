// What ties a delivery queue to its retry store: a delivery is kept when it
// first fails, its new due time is noted when it fails again (a short journal
// line, no payload), and it is dropped when it ends. On close everything
// unfinished is kept, so a redeploy or restart loses nothing.

import type { Delivery, RetryingChange } from './delivery-queue';
import { type RetryStore, type StoredDelivery, storableProps, storePayload } from './retry-store';

export interface StorableMessage {
  payload?: unknown;
}

export function storedDelivery<M extends StorableMessage>(d: Delivery<M>): StoredDelivery {
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

export class DurableRetries<M extends StorableMessage> {
  constructor(readonly store: RetryStore) {}

  /** DeliveryIo.retrying: one journal operation per change. */
  changed(delivery: Delivery<M>, change: RetryingChange): void {
    if (change === 'finished') this.store.remove(delivery.id);
    else if (change === 'rescheduled' && this.store.has(delivery.id))
      this.store.reschedule(delivery.id, delivery.attempts, delivery.dueMs);
    else this.store.put(storedDelivery(delivery));
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
