// A status is read at a glance under a node, beside its neighbours: it names a
// problem by the broker's reply code (or the socket's error code) and leaves the
// sentence to the log, which gets it once per change.

import { type ConnectionStatus, retryInSeconds } from '../core/amqp/broker-connection';
import type { Translate } from './node-text';

const REPLY = /\b([1-5]\d\d)\s*\(?([A-Z][A-Z_-]{2,})\)?/;
const SOCKET = /\b(E[A-Z]{3,}|ERR_[A-Z_]+)\b/;
// What is left of a 40-character status after "disconnected: ".
const MAX = 26;
// A broker's address before the reason ("amqps://host:5671: TLS: ..."): the node already says which broker.
const ENDPOINT = /^amqps?:\/\/[^\s:]+(?::\d+)?[^\s]*?:\s+/;

/** "320 CONNECTION-FORCED", "404 NOT_FOUND", "ECONNREFUSED", or the start of the reason cut at a word. */
export function shortReason(reason: string): string {
  const reply = REPLY.exec(reason);
  if (reply) return `${reply[1]} ${reply[2]}`;
  const socket = SOCKET.exec(reason);
  if (socket) return socket[1];
  return cutAtWord(reason.replace(ENDPOINT, ''), MAX + 1);
}

/** At most `max` characters: the text, or its start cut after a whole word with an ellipsis. */
export function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  // A cut just before a space already ends at a whole word.
  const space = /\s/.test(text[max - 1]) ? cut.length : cut.lastIndexOf(' ');
  // With no space past the first third, a cut inside a word keeps more than one short word would.
  return `${(space > max / 3 ? cut.slice(0, space) : cut).replace(/[\s,:;.(]+$/, '')}…`;
}

/** The longest status that reads at a glance under a node without running under its neighbours. */
export const STATUS_MAX = 40;

/**
 * A setup error's status: the error itself, cut at a word to fit (its red ring says it is an error; an
 * "error: " before it would leave too few words to tell which). The whole error goes to the log.
 */
export function errorStatus(message: string): string {
  return cutAtWord(message, STATUS_MAX);
}

/**
 * A node's status while its broker connection is down, from its `status.disconnected*` words, the longest
 * that fits in STATUS_MAX: "disconnected: 404 NOT-FOUND, retrying in 4 s" while the connection waits to dial
 * again, else "disconnected: ECONNREFUSED, retrying", else "disconnected: 320 CONNECTION-FORCED". The reason
 * tells what to fix; the count comes second (a status is not redrawn every second, so it is as of the change
 * that drew it). The log has the whole reason, once per change.
 */
export function disconnectedStatus(t: Translate, reason: string, connection: ConnectionStatus | undefined): string {
  const plain = t('status.disconnected', { reason });
  if (!connection || connection.state === 'connected') return plain;
  const seconds = retryInSeconds(connection);
  if (seconds !== null) {
    const counted = t('status.disconnected-retrying-in', { reason, seconds });
    if (counted.length <= STATUS_MAX) return counted;
  }
  const retrying = t('status.disconnected-retrying', { reason });
  return retrying.length <= STATUS_MAX ? retrying : plain;
}
