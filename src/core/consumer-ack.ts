// What an amqp ack node does with a consumed message: basic.ack, basic.nack
// with requeue, or a reject (nack without requeue: dead-lettered when the
// queue has a dead-letter exchange). Shared by the runtime and the editor.

export type AckAction = 'ack' | 'requeue' | 'reject';
export const ACK_ACTIONS: readonly AckAction[] = ['ack', 'requeue', 'reject'];

export function isAckAction(value: unknown): value is AckAction {
  return typeof value === 'string' && (ACK_ACTIONS as readonly string[]).includes(value);
}
