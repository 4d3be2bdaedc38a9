// The queue an amqp consume node reads, as the node may declare it: durable,
// its type, dead-letter exchange, message TTL and any other x-arguments, and a
// binding to an exchange. The settings are checked here once, for the editor
// (bundled) and the runtime alike; problems are kinds, worded by each side's catalogue.
// What RabbitMQ 4.3 refuses by default is refused here too (see docs/rabbitmq.md),
// so a flow that deploys against 3.x still deploys after the broker's upgrade.

import type * as amqp from 'amqplib';
import { fitsShortString } from './amqp-names';
import { type Message, say } from '../text/messages';

export type QueueType = 'classic' | 'quorum';
export const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];
/** '' binds to an exchange that must exist already; a type declares it (durable) first. */
export type ExchangeType = '' | 'direct' | 'fanout' | 'topic' | 'headers';
export const EXCHANGE_TYPES: readonly ExchangeType[] = ['', 'direct', 'fanout', 'topic', 'headers'];

/** The node's settings as the flow JSON holds them (strings from the form). */
export interface QueueSettings {
  queue: string;
  durable?: boolean;
  queueType?: string;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  messageTtl?: string | number;
  /** JSON of further arguments, e.g. {"x-max-length": 10000}. */
  queueArguments?: string;
  exchange?: string;
  exchangeType?: string;
  routingKey?: string;
}

/** How a queue is declared (declareQueue), by amqp consume and amqp publish alike. */
export interface QueueDeclaration {
  queue: string;
  durable: boolean;
  arguments: Record<string, unknown>;
  bind: { exchange: string; exchangeType: ExchangeType; routingKey: string } | null;
}

export type QueueField =
  | 'queue'
  | 'durable'
  | 'queueType'
  | 'messageTtl'
  | 'queueArguments'
  | 'exchange'
  | 'exchangeType'
  | 'routingKey'
  | 'deadLetterExchange'
  | 'deadLetterRoutingKey';

export type QueueProblemKind =
  | 'empty'
  | 'too-long'
  | 'reserved'
  | 'unknown-type'
  | 'quorum-not-durable'
  | 'not-whole-number'
  | 'not-json'
  | 'not-object'
  | 'set-twice'
  | 'proto-name'
  | 'routing-key-without-exchange'
  | 'denied';

export interface QueueProblem {
  field: QueueField;
  kind: QueueProblemKind;
  /** For not-json: the parser's words; for set-twice, proto-name and denied: the argument's name. */
  detail?: string;
  /** For denied: why RabbitMQ refuses it, in the core's words. */
  said?: Message;
}

/**
 * Why RabbitMQ 4.3 refuses a queue argument, or null. x-queue-mode and x-queue-version 1
 * belong to classic queue storage v1, removed in 4.3 (every classic queue keeps its
 * messages on disk as lazy queues did); x-queue-master-locator is the deprecated
 * feature queue_master_locator, denied by default since 4.3.
 */
function deniedArgument(name: string, value: unknown): Message | null {
  switch (name) {
    case 'x-queue-mode':
      return say('consumer-queue.queue-mode-removed', { argument: name });
    case 'x-queue-version':
      return value === 2 ? null : say('consumer-queue.queue-version-removed', { argument: name });
    case 'x-queue-master-locator':
      return say('consumer-queue.queue-master-locator-denied', { argument: name, feature: 'queue_master_locator' });
    default:
      return null;
  }
}

function shortString(field: QueueField, value: string, problems: QueueProblem[]): void {
  if (!fitsShortString(value)) problems.push({ field, kind: 'too-long' });
}

/** Problems of the queue name alone (consumed, declared or not). */
export function queueNameProblems(queue: unknown, declared: boolean): QueueProblem[] {
  const name = typeof queue === 'string' ? queue.trim() : '';
  if (name === '') return [{ field: 'queue', kind: 'empty' }];
  if (!fitsShortString(name)) return [{ field: 'queue', kind: 'too-long' }];
  // RabbitMQ refuses to declare amq.* names (403 ACCESS_REFUSED); consuming one is allowed.
  if (declared && name.startsWith('amq.')) return [{ field: 'queue', kind: 'reserved' }];
  return [];
}

/**
 * The arguments JSON field: an object, or empty. The value holds the object's own
 * keys only, defined by Object.fromEntries: a name such as constructor is plain data,
 * and no setter on Object.prototype (__proto__'s, or one a library adds) sees it.
 * A key __proto__ is refused: JavaScript readers of a table (amqplib decodes by
 * assignment) take it as the prototype, and amqplib, which encodes with for…in,
 * would then declare that prototype's keys.
 */
