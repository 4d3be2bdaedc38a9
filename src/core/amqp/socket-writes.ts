// amqplib queues each channel's frames as separate objects and its muxer hands
// them to the socket one `write()` at a time: one system call per published
// message (or ack), since a loopback write completes at once. Corking the socket
// while the muxer drains turns what is ready in that turn into one `writev`.
// The muxer still sees `write()` return false once the socket holds its high
// water mark, and waits for 'drain' as before: backpressure is unchanged.
//
// The muxer is amqplib's internal: when it is not there as expected, writes go
// out as amqplib makes them (correct, only slower).

import type * as amqp from 'amqplib';

interface Corkable {
  cork(): void;
  uncork(): void;
}

interface Muxer {
  out?: Partial<Corkable>;
  _readIncoming?: () => void;
}

/** Makes the connection's socket writes one per drain of amqplib's muxer; false when its internals are not as expected. */
export function batchSocketWrites(model: amqp.ChannelModel): boolean {
  const muxer = (model as unknown as { connection?: { muxer?: Muxer } }).connection?.muxer;
  const out = muxer?.out;
  const drain = muxer?._readIncoming;
  if (!muxer || typeof drain !== 'function' || typeof out?.cork !== 'function' || typeof out.uncork !== 'function')
    return false;
  const socket = out as Corkable;
  muxer._readIncoming = function drainCorked(this: Muxer): void {
    socket.cork();
    try {
      drain.call(this);
    } finally {
      socket.uncork();
    }
  };
  return true;
}
