// kumo.on('make.amqp', ...): which custom protocol node handles a constructor
// name. Like link nodes, the binding is by name across all deployed flows, so
// queue config needs no wire; a second node with the same name is refused.

import { CoreError, ERROR_CODES, withCode } from '../text/errors';
import { say } from '../text/messages';
import { makeQueueConfig, type QueueConfig, type ResolvedTimings, timingsOf } from './queue-config';
import { type QueueName, queueNameFrom } from './queue-name';

/** What queue config already worked out for a message, so the custom protocol need not redo it. */
export interface Routing {
  queue: QueueName;
  /** The config the delivery keeps: a rule's own (frozen) when queue config routed the message. */
  config: QueueConfig;
  timings: Readonly<ResolvedTimings>;
}

export interface ProtocolHandler {
  /** The label of the node that owns the binding (its name, else its event name): errors name nodes as the editor shows them. */
  readonly ownerLabel: string;
  /**
   * Takes a message; throws a clear error when it cannot. A promise when taking it
   * ends later (the spool's write): the sender's done() waits for it.
   */
  accept(msg: object, routing: Routing): Promise<void> | undefined;
}

const bindings = new Map<string, ProtocolHandler>();

export class BindingError extends CoreError {
  override name = 'BindingError';
}

export function bindProtocol(eventName: string, handler: ProtocolHandler): void {
  const existing = bindings.get(eventName);
  if (existing && existing !== handler) {
    throw new BindingError(say('protocol-bindings.already-bound', { name: eventName, node: existing.ownerLabel }));
  }
  bindings.set(eventName, handler);
}

export function unbindProtocol(eventName: string, handler: ProtocolHandler): void {
  if (bindings.get(eventName) === handler) bindings.delete(eventName);
}

export function protocolFor(eventName: string): ProtocolHandler | undefined {
  return bindings.get(eventName);
}

/**
 * The routing of a message wired straight into a custom protocol: its queue and
 * config come from the msg; without a queue it is named after the constructor,
 * without a config it is the constructor's own. A bad one is the message's fault.
 */
export function directRouting(queue: unknown, queueConfig: unknown, eventName: string): Routing {
  const queueName = queueNameFrom(queue === undefined ? eventName : queue);
  let config: QueueConfig;
  try {
    config = makeQueueConfig(
      queueConfig === undefined ? { protocol: { custom_lua: { constructor: eventName } } } : queueConfig,
    );
  } catch (err) {
    throw withCode(err as Error, ERROR_CODES.badInput);
  }
  return { queue: queueName, config, timings: timingsOf(config) };
}
