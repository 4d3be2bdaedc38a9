/**
 * KumoMTA log records (reference/log_record.md; the struct is JsonLogRecord in
 * crates/kumo-log-types) for the outcomes of a custom_lua delivery, shaped
 * the way KumoMTA's Lua dispatcher (crates/kumod/src/lua_deliver.rs) and its
 * queue expiry (crates/kumod/src/queue/queue.rs) log them.
 */

import { formatDuration } from './duration';
import type { QueueName } from './queue-name';
import { say, valueType } from '../text/messages';
import { ERROR_CODES, KumoError } from '../text/errors';

export type RecordType = 'Delivery' | 'TransientFailure' | 'Bounce' | 'Expiration';

export interface EnhancedCode {
  class: number;
  subject: number;
  detail: number;
}

export interface Response {
  code: number;
  enhanced_code: EnhancedCode | null;
  content: string;
  /** The SMTP verb answered; a Lua delivery has none. */
  command: string | null;
}

export interface PeerAddress {
  name: string;
  addr: string;
}

export interface LogRecord {
  type: RecordType;
  id: string;
  sender: string | null;
  recipient: string | null;
  /** The scheduled queue's name. */
  queue: string;
  /** The ready queue's name; empty for an Expiration, as in KumoMTA. */
  site: string;
  size: number;
  response: Response;
  peer_address: PeerAddress | null;
  /** When this record was made, epoch seconds. */
  timestamp: number;
  /** When the message was created, epoch seconds. */
  created: number;
  num_attempts: number;
  bounce_classification: string;
  egress_pool: string | null;
  egress_source: string | null;
  source_address: null;
  feedback_report: null;
  meta: Record<string, unknown>;
  headers: Record<string, unknown>;
  delivery_protocol: string | null;
  reception_protocol: string | null;
  nodeid: string;
  /** `timestamp` as an RFC 3339 string, with milliseconds. */
  event_time: string;
  /** `created` as an RFC 3339 string, with milliseconds. */
  created_time: string;
  /**
   * The attempt's UUID: the records of one attempt (every message of a batch) share it.
   * KumoMTA sets it on a Lua Delivery, TransientFailure and Bounce to the dispatcher
   * session's UUID and leaves it out of an Expiration (lua_deliver.rs, queue.rs).
   */
  session_id?: string;
}

export interface ResponseInput {
  code: number;
  content: string;
  /** KumoMTA gives a Lua outcome none; only an Expiration has one (5.4.7). */
  enhanced_code?: EnhancedCode | null;
  /**
   * An error inside the delivery (not an outcome the send returned): KumoMTA logs it
   * from the ready queue, with no peer address.
   */
  internal?: boolean;
}

/** The message's envelope, when the flow knows it (a Node-RED msg has none of its own). */
export interface Envelope {
  sender: string | null;
  recipient: string | null;
}

export const NO_ENVELOPE: Envelope = Object.freeze({ sender: null, recipient: null });

/**
 * msg.sender / msg.recipient, when the flow knows the message's envelope (a log hook's
 * record names them): KumoMTA's log records carry them. Anything but a string is bad input.
 */
export function envelopeOf(msg: { sender?: unknown; recipient?: unknown }): Envelope {
  const { sender, recipient } = msg;
  // The usual message has neither: no allocation on the hot path.
  if ((sender === undefined || sender === null) && (recipient === undefined || recipient === null)) return NO_ENVELOPE;
  return { sender: address(sender, 'sender'), recipient: address(recipient, 'recipient') };
}

function address(value: unknown, field: 'sender' | 'recipient'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new KumoError(ERROR_CODES.badInput, say('log-record.envelope', { field, type: valueType(value) }));
  }
  return value;
}

/** The size of the message data as KumoMTA's log record reports it (bytes; an object as its JSON). */
export function dataSize(payload: unknown): number {
  if (Buffer.isBuffer(payload)) return payload.length;
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (payload === undefined || payload === null) return 0;
  try {
    return Buffer.byteLength(JSON.stringify(payload) ?? '');
  } catch {
    return 0; // not serialisable (circular): the publish node reports that; the size is only informative
  }
}

