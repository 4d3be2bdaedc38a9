/**
 * KumoMTA scheduled queue names (reference/queues.md):
 *
 *   domain                      tenant@domain
 *   campaign:@domain            campaign:tenant@domain
 *
 * each optionally followed by `!routing_domain`.
 *
 * Parsing follows KumoMTA's own `QueueNameComponents::parse`
 * (crates/message/src/queue_name.rs): split at the first '@'; the part before
 * it is `campaign:tenant` split at its first ':' (so a ':' only separates a
 * campaign when an '@' follows: `foo.com:2025` is a domain with a port); the
 * part after it is `domain!routing_domain` split at the first '!'.
 * Where KumoMTA would silently produce an odd name (an empty domain, a second
 * '@' or '!') this module refuses it, because in Node-RED the name usually
 * comes from a message property and a typo there should reach a Catch node
 * rather than create a queue nobody meant.
 */

export interface QueueName {
  /** The formatted name, e.g. `campaign:tenant@example.com!relay.example.net`. */
  name: string;
  domain: string;
  tenant: string | null;
  campaign: string | null;
  routing_domain: string | null;
}

import { say, valueType } from '../text/messages';
import { CoreError, ERROR_CODES } from '../text/errors';

/** A queue name a message carried that KumoMTA would not accept: bad input. */
export class QueueNameError extends CoreError {
  override name = 'QueueNameError';
  readonly code = ERROR_CODES.badInput;
}

// Whitespace or a C0/C1 control character: such a name cannot have come from
// an envelope address, and would be invisible in logs and the editor.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const INVISIBLE = /[\s\u0000-\u001f\u007f-\u009f]/u;

function quote(text: string): string {
  return JSON.stringify(text);
}

/**
 * The most octets (UTF-8 bytes) one part of a queue name may have. A domain is
 * at most 255 octets in DNS (RFC 1035), so KumoMTA never queues for a longer one;
 * KumoMTA sets no bound on a tenant or a campaign, and the same one keeps
 * them to a size that a log line, a metric label or a rule's regular
 * expression handles in no time.
 */
export const QUEUE_PART_MAX_OCTETS = 255;

/** `campaign:tenant@domain!routing_domain`: four parts and three separators. */
export const QUEUE_NAME_MAX_OCTETS = 4 * QUEUE_PART_MAX_OCTETS + 3;

// The start of a value too long to show whole, enough to tell which one it was.
const SHOWN_START = 40;

function utf8Length(text: string): number {
  let octets = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) octets += 1;
    else if (unit < 0x800) octets += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        octets += 4;
        i++;
      } else octets += 3;
    } else octets += 3;
  }
  return octets;
}

/**
 * Refuses a name or part longer than its bound. It runs before anything else
 * reads the value character by character (the checks below, a rule's regular
 * expression), so a hostile 50 MB queue name costs no more than a short one:
 * every UTF-16 unit is at least one octet, and a value with more units than
 * the bound is refused without being read.
 */
function checkLength(value: string, field: string | null): void {
  const max = field === null ? QUEUE_NAME_MAX_OCTETS : QUEUE_PART_MAX_OCTETS;
  if (value.length <= max && utf8Length(value) <= max) return;
  const start = quote(value.length > SHOWN_START ? `${value.slice(0, SHOWN_START)}…` : value);
  throw new QueueNameError(
    field === null
      ? say('queue-name.name-too-long', { start, max, part: QUEUE_PART_MAX_OCTETS })
      : say('queue-name.part-too-long', { field, start, max }),
  );
}

/** `field` names the part checked, or is null for the whole queue name. */
function checkVisible(value: string, field: string | null): void {
  const match = INVISIBLE.exec(value);
  if (match) {
    const position = match.index + 1;
    throw new QueueNameError(
      field === null
        ? say('queue-name.name-invisible', { name: quote(value), position })
        : say('queue-name.part-invisible', { field, value: quote(value), position }),
    );
  }
}

