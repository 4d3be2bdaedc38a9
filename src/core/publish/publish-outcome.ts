// What a finished publish (its confirm, or its error) means, in KumoMTA's terms. The seed's sender returns
// '250 ' .. json_encode(result) for Ack / NotRequested and calls
// kumo.reject(500, json_encode(result)) for a Nack. A mandatory message the
// broker returned (basic.return, 312 NO_ROUTE) was not delivered, whatever its
// confirm says: by default it is retried (451).

import type { ConfirmResult } from '../amqp/confirm-publisher';
import type { AttemptEnd, ReportedOutcome } from '../kumo/delivery-outcomes';
import { CoreError } from '../text/errors';
import { say } from '../text/messages';

/** SMTP-style codes for a returned message, so a custom protocol retries (4xx) or bounces (5xx) it. */
const RETURNED_CODES = { transient: 451, permanent: 550 } as const;
/**
 * A Nack is KumoMTA's kumo.reject(500) (the seed's sender); a user who knows their broker's
 * Nacks pass (a full queue draining, a quorum leader moving) may have them retried instead.
 */
const NACK_CODES = { permanent: 500, transient: 451 } as const;

export type ReturnedAs = keyof typeof RETURNED_CODES | 'delivered';
export type NackedAs = keyof typeof NACK_CODES;

/** A setting from a flow file may hold any string: own keys only, so toString is not taken for a choice. */
export function isReturnedAs(value: unknown): value is ReturnedAs {
  return value === 'delivered' || (typeof value === 'string' && Object.hasOwn(RETURNED_CODES, value));
}

export function isNackedAs(value: unknown): value is NackedAs {
  return typeof value === 'string' && Object.hasOwn(NACK_CODES, value);
}

export interface OutcomeRules {
  nackedAs: NackedAs;
  returnedAs: ReturnedAs;
}

/** How one published message ends: delivered (output 1), or rejected with a code (output 2). */
export type PublishOutcome = { kind: 'delivered' } | { kind: 'rejected'; code: number; message: string };

export function publishOutcome(result: ConfirmResult, returned: boolean, rules: OutcomeRules): PublishOutcome {
  if (result.status === 'Nack')
    return { kind: 'rejected', code: NACK_CODES[rules.nackedAs], message: JSON.stringify(result) };
  if (returned && rules.returnedAs !== 'delivered') {
    return { kind: 'rejected', code: RETURNED_CODES[rules.returnedAs], message: JSON.stringify(result) };
  }
  return { kind: 'delivered' };
}

/** What a custom protocol delivery is told; the disposition is data (KumoMTA's wording), not translated. */
export function reportedOutcome(outcome: PublishOutcome, result: ConfirmResult): ReportedOutcome {
  return outcome.kind === 'delivered'
    ? { kind: 'delivered', disposition: `250 ${JSON.stringify(result)}` }
    : { kind: 'rejected', code: outcome.code, message: outcome.message };
}

/** One element of an array published element by element: its confirm result, or why it failed. */
export type ElementResult = ConfirmResult | { status: 'Error'; error: string };

/**
 * The msg.amqp of an array published element by element: `results` in payload
 * order, and a status summing them up (Ack when every element was delivered).
 */
export interface BatchResult {
  status: ConfirmResult['status'] | 'Error';
  reply_code: number | null;
  reply_text: string | null;
  exchange: string;
  routing_key: string;
  results: ElementResult[];
}

/** Publishes element `index`; `finished` gets its error, or its confirm result and whether it came back. */
export type PublishElement = (
  index: number,
  finished: (err: Error | null, result: ConfirmResult | null, returned: boolean) => void,
) => void;

/** How an array published element by element ended. */
export interface ElementsFinished {
  amqp: BatchResult;
  /** The first element that failed: the msg ends with this error. */
  error: Error | null;
  /** The first element refused (nacked or returned): the msg leaves by output 2 with it. */
  rejected: { code: number; message: string } | null;
}

/**
 * Publishes `count` elements, each as its own message, pipelined, and calls `ended`
 * once, when all are finished. `onElement` hears each element's own end (a custom
 * protocol batch reports them message by message). Each element has its own routing
 * key (it is evaluated against its own msg); the batch's routing_key is the first one's.
 */
export function publishElements(
  count: number,
  publish: PublishElement,
  rules: OutcomeRules,
  where: { exchange: string; routingKey: string },
  onElement: (index: number, end: AttemptEnd) => void,
  ended: (result: ElementsFinished) => void,
): void {
  const results: ElementResult[] = new Array(count);
  let error: Error | null = null;
  let rejected: ElementsFinished['rejected'] = null;
  let left = count;
  const finish = () => {
    const statuses = results.map((r) => r.status);
    const status = statuses.includes('Error')
      ? 'Error'
      : statuses.includes('Nack')
        ? 'Nack'
        : statuses.includes('Ack')
          ? 'Ack'
          : 'NotRequested';
    const amqp = {
      status,
      reply_code: null,
      reply_text: null,
      exchange: where.exchange,
      routing_key: results.find((r): r is ConfirmResult => r.status !== 'Error')?.routing_key ?? where.routingKey,
      results,
    };
    ended({ amqp: amqp as BatchResult, error, rejected });
  };
  if (left === 0) {
    finish();
    return;
  }
  for (let i = 0; i < count; i++) {
    publish(i, (err, result, returned) => {
      if (err || !result) {
        const failure = err ?? new CoreError(say('publish-outcome.no-result'));
        error ??= failure;
        results[i] = { status: 'Error', error: failure.message };
        onElement(i, { kind: 'error', error: failure });
      } else {
        results[i] = result;
        const outcome = publishOutcome(result, returned, rules);
        if (outcome.kind === 'rejected') rejected ??= { code: outcome.code, message: outcome.message };
        onElement(i, reportedOutcome(outcome, result));
      }
      if (--left === 0) finish();
    });
  }
}