export interface LogRecordInput {
  type: RecordType;
  id: string;
  queue: QueueName;
  constructorName: string;
  egressSource?: string;
  egressPool?: string;
  response: ResponseInput;
  sender?: string | null;
  recipient?: string | null;
  size: number;
  createdMs: number;
  nowMs: number;
  /** KumoMTA logs the attempts made before this one: 0 on the first. */
  numAttempts: number;
  meta?: Record<string, unknown>;
  receptionProtocol?: string | null;
  nodeId?: string;
  /** The attempt's UUID; left out of an Expiration, which happens outside any attempt. */
  sessionId?: string;
}

/** KumoMTA's egress source and pool when a policy names none. */
const UNSPECIFIED = 'unspecified';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** The ready queue name KumoMTA gives a custom_lua queue: `<source>-><routing_domain or domain>@lua:<constructor>`. */
export function siteName(queue: QueueName, constructorName: string, egressSource: string = UNSPECIFIED): string {
  return `${egressSource}->${queue.routing_domain ?? queue.domain}@lua:${constructorName}`;
}

export function buildLogRecord(input: LogRecordInput): LogRecord {
  const expiration = input.type === 'Expiration';
  const response: Response = {
    code: input.response.code,
    // KumoMTA's Lua dispatcher parses no enhanced code out of a disposition or a reject.
    enhanced_code: input.response.enhanced_code ?? null,
    content: input.response.content,
    command: null,
  };
  const egressSource = input.egressSource ?? UNSPECIFIED;
  const record: LogRecord = {
    type: input.type,
    id: input.id,
    sender: input.sender ?? null,
    recipient: input.recipient ?? null,
    queue: input.queue.name,
    // KumoMTA expires a message from its scheduled queue, outside any ready
    // queue or delivery protocol, so those fields are empty there.
    site: expiration ? '' : siteName(input.queue, input.constructorName, egressSource),
    size: input.size,
    response,
    // KumoMTA's wording (lua_deliver.rs), read by log consumers: not translated.
    peer_address:
      expiration || input.response.internal ? null : { name: `Lua via ${input.constructorName}`, addr: '0.0.0.0' },
    timestamp: Math.floor(input.nowMs / 1000),
    created: Math.floor(input.createdMs / 1000),
    num_attempts: input.numAttempts,
    bounce_classification: 'Uncategorized',
    egress_pool: expiration ? null : (input.egressPool ?? UNSPECIFIED),
    egress_source: expiration ? null : egressSource,
    source_address: null,
    feedback_report: null,
    meta: { ...(input.meta ?? {}) },
    headers: {},
    delivery_protocol: expiration ? null : 'Lua',
    reception_protocol: input.receptionProtocol ?? null,
    nodeid: input.nodeId ?? NIL_UUID,
    event_time: new Date(input.nowMs).toISOString(),
    created_time: new Date(input.createdMs).toISOString(),
  };
  // Left out rather than null, as KumoMTA's skip_serializing_if does.
  if (input.sessionId !== undefined && !expiration) record.session_id = input.sessionId;
  return record;
}

/**
 * The response KumoMTA logs when a retry would take a message past max_age
 * (queue.rs: code 551, enhanced code 5.4.7, durations in humantime's format).
 */
export function expirationResponse(delayedAgeSec: number, maxAgeSec: number): ResponseInput {
  return {
    code: 551,
    enhanced_code: { class: 5, subject: 4, detail: 7 },
    // KumoMTA's wording, which log consumers parse: not translated.
    content:
      `Next delivery time would be ${formatDuration(roundToMs(delayedAgeSec))} ` +
      `after creation, which exceeds max_age=${formatDuration(roundToMs(maxAgeSec))}`,
  };
}

/**
 * What KumoMTA logs when a Lua send fails with an error that is not a kumo.reject
 * (lua_deliver.rs adds the method's context, anyhow joins the chain with ': ').
 */
export function internalErrorResponse(err: string, batch = false): ResponseInput {
  const method = batch ? 'send_batch' : 'send';
  // KumoMTA's wording, which log consumers parse: not translated (the error after it is ours).
  return {
    code: 400,
    content: `KumoMTA internal: error in deliver_message: sender:${method} method failed: ${err}`,
    internal: true,
  };
}

// Sub-millisecond digits are float noise from epoch-ms arithmetic, not information.
function roundToMs(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
