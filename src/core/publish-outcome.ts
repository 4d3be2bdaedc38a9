// What a settled publish means, in KumoMTA's terms. The seed's sender returns
// '250 ' .. json_encode(result) for Ack / NotRequested and calls
// kumo.reject(500, json_encode(result)) for a Nack. A mandatory message the
// broker returned (basic.return, 312 NO_ROUTE) was not delivered, whatever its
// confirm says: by default it is retried (451).

import type { ConfirmResult } from './confirm-publisher';
import type { ReportedOutcome } from './delivery-outcomes';

/** SMTP-style codes for a returned message, so a custom protocol retries (4xx) or bounces (5xx) it. */
export const RETURNED_CODES = { transient: 451, permanent: 550 } as const;
/**
 * A Nack is KumoMTA's kumo.reject(500) (the seed's sender); a user who knows their broker's
 * Nacks pass (a full queue draining, a quorum leader moving) may have them retried instead.
 */
export const NACK_CODES = { permanent: 500, transient: 451 } as const;

export type ReturnedAs = keyof typeof RETURNED_CODES | 'delivered';
export type NackedAs = keyof typeof NACK_CODES;

export interface OutcomeRules {
  nackedAs: NackedAs;
  returnedAs: ReturnedAs;
}

/** How one settled message ends: delivered (output 1), or rejected with a code (output 2). */
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
