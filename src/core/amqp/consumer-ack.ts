// What an amqp ack node does with a consumed message. Shared by the runtime and the editor.
//
// Two ways back to the queue, because RabbitMQ 4.3 tells them apart for a quorum
// queue's delivery limit (20 by default since 4.0; past it the message is
// dead-lettered, or dropped without a dead-letter exchange): basic.nack with
// requeue says "not processed" and does not count, basic.reject with requeue says
// "processing failed" and counts (x-delivery-count grows). Before 4.3 both count.
// Without requeue both remove the message, dead-lettered when the queue has a
// dead-letter exchange.

/**
 * - ack: basic.ack
 * - requeue: basic.nack with requeue (not counted toward a quorum queue's delivery limit on 4.3)
 * - requeue-failed: basic.reject with requeue (counted: a message that keeps failing ends at the limit)
 * - reject: basic.nack without requeue (dead-lettered, or dropped)
 */
export type AckAction = 'ack' | 'requeue' | 'requeue-failed' | 'reject';
export const ACK_ACTIONS: readonly AckAction[] = ['ack', 'requeue', 'requeue-failed', 'reject'];

export function isAckAction(value: unknown): value is AckAction {
  return typeof value === 'string' && (ACK_ACTIONS as readonly string[]).includes(value);
}

/**
 * What amqp consume does with a message held past *Held at most*: an AckAction other than
 * ack (requeue, requeue as failed, or dead-letter), shared by the runtime and the editor.
 */
export type UnackedAction = Exclude<AckAction, 'ack'>;
export const UNACKED_ACTIONS: readonly UnackedAction[] = ['requeue', 'requeue-failed', 'reject'];

/** amqp consume's mode: manual (an amqp ack node acknowledges) or auto (acknowledged on receipt). */
export type AckMode = 'manual' | 'auto';
export const ACK_MODES: readonly AckMode[] = ['manual', 'auto'];
