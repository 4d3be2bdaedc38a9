// A delivery as a Node-RED msg (docs/nodes/amqp-consume.md, "Output"): msg.payload decoded
// from the body, msg.topic the routing key, msg.amqp where it came from.

import type * as amqp from 'amqplib';

/** auto: by content type (JSON parsed, text as a string, else a Buffer). */
export type PayloadFormat = 'auto' | 'buffer' | 'string' | 'json';
export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['auto', 'buffer', 'string', 'json'];

export interface DeliveryInfo {
  queue: string;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  deliveryTag: number;
  /** A quorum queue's x-delivery-count header: how often the message was delivered before; null without one. */
  deliveryCount: number | null;
  /** The AMQP basic properties the publisher set (only those it set). */
  properties: Record<string, unknown>;
  /** The body as received, when msg.payload holds it parsed. */
  content?: Buffer;
}

export interface ConsumedMessage {
  payload: unknown;
  topic: string;
  amqp: DeliveryInfo;
  /** The handle amqp ack acknowledges the delivery with (manual ack mode only). */
  _amqpAck?: string;
}

export interface DecodedDelivery {
  msg: ConsumedMessage;
  /** Set when the body should be JSON and is not: msg.payload then holds the raw body. */
  jsonError: string | null;
}

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;
const TEXT_TYPE = /^text\//i;

function definedProperties(properties: amqp.MessageProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const given = properties as unknown as Record<string, unknown>;
  // for...in over amqplib's plain object, not Object.entries: no array of pairs per message.
  for (const name in given) {
    const value = given[name];
    if (value !== undefined && Object.hasOwn(given, name)) out[name] = value;
  }
  return out;
}

export function decodeDelivery(
  message: amqp.Message,
  queue: string,
  format: PayloadFormat,
  handle: string | null,
): DecodedDelivery {
  const { fields, content } = message;
  const properties = definedProperties(message.properties);
  const headers = properties.headers as Record<string, unknown> | undefined;
  // Own keys only: amqplib builds received headers by assignment, so a publisher's `__proto__` header becomes their prototype.
  const count = headers && Object.hasOwn(headers, 'x-delivery-count') ? headers['x-delivery-count'] : undefined;
  const info: DeliveryInfo = {
    queue,
    exchange: fields.exchange,
    routingKey: fields.routingKey,
    redelivered: fields.redelivered,
    deliveryTag: fields.deliveryTag,
    deliveryCount: typeof count === 'number' ? count : null,
    properties,
  };
  const contentType = typeof properties.contentType === 'string' ? properties.contentType : '';
  const asJson = format === 'json' || (format === 'auto' && JSON_TYPE.test(contentType));
  const asText = format === 'string' || (format === 'auto' && TEXT_TYPE.test(contentType));
  let payload: unknown = content;
  let jsonError: string | null = null;
  if (asJson) {
    try {
      payload = JSON.parse(content.toString('utf8'));
      info.content = content;
    } catch (err) {
      jsonError = err instanceof Error ? err.message : String(err);
    }
  } else if (asText) {
    payload = content.toString('utf8');
  }
  const msg: ConsumedMessage = { payload, topic: fields.routingKey, amqp: info };
  if (handle !== null) msg._amqpAck = handle;
  return { msg, jsonError };
}
