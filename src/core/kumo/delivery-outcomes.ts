// How an amqp publish or reject node, any number of nodes after a custom
// protocol node, tells it how a delivery attempt ended: settle(), called once
// per message by the node that ends the attempt. msg.kumo.id is the key: a
// plain string survives Node-RED cloning the message at a fork. The delivery
// queue (delivery-queue.ts) decides what the outcome means for the delivery.

import { ERROR_CODES } from '../text/errors';

export type ReportedOutcome =
  /** The sender's disposition, e.g. '250 {"status":"Ack",...}' */
  | { kind: 'delivered'; disposition: string }
  /** kumo.reject(code, message) */
  | { kind: 'rejected'; code: number; message: string }
  /**
   * An error other than a reject: KumoMTA counts it as a transient failure. `permanent`:
   * the message can never be delivered (bad input), so it bounces at once.
   */
  | { kind: 'failed'; error: string; permanent?: boolean };

/** How the node that ends an attempt knows it ended. */
export type AttemptEnd =
  | ReportedOutcome
  /**
   * An error, classified here: bad input (err.code KUMO_BAD_INPUT) can never be
   * delivered and bounces at once; anything else (broker trouble, a timeout) is retried.
   */
  | { kind: 'error'; error: Error };

export type OutcomeListener = (attempt: number, outcome: ReportedOutcome) => void;

const listeners = new Map<string, OutcomeListener>();

export function expectOutcome(id: string, listener: OutcomeListener): void {
  listeners.set(id, listener);
}

export function forgetOutcome(id: string): void {
  listeners.delete(id);
}

export interface DeliveryRef {
  id: string;
  attempt: number;
}

/** msg.kumo as far as reporting needs it, or null when the message is not a delivery. */
export function deliveryRef(kumo: unknown): DeliveryRef | null {
  if (kumo === null || typeof kumo !== 'object') return null;
  const { id, attempt } = kumo as { id?: unknown; attempt?: unknown };
  if (typeof id !== 'string' || typeof attempt !== 'number') return null;
  return { id, attempt };
}

/** msg.kumo of a custom protocol batch: `batch` holds each message's own msg.kumo, in payload order. */
export function batchRefs(kumo: unknown): unknown[] | null {
  if (kumo === null || typeof kumo !== 'object') return null;
  const batch = (kumo as { batch?: unknown }).batch;
  return Array.isArray(batch) ? batch : null;
}

/**
 * Ends the attempt named by msg.kumo: the one place every node reports to. For a
 * batch, the same end for each of its messages (kumo.reject inside send_batch
 * rejects them all). Returns false when no custom protocol node is waiting for
 * any of them (not a delivery, or already settled).
 */
export function settle(kumo: unknown, end: AttemptEnd): boolean {
  const outcome: ReportedOutcome =
    end.kind === 'error'
      ? {
          kind: 'failed',
          error: end.error.message,
          permanent: (end.error as { code?: unknown }).code === ERROR_CODES.badInput,
        }
      : end;
  const batch = batchRefs(kumo);
  if (batch) {
    let taken = false;
    for (const member of batch) taken = reportOne(member, outcome) || taken;
    return taken;
  }
  return reportOne(kumo, outcome);
}

function reportOne(kumo: unknown, outcome: ReportedOutcome): boolean {
  const ref = deliveryRef(kumo);
  if (!ref) return false;
  const listener = listeners.get(ref.id);
  if (!listener) return false;
  listener(ref.attempt, outcome);
  return true;
}