export function parseQueueName(name: string): QueueName {
  if (typeof name !== 'string') {
    throw new QueueNameError(say('queue-name.not-string', { type: valueType(name) }));
  }
  if (name.length === 0) {
    throw new QueueNameError(say('queue-name.empty'));
  }
  checkLength(name, null);
  checkVisible(name, null);

  let campaign: string | null = null;
  let tenant: string | null = null;
  let rest = name;

  const at = name.indexOf('@');
  if (at >= 0) {
    const prefix = name.slice(0, at);
    rest = name.slice(at + 1);
    const colon = prefix.indexOf(':');
    if (colon >= 0) {
      campaign = prefix.slice(0, colon);
      // `campaign:@domain` is the documented form for "campaign, no tenant";
      // KumoMTA hands get_queue_config an empty tenant there, we say null.
      tenant = prefix.slice(colon + 1) || null;
      if (campaign === '') {
        throw new QueueNameError(say('queue-name.empty-campaign', { name: quote(name) }));
      }
    } else {
      if (prefix === '') {
        throw new QueueNameError(say('queue-name.empty-tenant', { name: quote(name) }));
      }
      tenant = prefix;
    }
    if (rest.includes('@')) {
      throw new QueueNameError(say('queue-name.two-at', { name: quote(name) }));
    }
  }

  let domain = rest;
  let routingDomain: string | null = null;
  const bang = rest.indexOf('!');
  if (bang >= 0) {
    domain = rest.slice(0, bang);
    routingDomain = rest.slice(bang + 1);
    if (routingDomain.includes('!')) {
      throw new QueueNameError(say('queue-name.two-bang', { name: quote(name) }));
    }
    if (routingDomain === '') {
      throw new QueueNameError(say('queue-name.empty-routing-domain', { name: quote(name) }));
    }
  }
  if (domain === '') {
    throw new QueueNameError(
      at >= 0
        ? say('queue-name.no-domain-after-at', { name: quote(name) })
        : say('queue-name.empty-domain', { name: quote(name) }),
    );
  }

  checkLength(domain, 'domain');
  if (tenant !== null) checkLength(tenant, 'tenant');
  if (campaign !== null) checkLength(campaign, 'campaign');
  if (routingDomain !== null) checkLength(routingDomain, 'routing_domain');

  return { name, domain, tenant, campaign, routing_domain: routingDomain };
}

function optionalPart(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new QueueNameError(say('queue-name.part-not-string', { field, type: valueType(value) }));
  }
  // An empty property (e.g. msg.tenant = '') means "not set", as in KumoMTA's
  // queue helpers, where an absent tenant or campaign is simply left out.
  if (value === '') return null;
  checkLength(value, field);
  checkVisible(value, field);
  return value;
}

function checkNoSeparator(value: string, field: string, separators: readonly string[]): void {
  for (const sep of separators) {
    if (value.includes(sep)) {
      throw new QueueNameError(say('queue-name.part-separator', { field, value: quote(value), separator: sep }));
    }
  }
}

/**
 * Checks the parts and returns them normalised (empty → null). Rejects any
 * part whose separators would make the formatted name parse differently,
 * so that parse(format(parts)) always gives the parts back.
 */
function normaliseParts(parts: unknown): Omit<QueueName, 'name'> {
  if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) {
    throw new QueueNameError(say('queue-name.not-queue', { type: valueType(parts) }));
  }
  const record = parts as Record<string, unknown>;
  const domain = record.domain;
  if (domain === undefined || domain === null || domain === '') {
    throw new QueueNameError(say('queue-name.domain-missing'));
  }
  if (typeof domain !== 'string') {
    throw new QueueNameError(say('queue-name.domain-not-string', { type: valueType(domain) }));
  }
  checkLength(domain, 'domain');
  checkVisible(domain, 'domain');
  checkNoSeparator(domain, 'domain', ['@', '!']);

  const tenant = optionalPart(record.tenant, 'tenant');
  const campaign = optionalPart(record.campaign, 'campaign');
  const routingDomain = optionalPart(record.routing_domain, 'routing_domain');

  if (campaign !== null) checkNoSeparator(campaign, 'campaign', [':', '@']);
  if (tenant !== null) {
    // With no campaign a ':' in the tenant would be read back as one.
    checkNoSeparator(tenant, 'tenant', campaign === null ? ['@', ':'] : ['@']);
  }
  if (routingDomain !== null) checkNoSeparator(routingDomain, 'routing_domain', ['@', '!']);

  return { domain, tenant, campaign, routing_domain: routingDomain };
}

/** KumoMTA's `QueueNameComponents::format`, of parts normaliseParts checked. */
function formatNormalised(parts: Omit<QueueName, 'name'>): string {
  const suffix = parts.routing_domain === null ? '' : `!${parts.routing_domain}`;
  if (parts.campaign !== null) {
    return `${parts.campaign}:${parts.tenant ?? ''}@${parts.domain}${suffix}`;
  }
  if (parts.tenant !== null) {
    return `${parts.tenant}@${parts.domain}${suffix}`;
  }
  return `${parts.domain}${suffix}`;
}

/**
 * The queue of a Node-RED message: a queue name string (any of the 8 forms)
 * or an object `{domain, tenant?, campaign?, routing_domain?}`.
 */
export function queueNameFrom(value: unknown): QueueName {
  if (typeof value === 'string') return parseQueueName(value);
  if (value === undefined) {
    throw new QueueNameError(say('queue-name.missing'));
  }
  const parts = normaliseParts(value);
  return { name: formatNormalised(parts), ...parts };
}
