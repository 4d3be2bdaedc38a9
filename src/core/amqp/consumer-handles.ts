// What a consumed msg carries to amqp ack: a string naming the channel the
// delivery came on and its delivery tag. A string, because Node-RED clones a
// msg at every fork and a clone must still find its delivery; kept apart from
// msg.amqp, which amqp publish replaces with its confirm result in a relay.
//
// The registry refuses what the broker would punish: a second ack of one
// delivery tag, or an ack on a channel that is gone, makes RabbitMQ close the
// channel (406 PRECONDITION_FAILED unknown delivery tag), and with it every
// other unacknowledged delivery of that consumer.

import { randomBytes } from 'node:crypto';
import type * as amqp from 'amqplib';
import type { AckAction } from './consumer-ack';

/**
 * - acknowledged: the ack, nack or reject was written to the channel
 * - not-a-handle: the value is not a handle made by a consumer (bad input)
 * - channel-gone: its channel closed (redeploy, lost connection): the broker redelivers the message
 * - already-acknowledged: this delivery was acknowledged, requeued or rejected before
 * - write-failed: the channel refused the frame (it is closing); `error` says why
 */
export type AcknowledgeOutcome =
  | 'acknowledged'
  | 'not-a-handle'
  | 'channel-gone'
  | 'already-acknowledged'
  | 'write-failed';

export interface AcknowledgeResult {
  outcome: AcknowledgeOutcome;
  error?: string;
}

// Channel numbers restart with each process: a handle saved by another process
// (a msg persisted across a restart) must not match a channel of this one.
const PROCESS_TOKEN = randomBytes(4).toString('hex');
const HANDLE = /^amqp:([0-9a-f]{8})\.(\d+)\.(\d+)$/;

const open = new Map<number, AckChannel>();
let lastId = 0;

/** A delivery the flow holds: when it was handed out, and what names it in a warning. */
export interface HeldDelivery {
  deliveryTag: number;
  sinceMs: number;
  routingKey: string;
  messageId: string | null;
}

/** The deliveries of one consumer channel that the flow has not acknowledged yet. */
export class AckChannel {
  readonly id = ++lastId;
  /** By delivery tag, oldest first (a Map iterates in insertion order). */
  private readonly pending = new Map<number, HeldDelivery>();
  private released = false;

  constructor(
    private readonly channel: amqp.Channel,
    /** Called after each acknowledgement, for a status that counts what is unacknowledged. */
    private readonly onAcknowledged: () => void = () => undefined,
  ) {
    open.set(this.id, this);
  }

  get unacknowledged(): number {
    return this.pending.size;
  }

  /** The delivery the flow has held longest, or null. */
  get oldest(): HeldDelivery | null {
    const first = this.pending.values().next();
    return first.done ? null : first.value;
  }

  /** Records a delivery the flow must acknowledge; returns its handle. */
  track(
    deliveryTag: number,
    held: Omit<HeldDelivery, 'deliveryTag'> = { sinceMs: Date.now(), routingKey: '', messageId: null },
  ): string {
    this.pending.set(deliveryTag, { deliveryTag, ...held });
    return `amqp:${PROCESS_TOKEN}.${this.id}.${deliveryTag}`;
  }

  /** Acknowledges with `action` every delivery handed out at or before `beforeMs`; returns them. */
  expire(beforeMs: number, action: AckAction): HeldDelivery[] {
    const expired: HeldDelivery[] = [];
    for (const held of this.pending.values()) {
      if (held.sinceMs > beforeMs) break;
      expired.push(held);
    }
    for (const held of expired) this.acknowledge(held.deliveryTag, action);
    return expired;
  }

  /** Acknowledges, requeues or rejects one delivery (`action`), once. */
  acknowledge(deliveryTag: number, action: AckAction): AcknowledgeResult {
    if (this.released) return { outcome: 'channel-gone' };
    if (!this.pending.delete(deliveryTag)) return { outcome: 'already-acknowledged' };
    // amqplib reads only fields.deliveryTag.
    const message = { fields: { deliveryTag } } as amqp.Message;
    try {
      if (action === 'ack') this.channel.ack(message);
      else if (action === 'requeue-failed') this.channel.reject(message, true);
      else this.channel.nack(message, false, action === 'requeue');
    } catch (err) {
      return { outcome: 'write-failed', error: err instanceof Error ? err.message : String(err) };
    } finally {
      this.onAcknowledged();
    }
    return { outcome: 'acknowledged' };
  }

  /**
   * The channel is closing or closed: the broker returns its unacknowledged
   * deliveries to the queue, so their handles must not be used any more.
   */
  release(): void {
    this.released = true;
    this.pending.clear();
    open.delete(this.id);
  }
}

export interface ParsedHandle {
  channelId: number;
  deliveryTag: number;
  /** False for a handle made by another process. */
  local: boolean;
}

export function parseHandle(handle: unknown): ParsedHandle | null {
  if (typeof handle !== 'string') return null;
  const m = HANDLE.exec(handle);
  if (!m) return null;
  return { channelId: Number(m[2]), deliveryTag: Number(m[3]), local: m[1] === PROCESS_TOKEN };
}

/** Acknowledges, requeues or rejects the delivery a handle names. */
export function acknowledge(handle: unknown, action: AckAction): AcknowledgeResult {
  const parsed = parseHandle(handle);
  if (!parsed) return { outcome: 'not-a-handle' };
  const channel = parsed.local ? open.get(parsed.channelId) : undefined;
  if (!channel) return { outcome: 'channel-gone' };
  return channel.acknowledge(parsed.deliveryTag, action);
}
