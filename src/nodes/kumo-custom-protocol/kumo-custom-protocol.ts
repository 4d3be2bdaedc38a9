// custom protocol: `protocol = { custom_lua = { constructor = 'make.amqp' } }`
// plus kumo.on('make.amqp', ...). Output 1 carries each delivery attempt with
// msg.kumo; output 2 carries one KumoMTA log record per outcome.

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { DeliveryQueue, type Delivery, type KumoDeliveryInfo } from '../../core/delivery-queue';
import { validateEventName, PREDEFINED_EVENTS, RESERVED_PREFIX } from '../../core/event-names';
import { bindProtocol, unbindProtocol, type ProtocolHandler, type Routing } from '../../core/protocol-bindings';
import { makeQueueConfig, timingsOf, type QueueConfig } from '../../core/queue-config';
import { queueNameFrom, type QueueName } from '../../core/queue-name';
import { NO_ENVELOPE } from '../../core/log-record';
import type { Envelope, LogRecord } from '../../core/log-record';
import { typeName } from '../../core/messages';
import { RetryStore, storeFileName, restorePayload } from '../../core/retry-store';
import { DurableRetries } from '../../core/durable-retries';
import * as path from 'node:path';
import { ERROR_CODES, KumoError, withCode } from '../../core/errors';
import { translator, type Translate } from '../../common/node-text';
import english from './locale.json';

interface CustomProtocolDef extends NodeDef {
  wires?: string[][];
  eventName: string;
  timeout: number | string;
  maxInFlight: number | string;
  maxQueued?: number | string;
}

interface DeliveryMessage extends NodeMessageInFlow {
  sender?: unknown;
  recipient?: unknown;
  queue?: unknown;
  queueConfig?: unknown;
  kumo?: KumoDeliveryInfo;
}

const STATUS_INTERVAL_MS = 500;
// In-flight attempts get most of Node-RED's 15 s close timeout.
const CLOSE_GRACE_MS = 10000;

type PositiveSetting = 'errors.timeout-invalid' | 'errors.max-in-flight-invalid' | 'errors.max-queued-invalid';

/** `invalid` names the setting's message key: the words differ per setting. */
function positive(t: Translate, value: unknown, fallback: number, invalid: PositiveSetting, integer: boolean): number {
  if (value === '' || value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(t(invalid, { value: String(value) }));
  }
  return n;
}

/** Size of the message data as KumoMTA's log record reports it (bytes). */
function payloadSize(payload: unknown): number {
  if (Buffer.isBuffer(payload)) return payload.length;
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (payload === undefined || payload === null) return 0;
  try {
    return Buffer.byteLength(JSON.stringify(payload) ?? '');
  } catch {
    return 0; // not serialisable (circular): the publish node reports that; the log record's size is only informative
  }
}

/**
 * msg.sender / msg.recipient, when the flow knows the message's envelope (a log hook's
 * record names them): KumoMTA's log records carry them. Anything but a string is refused.
 */
function envelopeOf(msg: DeliveryMessage, t: Translate): Envelope {
  const { sender, recipient } = msg;
  // The usual message has neither: no allocation on the hot path.
  if ((sender === undefined || sender === null) && (recipient === undefined || recipient === null)) return NO_ENVELOPE;
  return { sender: address(sender, 'sender', t), recipient: address(recipient, 'recipient', t) };
}