export function parseArguments(text: unknown): { value: Record<string, unknown>; problem: QueueProblem | null } {
  if (text === undefined || text === null || (typeof text === 'string' && text.trim() === ''))
    return { value: {}, problem: null };
  let parsed: unknown = text;
  if (typeof text !== 'object') {
    try {
      parsed = JSON.parse(String(text));
    } catch (err) {
      return {
        value: {},
        problem: {
          field: 'queueArguments',
          kind: 'not-json',
          detail: err instanceof Error ? err.message : String(err),
        },
      };
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { value: {}, problem: { field: 'queueArguments', kind: 'not-object' } };
  const entries = Object.entries(parsed);
  for (const [name] of entries) {
    if (name === '__proto__')
      return { value: {}, problem: { field: 'queueArguments', kind: 'proto-name', detail: name } };
    // A table key is a short string: amqplib throws a bare RangeError at declare time for a longer one.
    if (!fitsShortString(name)) return { value: {}, problem: { field: 'queueArguments', kind: 'too-long' } };
  }
  for (const [name, value] of entries) {
    const said = deniedArgument(name, value);
    if (said) return { value: {}, problem: { field: 'queueArguments', kind: 'denied', detail: name, said } };
  }
  return { value: Object.fromEntries(entries), problem: null };
}

/** The declaration the settings describe, or the problems that prevent it. */
export function queueDeclaration(settings: QueueSettings): {
  declaration: QueueDeclaration | null;
  problems: QueueProblem[];
} {
  const problems = queueNameProblems(settings.queue, true);
  const durable = settings.durable !== false;
  const queueType = settings.queueType || 'classic';
  const args: [string, unknown][] = [];
  // A Set, so an argument called constructor or toString is not taken for one the fields set.
  const named = new Set<string>();
  const set = (name: string, value: unknown) => {
    args.push([name, value]);
    named.add(name);
  };

  if (!(QUEUE_TYPES as readonly string[]).includes(queueType))
    problems.push({ field: 'queueType', kind: 'unknown-type' });
  else if (queueType === 'quorum') {
    // RabbitMQ refuses a quorum queue that is not durable (406 PRECONDITION_FAILED).
    if (!durable) problems.push({ field: 'queueType', kind: 'quorum-not-durable' });
    set('x-queue-type', 'quorum');
  }
  // The node never declares an exclusive queue: it would go with the connection, and the messages in it.
  if (!durable)
    problems.push({
      field: 'durable',
      kind: 'denied',
      said: say('consumer-queue.transient-nonexclusive-denied', { feature: 'transient_nonexcl_queues' }),
    });
  const dlx = (settings.deadLetterExchange ?? '').trim();
  const dlrk = (settings.deadLetterRoutingKey ?? '').trim();
  if (dlx) {
    shortString('deadLetterExchange', dlx, problems);
    set('x-dead-letter-exchange', dlx);
  }
  if (dlrk) {
    shortString('deadLetterRoutingKey', dlrk, problems);
    set('x-dead-letter-routing-key', dlrk);
  }
  const ttl =
    settings.messageTtl === undefined || settings.messageTtl === null ? '' : String(settings.messageTtl).trim();
  if (ttl !== '') {
    if (!/^\d+$/.test(ttl) || Number(ttl) > 2 ** 32 - 1)
      problems.push({ field: 'messageTtl', kind: 'not-whole-number' });
    else set('x-message-ttl', Number(ttl));
  }
  const { value: extra, problem } = parseArguments(settings.queueArguments);
  if (problem) problems.push(problem);
  for (const [name, value] of Object.entries(extra)) {
    if (named.has(name)) problems.push({ field: 'queueArguments', kind: 'set-twice', detail: name });
    else args.push([name, value]);
  }

  const exchange = (settings.exchange ?? '').trim();
  const exchangeType = (settings.exchangeType ?? '') as ExchangeType;
  const routingKey = settings.routingKey ?? '';
  if (!(EXCHANGE_TYPES as readonly string[]).includes(exchangeType))
    problems.push({ field: 'exchangeType', kind: 'unknown-type' });
  if (exchange) {
    shortString('exchange', exchange, problems);
    // The default exchange binds every queue by its name already; amq.* may be bound, not declared.
    if (exchangeType !== '' && exchange.startsWith('amq.')) problems.push({ field: 'exchange', kind: 'reserved' });
  } else if (routingKey !== '') problems.push({ field: 'routingKey', kind: 'routing-key-without-exchange' });
  shortString('routingKey', routingKey, problems);

  if (problems.length > 0) return { declaration: null, problems };
  return {
    declaration: {
      queue: settings.queue.trim(),
      durable,
      arguments: Object.fromEntries(args),
      bind: exchange ? { exchange, exchangeType, routingKey } : null,
    },
    problems,
  };
}

/** RabbitMQ 4.0 gives every quorum queue this delivery limit unless an argument or a policy sets another. */
const QUORUM_DEFAULT_DELIVERY_LIMIT = 20;

/**
 * The delivery limit past which RabbitMQ (4.0 and later) drops the messages of the queue
 * `declaration` declares, because it is a quorum queue with no dead-letter exchange among
 * its arguments; null when it is not such a queue or has no limit (x-delivery-limit -1).
 * A policy may still give it a dead-letter exchange: AMQP does not show policies.
 */
export function dropsPastDeliveryLimit(declaration: QueueDeclaration): number | null {
  const args = declaration.arguments;
  if (args['x-queue-type'] !== 'quorum') return null;
  // '' is a dead-letter exchange too: the default one, routing by x-dead-letter-routing-key.
  if (typeof args['x-dead-letter-exchange'] === 'string') return null;
  const limit = args['x-delivery-limit'];
  if (limit === undefined) return QUORUM_DEFAULT_DELIVERY_LIMIT;
  return typeof limit === 'number' && limit >= 0 ? limit : null;
}

/** Declares the queue (and its exchange and binding) on `channel`; the broker's refusal closes the channel. */
export async function declareQueue(channel: amqp.Channel, declaration: QueueDeclaration): Promise<void> {
  await channel.assertQueue(declaration.queue, { durable: declaration.durable, arguments: declaration.arguments });
  const bind = declaration.bind;
  if (!bind) return;
  if (bind.exchangeType) await channel.assertExchange(bind.exchange, bind.exchangeType, { durable: true });
  await channel.bindQueue(declaration.queue, bind.exchange, bind.routingKey);
}
