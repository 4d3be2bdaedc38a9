// Every callback the pack schedules (a timer, a broker event, a listener of its
// own events) contains its errors. An exception that reaches the event loop stops
// Node-RED, and every flow on it; one that reaches amqplib's frame handling tears
// down the connection every node shares. What a callback throws goes to a fault
// sink instead: the node's glue logs it there, with the node's name.

import { EventEmitter } from 'node:events';

export type FaultSink = (err: Error) => void;

export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Until a node says where its faults go: Node.js's own warning channel, which Node-RED prints. */
const defaultFault: FaultSink = (err) => {
  process.emitWarning(err);
};

/** `fn`, with whatever it throws handed to `fault` (read when it throws, so a sink set later applies). */
export function contained<A extends unknown[]>(fault: () => FaultSink, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      fn(...args);
    } catch (err) {
      reportFault(fault(), err);
    }
  };
}

/** Hands what a callback threw to its sink; a sink that throws in turn is ignored. */
export function reportFault(sink: FaultSink, err: unknown): void {
  try {
    sink(toError(err));
  } catch {
    // A sink that fails has nowhere left to report to; the event loop must still not see it.
  }
}

/**
 * An EventEmitter whose listeners cannot throw into the code that emits (amqplib's
 * socket handling, a timer): each listener runs on its own, and what one throws goes
 * to `fault`; the others still run. An 'error' event nobody listens to goes there too,
 * instead of being thrown.
 */
export class ContainedEmitter extends EventEmitter {
  fault: FaultSink = defaultFault;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const listeners = this.rawListeners(event);
    if (listeners.length === 0) {
      if (event === 'error') reportFault(this.fault, args[0]);
      return false;
    }
    for (const listener of listeners) {
      try {
        (listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        reportFault(this.fault, err);
      }
    }
    return true;
  }
}
