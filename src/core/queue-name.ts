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

export interface QueueNameParts {
  domain: string;
  tenant?: string | null;
  campaign?: string | null;
  routing_domain?: string | null;
}

export class QueueNameError extends Error {
  override name = 'QueueNameError';
}

// Whitespace or a C0/C1 control character: such a name cannot have come from
// an envelope address, and would be invisible in logs and the editor.
const INVISIBLE = /[\s\u0000-\u001f\u007f-\u009f]/u;

function quote(text: string): string {
  return JSON.stringify(text);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function checkVisible(text: string, what: string): void {
  const match = INVISIBLE.exec(text);
  if (match) {
    throw new QueueNameError(
      `${what} ${quote(text)} contains whitespace or a control character at position ${match.index + 1}`,
    );
  }
}

export function parseQueueName(text: string): QueueName {
  if (typeof text !== 'string') {
    throw new QueueNameError(`queue name must be a string, got ${typeName(text)}`);
  }
  if (text.length === 0) {
    throw new QueueNameError('queue name is empty');
  }
  checkVisible(text, 'queue name');

  let campaign: string | null = null;
  let tenant: string | null = null;
  let rest = text;

  const at = text.indexOf('@');
  if (at >= 0) {
    const prefix = text.slice(0, at);
    rest = text.slice(at + 1);
    const colon = prefix.indexOf(':');
    if (colon >= 0) {
      campaign = prefix.slice(0, colon);
      // `campaign:@domain` is the documented form for "campaign, no tenant";
      // KumoMTA hands get_queue_config an empty tenant there, we say null.
      tenant = prefix.slice(colon + 1) || null;
      if (campaign === '') {
        throw new QueueNameError(`queue name ${quote(text)} has an empty campaign before ':'`);
      }
    } else {
      if (prefix === '') {
        throw new QueueNameError(`queue name ${quote(text)} has an empty tenant before '@'`);
      }
      tenant = prefix;
    }
    if (rest.includes('@')) {
      throw new QueueNameError(`queue name ${quote(text)} has more than one '@'`);
    }
  }

  let domain = rest;
  let routingDomain: string | null = null;
  const bang = rest.indexOf('!');
  if (bang >= 0) {
    domain = rest.slice(0, bang);
    routingDomain = rest.slice(bang + 1);
    if (routingDomain.includes('!')) {
      throw new QueueNameError(`queue name ${quote(text)} has more than one '!'`);
    }
    if (routingDomain === '') {
      throw new QueueNameError(`queue name ${quote(text)} has an empty routing domain after '!'`);
    }
  }
  if (domain === '') {
    throw new QueueNameError(
      at >= 0
        ? `queue name ${quote(text)} has no domain after '@'`
        : `queue name ${quote(text)} has an empty domain`,
    );
  }

  return { name: text, domain, tenant, campaign, routing_domain: routingDomain };
}

function optionalPart(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new QueueNameError(`queue ${field} must be a string or null, got ${typeName(value)}`);
  }
  // An empty property (e.g. msg.tenant = '') means "not set", as in KumoMTA's
  // queue helpers, where an absent tenant or campaign is simply left out.
  if (value === '') return null;
  checkVisible(value, `queue ${field}`);
  return value;
}

function checkNoSeparator(value: string, field: string, separators: readonly string[]): void {
  for (const sep of separators) {
    if (value.includes(sep)) {
      throw new QueueNameError(
        `queue ${field} ${quote(value)} must not contain '${sep}' (it separates the parts of a queue name)`,
      );
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
    throw new QueueNameError(`queue must be a queue name string or an object with a domain, got ${typeName(parts)}`);
  }
  const record = parts as Record<string, unknown>;
  const domain = record.domain;
  if (domain === undefined || domain === null || domain === '') {
    throw new QueueNameError('queue domain is missing: the queue object needs a non-empty "domain"');
  }
  if (typeof domain !== 'string') {
    throw new QueueNameError(`queue domain must be a string, got ${typeName(domain)}`);
  }
  checkVisible(domain, 'queue domain');
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

/** KumoMTA's `QueueNameComponents::format`. */
export function formatQueueName(parts: QueueNameParts): string {
  return formatNormalised(normaliseParts(parts));
}

/**
 * The queue of a Node-RED message: a queue name string (any of the 8 forms)
 * or an object `{domain, tenant?, campaign?, routing_domain?}`.
 */
export function queueNameFrom(value: unknown): QueueName {
  if (typeof value === 'string') return parseQueueName(value);
  if (value === undefined) {
    throw new QueueNameError('queue is missing: expected a queue name such as "tenant@example.com" or an object with a domain');
  }
  const parts = normaliseParts(value);
  return { name: formatNormalised(parts), ...parts };
}