function address(value: unknown, field: 'sender' | 'recipient', t: Translate): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    throw new KumoError(ERROR_CODES.badInput, t('errors.envelope', { field, type: typeName(value) }));
  return value;
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'kumo-custom-protocol', english);

  function CustomProtocol(this: Node, def: CustomProtocolDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    let deliveries: DeliveryQueue<DeliveryMessage> | null = null;
    let eventName = '';
    let handler: ProtocolHandler | null = null;
    let statusTimer: NodeJS.Timeout | null = null;
    // Each attempt leaves as its own shallow copy of the delivery's msg, so a late
    // attempt still downstream (a slow node) keeps its own msg.kumo and cannot change
    // the next one; the delivery's msg itself never leaves and keeps the original payload.
    // An object payload is copied deeply per attempt: nodes change such payloads in place.
    const payloadFor = (payload: unknown): unknown =>
      payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload)
        ? RED.util.cloneMessage({ payload } as NodeMessageInFlow).payload
        : payload;

    const showStatus = () => {
      statusTimer = null;
      if (!deliveries) return;
      const { queued, inFlight, waiting } = deliveries.counts;
      if (queued + inFlight + waiting === 0) node.status({ fill: 'green', shape: 'dot', text: t('status.idle') });
      else
        node.status({
          fill: waiting > 0 ? 'yellow' : 'blue',
          shape: 'dot',
          text: t('status.summary', { queued, inFlight, waiting }),
        });
    };
    const refreshStatus = () => {
      if (!statusTimer) statusTimer = setTimeout(showStatus, STATUS_INTERVAL_MS);
    };

    // Durable retries (see core/durable-retries.ts): under Node-RED's user directory.
    let durable: DurableRetries<DeliveryMessage> | null = null;

    try {
      eventName = validateEventName(def.eventName);
      deliveries = new DeliveryQueue<DeliveryMessage>(
        {
          constructorName: eventName,
          attemptTimeoutMs: positive(t, def.timeout, 60, 'errors.timeout-invalid', false) * 1000,
          maxInFlight: positive(t, def.maxInFlight, 128, 'errors.max-in-flight-invalid', true),
          maxQueued: positive(t, def.maxQueued, 10000, 'errors.max-queued-invalid', true),
          logRecords: Array.isArray(def.wires?.[1]) ? def.wires[1].length > 0 : true, // output 2 wired
        },
        {
          send(delivery: Delivery<DeliveryMessage>, kumo: KumoDeliveryInfo) {
            node.send([{ ...delivery.msg, payload: payloadFor(delivery.msg.payload), kumo }, null]);
          },
          log(delivery: Delivery<DeliveryMessage>, record: LogRecord, kumo: KumoDeliveryInfo) {
            // A shallow copy keeps everything else of the original msg, msg.res of an http in node included.
            node.send([null, { ...delivery.msg, payload: record, kumo }]);
          },
          measure: (delivery: Delivery<DeliveryMessage>) => payloadSize(delivery.msg.payload),
          changed: refreshStatus,
          retrying: (delivery, change) => durable?.changed(delivery, change),
        },
      );
      const queue = deliveries;
      handler = {
        ownerId: node.id,
        accept: (msg: object, routing: Routing) => submit(queue, msg as DeliveryMessage, routing),
      };
      bindProtocol(eventName, handler);
      const userDir = (RED.settings as { userDir?: string }).userDir;
      if (userDir) {
        try {
          const store = new RetryStore(storeFileName(path.join(userDir, 'kumo-amqp'), eventName), eventName, {
            onError: (err) => node.error(t('errors.save-failed', { error: err.message })),
          });
          restoreDeliveries(queue, store);
          durable = new DurableRetries(store);
        } catch (err) {
          // The node still delivers; only what a previous run left could not be taken back.
          durable = null;
          node.error(t('errors.restore-failed', { error: (err as Error).message }));
        }
      } else {
        node.warn(t('warnings.no-user-dir'));
      }
      setImmediate(showStatus);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (handler) unbindProtocol(eventName, handler);
      handler = null;
      void deliveries?.close(0);
      deliveries = null;
      node.error(message);
      setImmediate(() =>
        node.status({ fill: 'red', shape: 'ring', text: t('status.error', { reason: message.slice(0, 80) }) }),
      );
    }

    function restoreDeliveries(queue: DeliveryQueue<DeliveryMessage>, from: RetryStore): void {
      const { deliveries: saved, problem } = from.load();
      if (problem) node.warn(problem);
      let restored = 0;
      for (const entry of saved) {
        try {
          const config = makeQueueConfig(entry.queueConfig);
          const queueName = queueNameFrom(entry.queue);
          const msg = {
            ...entry.props,
            _msgid: RED.util.generateId(),
            payload: restorePayload(entry.payload),
            queue: queueName,
            queueConfig: config,
          } as DeliveryMessage;
          queue.restore(msg, queueName, config, timingsOf(config), null, entry, envelopeOf(msg, t));
          restored++;
        } catch (err) {
          node.warn(t('warnings.not-restored', { id: String(entry?.id), error: (err as Error).message }));
        }
      }
      if (restored > 0) node.log(t('log.restored', { count: restored, file: from.file }));
    }

    function submit(queue: DeliveryQueue<DeliveryMessage>, msg: DeliveryMessage, routing: Routing): void {
      const envelope = envelopeOf(msg, t);
      queue.submit(msg, routing.queue, routing.config, routing.timings, null, envelope);
    }

    /** A message wired straight in: its queue and config are read from the msg. Throws a clear error when they are bad. */
    function accept(queue: DeliveryQueue<DeliveryMessage>, msg: DeliveryMessage): void {
      // Wired straight in without a queue: the queue is named after the constructor.
      const queueName: QueueName = queueNameFrom(msg.queue === undefined ? eventName : msg.queue);
      let config: QueueConfig;
      try {
        config = makeQueueConfig(
          msg.queueConfig === undefined ? { protocol: { custom_lua: { constructor: eventName } } } : msg.queueConfig,
        );
      } catch (err) {
        throw withCode(err as Error, ERROR_CODES.badInput);
      }
      msg.queue = queueName;
      msg.queueConfig = config;
      submit(queue, msg, { queue: queueName, config, timings: timingsOf(config) });
    }

    node.on('input', (msg: NodeMessageInFlow, _send, done) => {
      if (!deliveries) {
        done(new KumoError(ERROR_CODES.notConfigured, t('errors.not-configured')));
        return;
      }
      try {
        accept(deliveries, msg as DeliveryMessage);
        done();
      } catch (err) {
        done(withCode(err instanceof Error ? err : new Error(String(err)), ERROR_CODES.badInput));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (handler) unbindProtocol(eventName, handler);
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = null;
      if (!deliveries) return done();
      deliveries
        .close(CLOSE_GRACE_MS)
        .then(async (unfinished) => {
          // Everything not finished is kept, not only what waits to retry: nothing is lost on redeploy.
          if (durable)
            await durable
              .keep(unfinished)
              .catch((err: Error) => node.error(t('errors.save-failed', { error: err.message })));
          if (unfinished.length > 0) {
            const counts = { inFlight: 0, queued: 0, waiting: 0 };
            for (const d of unfinished)
              counts[d.state === 'in-flight' ? 'inFlight' : d.state === 'queued' ? 'queued' : 'waiting']++;
            const vars = { count: unfinished.length, name: eventName, ...counts };
            node.warn(
              durable
                ? t('warnings.undelivered-kept', { ...vars, file: durable.store.file })
                : t('warnings.undelivered-dropped', vars),
            );
          }
        })
        .then(() => done(), done);
    });
  }

  // The editor validates event names with the runtime's own list (RED.settings in the editor).
  RED.nodes.registerType('kumo-custom-protocol', CustomProtocol, {
    settings: {
      kumoCustomProtocolPredefinedEvents: { value: [...PREDEFINED_EVENTS], exportable: true },
      kumoCustomProtocolReservedPrefix: { value: RESERVED_PREFIX, exportable: true },
    },
  });
};
