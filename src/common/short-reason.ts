// A status is read at a glance under a node, beside its neighbours: it names a
// problem by the broker's reply code (or the socket's error code) and leaves the
// sentence to the log, which gets it once per change.

const REPLY = /\b([1-5]\d\d)\s*\(?([A-Z][A-Z_-]{2,})\)?/;
const SOCKET = /\b(E[A-Z]{3,}|ERR_[A-Z_]+)\b/;
const MAX = 32;

/** "320 CONNECTION-FORCED", "404 NOT_FOUND", "ECONNREFUSED", or the start of the reason cut at a word. */
export function shortReason(reason: string): string {
  const reply = REPLY.exec(reason);
  if (reply) return `${reply[1]} ${reply[2]}`;
  const socket = SOCKET.exec(reason);
  if (socket) return socket[1];
  if (reason.length <= MAX) return reason;
  const cut = reason.slice(0, MAX);
  const space = cut.lastIndexOf(' ');
  return `${(space > 12 ? cut.slice(0, space) : cut).replace(/[\s,:;.(]+$/, '')}…`;
}
