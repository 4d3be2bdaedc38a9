// amqp publish without Node-RED: a msg's payload, one body or each element of
// an array, goes through the confirm publisher, and the delivery it belongs to
// (msg.kumo) hears its outcome. The seed's client:publish{...} + confirm:wait(),
// with Ack / NotRequested = delivered and Nack = kumo.reject(500, ...).
// Each element of a custom protocol batch is a whole message (msg.messages[i]):
// published exactly as that message alone would be, with its own properties and
// its own routing key.

import { encodeBody, publishOptions } from '../amqp/amqp-message';
import type { ConfirmPublisher, ConfirmResult } from '../amqp/confirm-publisher';
import { type AttemptEnd, batchRefs, settle } from '../kumo/delivery-outcomes';
import { CoreError, ERROR_CODES, KumoError } from '../text/errors';
import { say } from '../text/messages';
import {
  type BatchResult,
  type OutcomeRules,
  type PublishElement,
  publishElements,
  publishOutcome,
  reportedOutcome,
} from './publish-outcome';

export interface MessageSettings {
  exchange: string;
  persistent: boolean;
  mandatory: boolean;
  rules: OutcomeRules;
  /** An array payload is published element by element (a custom protocol batch always is). */
  eachElement: boolean;
}

/** The parts of a Node-RED msg that publishing reads. */
export interface PublishInput {
  payload?: unknown;
  properties?: unknown;
  kumo?: unknown;
  /** A custom protocol batch: each element's whole msg, in payload order. */
  messages?: unknown;
}

/**
 * The routing key for a msg (the node's setting, evaluated against that msg), or why
 * there is none (bad input). May answer later (a JSONata expression).
 */
export type RoutingKeyOf = (msg: PublishInput, callback: (err: Error | null, key: string) => void) => void;

/** How a msg ends: an error (Catch nodes), or its confirm result and, when refused, msg.reject (output 2). */
export type Published =
  | { error: Error; amqp?: BatchResult }
  | { error: null; amqp: ConfirmResult | BatchResult; reject: { code: number; message: string } | null };

type Finished = (err: Error | null, result: ConfirmResult | null, returned: boolean) => void;

/** Tells msg.kumo's delivery (every message of a batch) that the attempt failed: bad input bounces, the rest is retried. */
export function reportFailure(kumo: unknown, err: Error): void {
  if (kumo !== undefined) settle(kumo, { kind: 'error', error: err });
}

function isMsg(value: unknown): value is PublishInput {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export class MessagePublisher {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly settings: MessageSettings,
  ) {}

  /** Publishes the msg's payload with the routing key `keyOf` gives; `done` hears how the msg ends, once. */
  publish(input: PublishInput, keyOf: RoutingKeyOf, done: (published: Published) => void): void {
    // Asked before any payload is encoded: under overload most messages are refused.
    const refused = this.publisher.refusal();
    if (refused) {
      this.fail(input, refused, done);
      return;
    }
    if (Array.isArray(input.payload)) {
      const batch = batchRefs(input.kumo);
      if (this.settings.eachElement || batch) {
        this.publishEach(input, input.payload, batch, keyOf, done);
        return;
      }
    }
    keyOf(input, (keyError, routingKey) => {
      if (keyError) {
        this.fail(input, keyError, done);
        return;
      }
      this.publishOne(input.payload, input.properties, routingKey, (err, result, returned) => {
        if (err || !result) {
          this.fail(input, err as Error, done);
          return;
        }
        const outcome = publishOutcome(result, returned, this.settings.rules);
        // The disposition is only built for a delivery that waits for it (hot path).
        if (input.kumo !== undefined) settle(input.kumo, reportedOutcome(outcome, result));
        done({
          error: null,
          amqp: result,
          reject: outcome.kind === 'rejected' ? { code: outcome.code, message: outcome.message } : null,
        });
      });
    });
  }

  private fail(input: PublishInput, err: Error, done: (published: Published) => void): void {
    reportFailure(input.kumo, err);
    done({ error: err });
  }

  /** Publishes one body; `finished` gets the error or the result, once. */
  private publishOne(payload: unknown, properties: unknown, routingKey: string, finished: Finished): void {
    const { exchange, persistent, mandatory } = this.settings;
    let content: Buffer;
    let options: ReturnType<typeof publishOptions>;
    try {
      const body = encodeBody(payload);
      content = body.content;
      options = publishOptions(properties, persistent, body);
    } catch (err) {
      finished(err instanceof Error ? err : new Error(String(err)), null, false);
      return;
    }
    this.publisher.publish({ exchange, routingKey, content, options, mandatory }, (err, result, returned) =>
      finished(err ?? (result ? null : new CoreError(say('message-publisher.publish-failed'))), result, returned),
    );
  }

  /**
   * Every element as its own AMQP message, pipelined; the msg ends once all are finished:
   * delivered when every element was, refused when any was, an error when any failed.
   * A custom protocol batch reports each element's own outcome.
   */
  private publishEach(
    input: PublishInput,
    elements: unknown[],
    batch: unknown[] | null,
    keyOf: RoutingKeyOf,
    done: (published: Published) => void,
  ): void {
    if (batch && batch.length !== elements.length) {
      const said = say('message-publisher.batch-length', { payloads: elements.length, infos: batch.length });
      this.fail(input, new KumoError(ERROR_CODES.badInput, said), done);
      return;
    }
    // A batch element is a whole message: its own fields, with the payload the batch msg now holds for it.
    const members = batch && Array.isArray(input.messages) ? input.messages : null;
    if (members && members.length !== elements.length) {
      const said = say('message-publisher.batch-length', { payloads: elements.length, infos: members.length });
      this.fail(input, new KumoError(ERROR_CODES.badInput, said), done);
      return;
    }
    const messageOf = (i: number): PublishInput => {
      const member = members?.[i];
      return isMsg(member) ? { ...member, payload: elements[i], kumo: (batch as unknown[])[i] } : input;
    };
    const publish: PublishElement = (i, finished) => {
      const msg = messageOf(i);
      keyOf(msg, (keyError, routingKey) => {
        if (keyError) finished(keyError, null, false);
        else this.publishOne(elements[i], msg.properties, routingKey, finished);
      });
    };
    const onElement = (i: number, end: AttemptEnd) => {
      if (batch) settle(batch[i], end);
    };
    const where = { exchange: this.settings.exchange, routingKey: '' };
    publishElements(elements.length, publish, this.settings.rules, where, onElement, ({ amqp, error, rejected }) => {
      if (!batch && input.kumo !== undefined) {
        // One delivery whose payload is an array: one outcome for it.
        if (error) reportFailure(input.kumo, error);
        else if (rejected) settle(input.kumo, { kind: 'rejected', ...rejected });
        else settle(input.kumo, { kind: 'delivered', disposition: `250 ${JSON.stringify(amqp)}` });
      }
      done(error ? { error, amqp } : { error: null, amqp, reject: rejected });
    });
  }
}
