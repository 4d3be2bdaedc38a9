/**
 * Custom protocol event names. In KumoMTA `protocol = { custom_lua = {
 * constructor = 'make.amqp' } }` names an event that `kumo.on('make.amqp', ...)`
 * binds; the name is free text, but KumoMTA's events share the same namespace,
 * so a constructor named after one of them would run (or replace) that
 * handler instead of a delivery.
 */

import { CoreError } from '../text/errors';
import { type Message, say, valueType } from '../text/messages';

/** Why a name cannot be used, for a caller (the editor) that words it itself. */
export type EventNameReason = 'not-string' | 'empty' | 'invisible' | 'predefined';

export class EventNameError extends CoreError {
  override name = 'EventNameError';
  readonly reason: EventNameReason;

  constructor(said: Message, problem: { reason: EventNameReason }) {
    super(said);
    this.reason = problem.reason;
  }
}

/**
 * KumoMTA's predefined events: the reference/events index of docs.kumomta.com,
 * plus the names older releases used (`smtp_server_mail_rcpt_to`, before
 * `smtp_server_rcpt_to`; `message_requeued`, the first name of
 * `requeue_message`) and the events documented on their own pages
 * (`get_site_config`, `http_message_injected`), because a policy written for
 * one of those releases still binds them.
 */
export const PREDEFINED_EVENTS: readonly string[] = Object.freeze([
  'get_acl_definition',
  'get_egress_path_config',
  'get_egress_pool',
  'get_egress_source',
  'get_listener_domain',
  'get_queue_config',
  'get_site_config',
  'http_message_generated',
  'http_message_injected',
  'http_server_validate_auth_basic',
  'init',
  'message_requeued',
  'pre_init',
  'proxy_init',
  'proxy_server_auth_rfc1929',
  'rebind_message',
  'requeue_message',
  'should_enqueue_log_record',
  'shutdown_logging',
  'smtp_client_rewrite_delivery_status',
  'smtp_server_auth_plain',
  'smtp_server_connection_accepted',
  'smtp_server_data',
  'smtp_server_ehlo',
  'smtp_server_get_dynamic_parameters',
  'smtp_server_mail_from',
  'smtp_server_mail_rcpt_to',
  'smtp_server_message_deferred_inject',
  'smtp_server_message_received',
  'smtp_server_rcpt_to',
  'smtp_server_rewrite_response',
  'smtp_server_split_transaction',
  'spool_message_enumerated',
  'throttle_insert_ready_queue',
  'tsa_init',
  'tsa_load_shaping_data',
  'xfer_message_received',
]);

const PREDEFINED = new Set(PREDEFINED_EVENTS);
const RESERVED_PREFIX = 'smtp_server_';

/** Returns the trimmed event name, or throws EventNameError saying why it cannot be used. */
export function validateEventName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new EventNameError(say('event-names.not-string', { type: valueType(name) }), { reason: 'not-string' });
  }
  const trimmed = name.trim();
  if (trimmed === '') {
    throw new EventNameError(say('event-names.empty'), { reason: 'empty' });
  }
  // The name is shown in node labels, site names and log records; a space or
  // control character there is almost always a paste accident.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\s\u0000-\u001f\u007f-\u009f]/u.test(trimmed)) {
    throw new EventNameError(say('event-names.invisible', { name: JSON.stringify(trimmed) }), { reason: 'invisible' });
  }
  // KumoMTA keeps adding smtp_server_* events: the whole prefix is theirs.
  if (PREDEFINED.has(trimmed) || trimmed.startsWith(RESERVED_PREFIX)) {
    throw new EventNameError(say('event-names.predefined', { name: trimmed }), { reason: 'predefined' });
  }
  return trimmed;
}
