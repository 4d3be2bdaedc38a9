// custom protocol: `protocol = { custom_lua = { constructor = 'make.amqp' } }`
// plus kumo.on('make.amqp', ...). Output 1 carries each delivery attempt with
// msg.kumo (or, with a batch size above 1, each batch, as send_batch gets it);
// output 2 carries one KumoMTA log record per outcome.

import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { nodeBatchSettings } from '../../core/kumo/batching';
import { type Delivery, DeliveryQueue, type KumoDeliveryInfo } from '../../core/kumo/delivery-queue';
import { DurableRetries, unfinishedCounts } from '../../core/store/durable-retries';
import { ERROR_CODES } from '../../core/text/errors';
import { validateEventName } from '../../core/kumo/event-names';
import { dataSize, envelopeOf, type LogRecord } from '../../core/kumo/log-record';
import { copyData } from '../../core/store/message-data';
import { finalOutcome, answerRecord } from '../../core/kumo/record-answers';
import {
  bindProtocol,
  directRouting,
  type ProtocolHandler,
  type Routing,
  unbindProtocol,
} from '../../core/kumo/protocol-bindings';
import {
  doneWhenKept,
  refuseInput,
  faultSink,
  NodeError,
  settingOf,
  setupFailed,
  ThrottledStatus,
} from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { CustomProtocolCounts, errorCode } from '../../common/metric-counts';
import { customProtocols } from '../../common/metrics';
import { type CustomProtocolSettings, maxInFlightOf, maxQueuedMBOf, maxQueuedOf, timeoutOf } from './settings';

interface DeliveryMessage extends NodeMessageInFlow {
  sender?: unknown;
  recipient?: unknown;
  queue?: unknown;
  queueConfig?: unknown;
  kumo?: unknown;
}

// In-flight attempts get most of Node-RED's 15 s close timeout.
const CLOSE_GRACE_MS = 10000;

