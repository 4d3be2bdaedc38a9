// kumo.on('make.amqp', ...): which custom protocol node handles a constructor
// name. Like link nodes, the binding is by name across all deployed flows, so
// queue config needs no wire; a second node with the same name is refused.

import { text } from './messages';
import type { QueueConfig, ResolvedTimings } from './queue-config';
import type { QueueName } from './queue-name';

/** What queue config already worked out for a message, so the custom protocol need not redo it. */
export interface Routing {
  queue: QueueName;
  config: QueueConfig;
  timings: Readonly<ResolvedTimings>;
}

export interface ProtocolHandler {
  /** The node that owns the binding, for the duplicate-name error. */
  readonly ownerId: string;
  /** Takes a message; throws a clear error when it cannot. */
  accept(msg: object, routing: Routing): void;
}

const bindings = new Map<string, ProtocolHandler>();

export class BindingError extends Error {
  override name = 'BindingError';
}

export function bindProtocol(eventName: string, handler: ProtocolHandler): void {
  const existing = bindings.get(eventName);
  if (existing && existing !== handler) {
    throw new BindingError(text('protocol-bindings.already-bound', { name: eventName, node: existing.ownerId }));
  }
  bindings.set(eventName, handler);
}

export function unbindProtocol(eventName: string, handler: ProtocolHandler): void {
  if (bindings.get(eventName) === handler) bindings.delete(eventName);
}

export function protocolFor(eventName: string): ProtocolHandler | undefined {
  return bindings.get(eventName);
}

export function boundEventNames(): string[] {
  return [...bindings.keys()].sort();
}
