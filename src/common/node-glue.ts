// What every node's glue does the same way: read a setting by its node's rule,
// show a status without flooding the editor, and end an input with done(err)
// carrying a code a flow can branch on, in Node-RED's language.

import type { Node, NodeStatus } from 'node-red';
import { contained, type FaultSink } from '../core/base/contained';
import { ERROR_CODES, type ErrorCode } from '../core/text/errors';
import { say } from '../core/text/messages';
import { refusedOutcome, answerRecord } from '../core/kumo/record-answers';
import { type Migration, migrate } from './migrate';
import type { CoreText } from './node-text';
import { errorStatus } from './short-reason';

/** An error the glue words itself, from its node's catalogue (already in Node-RED's language), with a code. */
export class NodeError extends Error {
  override name = 'KumoError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A setting read by its rule in the node's settings.ts (the editor checks the field with the same
 * one); a value the rule refuses (null) throws the node's words for it, `invalid`, given the value as set.
 */
export function settingOf<T>(
  value: unknown,
  parse: (value: unknown) => T | null,
  invalid: (value: string) => string,
): T {
  const parsed = parse(value);
  if (parsed === null) throw new Error(invalid(String(value)));
  return parsed;
}

/** A status worked out now: `state` names it, so a change of state can be shown at once. */
export interface ComputedStatus {
  state: string;
  status: NodeStatus;
}

/**
 * Shows a node's status at most once per interval (counts change with every
 * message), except that a new state (e.g. connected → disconnected) is shown at
 * once: a reconnect takes ~200 ms, and a throttled status could skip it.
 */
export class ThrottledStatus {
  private timer: NodeJS.Timeout | null = null;
  private shown: string | null = null;

  constructor(
    private readonly node: Node,
    private readonly compute: () => ComputedStatus | null,
    private readonly intervalMs = 500,
  ) {}

  /** Something changed. `state` (when cheap to know) lets a new state skip the wait. */
  refresh(state?: string): void {
    if (state !== undefined && state !== this.shown) this.show();
    else if (!this.timer)
      this.timer = setTimeout(
        contained(
          () => (err) => this.node.error(err.message),
          () => this.show(),
        ),
        this.intervalMs,
      );
  }

  show(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const computed = this.compute();
    if (!computed) return;
    this.shown = computed.state;
    this.node.status(computed.status);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Where a node's contained faults go (see core/base/contained.ts): its log, with its name,
 * so an error inside a timer or a broker event is seen without stopping Node-RED.
 */
export function faultSink(node: Node, core: CoreText): FaultSink {
  return (err) => node.error(core.render(say('contained.fault', { error: core.render(err) })));
}

/**
 * A node that could not be set up: the whole error goes to the log, and the status says it
 * short once the flow has started. Every node's setup errors end here.
 */
export function setupFailed(node: Node, message: string): void {
  node.error(message);
  // After construction, so Status nodes (created later in the same flow) see it too.
  setImmediate(() => node.status({ fill: 'red', shape: 'ring', text: errorStatus(message) }));
}

/**
 * The node's definition brought up to date (common/migrate.ts), or null when this pack
 * cannot read it (a newer version): the node then shows that as its setup error, and
 * fails every message with it.
 */
export function upToDate<D extends object>(
  node: Node,
  type: string,
  def: D,
  steps: readonly Migration[],
  core: CoreText,
): (D & { version: number }) | null {
  try {
    return migrate(type, def, steps);
  } catch (err) {
    setupFailed(node, core.render(err));
    // Every message then fails with the same reason, so a Catch node sees what to fix.
    node.on('input', (_msg: unknown, _send: unknown, done: (err?: Error) => void) => failInput(core, done, err));
    return null;
  }
}

/**
 * Ends an input with an error Catch nodes see: every node's input errors end here.
 * A core error is said in Node-RED's language; an error without a code gets `code`.
 */
export function failInput(core: CoreText, done: (err?: Error) => void, err: unknown, code?: ErrorCode): void {
  done(core.error(err, code));
}

/**
 * A message the node cannot take: a log hook record's refusal is its request's answer
 * (one log line per request, not one per record), anything else fails as failInput does.
 */
export function refuseInput(
  core: CoreText,
  msg: object,
  done: (err?: Error) => void,
  err: unknown,
  code?: ErrorCode,
): void {
  const error = core.error(err, code);
  if (answerRecord(msg, refusedOutcome((error as { code?: unknown }).code, error.message))) done();
  else failInput(core, done, error);
}

/**
 * Ends an input once what a custom protocol accepted is kept (written to disk, with its spool
 * on): done() then, so Complete nodes can answer; if it cannot be kept, the refusal
 * (KUMO_NOT_KEPT). Without a write to wait for, done() at once.
 */
export function doneWhenKept(
  core: CoreText,
  msg: object,
  done: (err?: Error) => void,
  kept: Promise<unknown> | null | undefined,
): void {
  if (!kept) {
    done();
    return;
  }
  kept.then(
    () => done(),
    (err: unknown) => refuseInput(core, msg, done, err, ERROR_CODES.notKept),
  );
}