export function customProtocolController(
  RED: NodeAPI,
  node: Node,
  def: NodeDef & CustomProtocolSettings & { wires?: string[][] },
  t: Translate,
  core: CoreText,
): void {
  let deliveries: DeliveryQueue<DeliveryMessage> | null = null;
  let eventName = '';
  let handler: ProtocolHandler | null = null;
  const counts = new CustomProtocolCounts();
  // Each attempt leaves as its own shallow copy of the delivery's msg, so a late
  // attempt still downstream (a slow node) keeps its own msg.kumo and cannot change
  // the next one; the delivery's msg itself never leaves and keeps the payload as it
  // was accepted. Nodes change object payloads in place, so the delivery keeps its own
  // copy (made at accept, where a payload that cannot be copied is refused as bad
  // input), the first attempt takes the payload the flow gave, and each retry a copy.
  const firstPayload = new WeakMap<DeliveryMessage, unknown>();
  const isCopied = (payload: unknown): boolean =>
    payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload);
  const payloadFor = (msg: DeliveryMessage): unknown => {
    if (firstPayload.has(msg)) {
      const given = firstPayload.get(msg);
      firstPayload.delete(msg);
      return given;
    }
    return isCopied(msg.payload) ? copyData(msg.payload).copy : msg.payload;
  };

  const status = new ThrottledStatus(node, () => {
    if (!deliveries) return null;
    const { queued, inFlight, waiting } = deliveries.counts;
    const batches = deliveries.batches;
    if (queued + inFlight + waiting === 0) {
      return { state: 'idle', status: { fill: 'green', shape: 'dot', text: t('status.idle') } };
    }
    // Only what there is, as a person would say it: "2 queued, 130 in flight (2 batches)".
    const parts: string[] = [];
    if (queued > 0) parts.push(t('status.queued', { count: queued }));
    if (inFlight > 0 && batches === 1) parts.push(t('status.in-flight-batch', { count: inFlight }));
    else if (inFlight > 0 && batches > 1) parts.push(t('status.in-flight-batches', { count: inFlight, batches }));
    else if (inFlight > 0) parts.push(t('status.in-flight', { count: inFlight }));
    if (waiting > 0) parts.push(t('status.waiting', { count: waiting }));
    const text = parts.join(', ');
    return { state: 'busy', status: { fill: waiting > 0 ? 'yellow' : 'blue', shape: 'dot', text } };
  });

  // Durable retries and the spool (see core/store/durable-retries.ts): under Node-RED's user directory.
  let durable: DurableRetries<DeliveryMessage> | null = null;
  const spool = def.spool !== false;

  const logRecords = Array.isArray(def.wires?.[1]) ? def.wires[1].length > 0 : true; // output 2 wired
  try {
    eventName = validateEventName(def.eventName);
    if (!logRecords) node.warn(t('warnings.log-records-unwired'));
    const setting = (value: unknown, parse: (value: unknown) => number | null, key: string): number =>
      settingOf(value, parse, (v) => t(key, { value: v }));
    deliveries = new DeliveryQueue<DeliveryMessage>(
      {
        constructorName: eventName,
        attemptTimeoutMs: setting(def.timeout, timeoutOf, 'errors.timeout-invalid') * 1000,
        maxInFlight: setting(def.maxInFlight, maxInFlightOf, 'errors.max-in-flight-invalid'),
        maxQueued: setting(def.maxQueued, maxQueuedOf, 'errors.max-queued-invalid'),
        maxQueuedBytes: setting(def.maxQueuedMB, maxQueuedMBOf, 'errors.max-queued-mb-invalid') * 1024 * 1024,
        logRecords,
        batch: nodeBatchSettings({
          batch_size: def.batchSize,
          min_batch_size: def.minBatchSize,
          max_batch_latency: def.maxBatchLatency,
        }),
      },
      {
        send(delivery: Delivery<DeliveryMessage>, kumo: KumoDeliveryInfo) {
          node.send([{ ...delivery.msg, payload: payloadFor(delivery.msg), kumo }, null]);
        },
        sendBatch(batch: Delivery<DeliveryMessage>[], kumos: KumoDeliveryInfo[]) {
          // One msg for the batch, as send_batch gets one table: the payloads and each message's msg.kumo, same
          // order, and each message whole in msg.messages (amqp publish publishes each as it would publish it alone).
          const first = batch[0].msg;
          // Without req and res: Node-RED copies those by reference only at a msg's top level, and the log
          // record (output 2) still carries them to answer an http in.
          const messages = batch.map((d, i) => {
            const { req: _req, res: _res, ...fields } = d.msg as DeliveryMessage & { req?: unknown; res?: unknown };
            return { ...fields, payload: payloadFor(d.msg), kumo: kumos[i] };
          });
          node.send([
            {
              _msgid: RED.util.generateId(),
              payload: messages.map((m) => m.payload),
              queue: first.queue,
              queueConfig: first.queueConfig,
              kumo: { constructor: eventName, batch: kumos },
              messages,
            },
            null,
          ]);
        },
        log(delivery: Delivery<DeliveryMessage>, record: LogRecord, kumo: KumoDeliveryInfo) {
          // A shallow copy keeps everything else of the original msg, msg.res of an http in node included.
          node.send([null, { ...delivery.msg, payload: record, kumo }]);
        },
        measure: (delivery: Delivery<DeliveryMessage>) => dataSize(delivery.msg.payload),
        changed: () => status.refresh(),
        fault: faultSink(node, core),
        retrying: (delivery, change) => {
          if (change !== 'finished') counts.retries++;
          durable?.changed(delivery, change);
        },
        ended: (delivery, type, response) => {
          if (type === 'Delivery') counts.delivered++;
          else if (type === 'Bounce') counts.bounced++;
          else counts.expired++;
          if (spool) durable?.changed(delivery, 'finished');
          // A log hook record's request learns how it ended (a restored one's request is gone: ignored).
          const answered = answerRecord(delivery.msg, finalOutcome(type, response));
          // A final failure is always seen: without a log record output, Catch nodes get it.
          if (!answered && !logRecords && type !== 'Delivery') {
            const key = type === 'Bounce' ? 'errors.bounced' : 'errors.expired';
            const code = type === 'Bounce' ? ERROR_CODES.bounced : ERROR_CODES.expired;
            const vars = { id: delivery.id, code: response.code, content: response.content };
            node.error(new NodeError(code, t(key, vars)), { ...delivery.msg, kumo: { id: delivery.id } });
          }
        },
      },
    );
    const queue = deliveries;
    handler = {
      ownerLabel: def.name || eventName,
      accept: (msg: object, routing: Routing) => take(queue, msg as DeliveryMessage, routing),
    };
    bindProtocol(eventName, handler);
    const userDir = (RED.settings as { userDir?: string }).userDir;
    if (userDir) {
      try {
        durable = DurableRetries.open(path.join(userDir, 'kumo-amqp'), eventName, (err) =>
          node.error(t('errors.save-failed', { error: core.render(err) })),
        );
        const { restored, problem, skipped } = durable.restoreInto(queue, () => RED.util.generateId());
        if (problem) node.warn(problem);
        for (const { id, error } of skipped) node.warn(t('warnings.not-restored', { id, error: core.render(error) }));
        if (restored > 0) node.log(t('log.restored', { count: restored, file: durable.store.file }));
      } catch (err) {
        // The node still delivers; only what a previous run left could not be taken back.
        durable = null;
        node.error(t('errors.restore-failed', { error: core.render(err) }));
      }
    } else {
      node.warn(t('warnings.no-user-dir'));
    }
    setImmediate(() => status.show());
  } catch (err) {
    const message = core.render(err);
    if (handler) unbindProtocol(eventName, handler);
    handler = null;
    void deliveries?.close(0);
    deliveries = null;
    setupFailed(node, message);
  }

  /**
   * Takes a message into the queue, counted: accepted once taken (and on disk, with the spool on),
   * else failed by its err.code. With the spool on, the promise says when it is on disk; the
   * delivery waits for that before its first attempt (see DeliveryQueue.submit's hold).
   */
  function take(
    queue: DeliveryQueue<DeliveryMessage>,
    msg: DeliveryMessage,
    routing: Routing,
  ): Promise<void> | undefined {
    const given = msg.payload;
    const copied = isCopied(given);
    let delivery: Delivery<DeliveryMessage>;
    try {
      let held: number;
      if (copied) {
        const { copy, approxBytes } = copyData(given); // throws KUMO_BAD_INPUT: refused before it is accepted
        msg.payload = copy;
        held = approxBytes;
        // Before submit: the first attempt may start inside it.
        firstPayload.set(msg, given);
      } else {
        held = Buffer.isBuffer(given) ? given.length : typeof given === 'string' ? given.length : 8;
      }
      const journal = spool ? durable : null;
      try {
        delivery = queue.submit(msg, routing.queue, routing.config, routing.timings, envelopeOf(msg), held, !!journal);
      } catch (err) {
        firstPayload.delete(msg);
        msg.payload = given;
        throw err;
      }
      if (!journal) {
        counts.accepted++;
        return undefined;
      }
      // Written or not, it goes on (a message the spool could not write is still delivered while Node-RED runs).
      return journal.accepted(delivery).then(
        () => {
          queue.release(delivery);
          counts.accepted++;
        },
        (err: unknown) => {
          queue.release(delivery);
          counts.failed.add(ERROR_CODES.notKept);
          throw err;
        },
      );
    } catch (err) {
      counts.failed.add(errorCode(err, ERROR_CODES.badInput));
      throw err;
    }
  }

  node.on('input', (msg: NodeMessageInFlow, _send, done) => {
    if (!deliveries) {
      counts.failed.add(ERROR_CODES.notConfigured);
      refuseInput(core, msg, done, new NodeError(ERROR_CODES.notConfigured, t('errors.not-configured')));
      return;
    }
    try {
      // Wired straight in: the queue and config are read from the msg.
      const delivery = msg as DeliveryMessage;
      let routing: Routing;
      try {
        routing = directRouting(delivery.queue, delivery.queueConfig, eventName);
      } catch (err) {
        counts.failed.add(errorCode(err, ERROR_CODES.badInput));
        throw err;
      }
      delivery.queue = routing.queue;
      delivery.queueConfig = routing.config;
      doneWhenKept(core, msg, done, take(deliveries, delivery, routing));
    } catch (err) {
      refuseInput(core, msg, done, err, ERROR_CODES.badInput);
    }
  });

  const untrack = customProtocols.add(node, {
    counts,
    state: () => {
      if (!deliveries) return null;
      const { queued, inFlight, waiting } = deliveries.counts;
      let oldestMs = Number.POSITIVE_INFINITY;
      if (waiting > 0)
        for (const delivery of deliveries.retryingDeliveries)
          if (delivery.state === 'waiting' && delivery.createdMs < oldestMs) oldestMs = delivery.createdMs;
      const oldestWaitingSeconds =
        oldestMs === Number.POSITIVE_INFINITY ? 0 : Math.max(0, Date.now() - oldestMs) / 1000;
      return { queued, inFlight, waiting, oldestWaitingSeconds };
    },
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    untrack();
    if (handler) unbindProtocol(eventName, handler);
    status.stop();
    if (!deliveries) return done();
    deliveries
      .close(CLOSE_GRACE_MS)
      .then(async (unfinished) => {
        // Everything not finished is kept, not only what waits to retry: nothing is lost on redeploy.
        if (durable)
          await durable
            .keep(unfinished)
            .catch((err: Error) => node.error(t('errors.save-failed', { error: core.render(err) })));
        if (unfinished.length > 0) {
          const vars = { count: unfinished.length, name: eventName, ...unfinishedCounts(unfinished) };
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
