// What goes on the wire for a Node-RED message: the body (docs/nodes/amqp-publish.md: Buffer as
// is, string as UTF-8, anything else as JSON) and the AMQP basic properties a
// user may set in msg.properties. Every field is checked here so a bad value
// fails with a message that names it, not deep inside the frame encoder.

import type { Options } from 'amqplib';
import { fitsShortString, SHORT_STRING_MAX } from './amqp-names';
import { type Message, say } from '../text/messages';
import { CoreError, ERROR_CODES } from '../text/errors';

/** The msg cannot be published as it is: bad input, never worth retrying unchanged. */
export class MessageError extends CoreError {
  override name = 'MessageError';
  readonly code = ERROR_CODES.badInput;
}

/** A routing key as AMQP carries it: a short string (a finite number is taken as its digits). */
export function routingKeyFrom(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string')
    throw new MessageError(say('amqp-message.routing-key-type', { type: value === null ? 'null' : typeof value }));
  if (!fitsShortString(value))
    throw new MessageError(say('amqp-message.routing-key-too-long', { max: SHORT_STRING_MAX }));
  return value;
}

export interface EncodedBody {
  content: Buffer;
  /** Set when the body was serialised here, so the consumer knows how to read it. */
  contentType: 'application/json' | null;
}

export function encodeBody(payload: unknown): EncodedBody {
  if (Buffer.isBuffer(payload)) return { content: payload, contentType: null };
  if (typeof payload === 'string') return { content: Buffer.from(payload, 'utf8'), contentType: null };
  if (payload === undefined || payload === null) {
    throw new MessageError(say('amqp-message.payload-missing'));
  }
  if (typeof payload === 'function' || typeof payload === 'symbol') {
    throw new MessageError(say('amqp-message.payload-type', { type: typeof payload }));
  }
  let json: string;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    throw new MessageError(
      say('amqp-message.payload-not-json', { error: err instanceof Error ? err.message : String(err) }),
    );
  }
  return { content: Buffer.from(json, 'utf8'), contentType: 'application/json' };
}

/** Null when the value is fine, else what it should have been ("a string"), for the message. */
type Check = (value: unknown) => Message | null;

const isString: Check = (v) => (typeof v === 'string' ? null : say('amqp-message.expected.string'));
const shortString: Check = (v) => {
  if (typeof v !== 'string') return say('amqp-message.expected.string');
  return fitsShortString(v) ? null : say('amqp-message.expected.short-string', { max: SHORT_STRING_MAX });
};

/** What amqplib encodes as a field table: any object but null, an array or a Buffer. */
function isTable(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Where a header key sits: its table's path, kept as links so a deep nesting costs no long strings. */
interface TablePlace {
  value: object;
  parent: TablePlace | null;
  step: string | number;
}

function pathOf(place: TablePlace): string {
  const steps: string[] = [];
  for (let p: TablePlace | null = place; p?.parent; p = p.parent)
    steps.push(typeof p.step === 'number' ? `[${p.step}]` : `.${p.step}`);
  return `msg.properties.headers${steps.reverse().join('')}`;
}

/**
 * The first header key no AMQP table can carry safely, in the headers or in a table or
 * array nested in them. A key __proto__ would be sent as data, but amqplib decodes
 * tables by assignment, so a JavaScript consumer (amqp consume included) would take
 * its value as the headers' prototype. Walked without recursion: nesting depth is the
 * sender's choice.
 */
function headerKeysProblem(headers: object): Message | null {
  const pending: TablePlace[] = [{ value: headers, parent: null, step: '' }];
  const seen = new Set<object>([headers]);
  const visit = (value: unknown, parent: TablePlace, step: string | number) => {
    if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && !seen.has(value)) {
      seen.add(value);
      pending.push({ value, parent, step });
    }
  };
  for (let place = pending.pop(); place; place = pending.pop()) {
    const value = place.value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) visit(value[i], place, i);
      continue;
    }
    // amqplib's typed value, {'!': type, value}: only its value is encoded.
    if (place.parent && Object.hasOwn(value, '!')) {
      visit((value as { value?: unknown }).value, place.parent, place.step);
      continue;
    }
    for (const [key, field] of Object.entries(value)) {
      if (key === '__proto__') return say('amqp-message.header-key-proto', { where: pathOf(place), key });
      if (!fitsShortString(key))
        return say('amqp-message.header-key-too-long', { where: pathOf(place), max: SHORT_STRING_MAX });
      visit(field, place, key);
    }
  }
  return null;
}

const PROPERTY_CHECKS = new Map<string, Check>(
  Object.entries({
    contentType: shortString,
    contentEncoding: shortString,
    headers: (v) => (isTable(v) ? null : say('amqp-message.expected.headers')),
    messageId: shortString,
    correlationId: shortString,
    priority: (v) =>
      Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255 ? null : say('amqp-message.expected.priority'),
    // RabbitMQ reads expiration as a string of milliseconds.
    expiration: (v) =>
      (typeof v === 'string' && /^\d+$/.test(v)) || (Number.isInteger(v) && (v as number) >= 0)
        ? null
        : say('amqp-message.expected.expiration'),
    appId: shortString,
    type: shortString,
    timestamp: (v) =>
      (Number.isInteger(v) && (v as number) >= 0) || (v instanceof Date && !Number.isNaN(v.getTime()))
        ? null
        : say('amqp-message.expected.timestamp'),
    replyTo: shortString,
    userId: isString,
  } satisfies Record<string, Check>),
);

export const PROPERTY_NAMES = [...PROPERTY_CHECKS.keys()];

/**
 * Builds amqplib's publish options from msg.properties. `persistent` is the
 * node's setting; a JSON body gets content type application/json unless the
 * user set one.
 */
// The common case (no msg.properties) shares frozen option objects: no allocation per message.
const PERSISTENT = Object.freeze({ persistent: true });
const TRANSIENT = Object.freeze({ persistent: false });
const PERSISTENT_JSON = Object.freeze({ persistent: true, contentType: 'application/json' });
const TRANSIENT_JSON = Object.freeze({ persistent: false, contentType: 'application/json' });

export function publishOptions(properties: unknown, persistent: boolean, body: EncodedBody): Options.Publish {
  if (properties === undefined || properties === null) {
    if (body.contentType) return persistent ? PERSISTENT_JSON : TRANSIENT_JSON;
    return persistent ? PERSISTENT : TRANSIENT;
  }
  const options: Options.Publish = { persistent };
  if (body.contentType) options.contentType = body.contentType;
  if (typeof properties !== 'object' || Array.isArray(properties) || Buffer.isBuffer(properties)) {
    throw new MessageError(say('amqp-message.properties-not-object'));
  }
  for (const [name, value] of Object.entries(properties as Record<string, unknown>)) {
    if (value === undefined) continue;
    // A Map, not an object: names such as toString or __proto__ must not find Object.prototype's members.
    const check = PROPERTY_CHECKS.get(name);
    if (!check) {
      throw new MessageError(say('amqp-message.property-unknown', { name, names: PROPERTY_NAMES.join(', ') }));
    }
    const expected = check(value);
    if (expected) throw new MessageError(say('amqp-message.property-invalid', { name, expected }));
    if (name === 'headers') {
      const problem = headerKeysProblem(value as object);
      if (problem) throw new MessageError(problem);
    }
    if (name === 'timestamp')
      options.timestamp = value instanceof Date ? Math.floor(value.getTime() / 1000) : (value as number);
    else if (name === 'expiration') options.expiration = String(value);
    else (options as Record<string, unknown>)[name] = value;
  }
  return options;
}
