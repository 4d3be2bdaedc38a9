// amqp consume: the reader of the queue KumoMTA's log events land in. Each
// delivery leaves as one msg; in manual mode it stays unacknowledged until an
// amqp ack node acknowledges it (at least once), at most `prefetch` at a time.

import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { AmqpBrokerNode } from '../amqp-broker/amqp-broker-node';
import { Consumer, type Delivery } from '../../core/amqp/consumer';
import { decodeDelivery, type PayloadFormat } from '../../core/amqp/consumer-message';
import {
  dropsPastDeliveryLimit,
  type QueueProblem,
  queueDeclaration,
  queueNameProblems,
} from '../../core/amqp/consumer-queue';
import { ERROR_CODES } from '../../core/text/errors';
import { MAX_TIMER_MS } from '../../core/base/clock';
import {
  type ComputedStatus,
  faultSink,
  NodeError,
  settingOf,
  setupFailed,
  ThrottledStatus,
} from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { disconnectedStatus, shortReason } from '../../common/short-reason';
import { ConsumeCounts } from '../../common/metric-counts';
import { consumers } from '../../common/metrics';
import {
  type AmqpConsumeSettings,
  ackModeOf,
  DEFAULTS,
  outputOf,
  prefetchOf,
  unackedActionOf,
  unackedTimeoutOf,
} from './settings';

const STATUS_INTERVAL_MS = 500;

function problemText(t: Translate, core: CoreText, problem: QueueProblem): string {
  return t(`errors.${problem.field}-${problem.kind}`, {
    detail: problem.detail ?? '',
    reason: problem.said ? core.render(problem.said) : '',
  });
}

export function amqpConsumeController(
  RED: NodeAPI,
  node: Node,
  def: NodeDef & AmqpConsumeSettings,
  t: Translate,
  core: CoreText,
): void {
  const faults = faultSink(node, core);
  const broker = RED.nodes.getNode(def.broker) as AmqpBrokerNode | null;
  const queue = typeof def.queue === 'string' ? def.queue.trim() : '';
  // Read with the other settings below, before the consumer (and so a delivery) exists.
  let output: PayloadFormat = DEFAULTS.output;
  let consumer: Consumer | null = null;
  const counts = new ConsumeCounts();
  // One warning about a quorum queue's delivery limit: at deploy when the declaration shows
  // no dead-letter exchange, else at the first x-delivery-count when the node cannot know its arguments.
  let limitWarned = false;
  let argumentsKnown = false;

  const onDelivery = (delivery: Delivery) => {
    const decoded = decodeDelivery(delivery.message, queue, output, delivery.handle);
    const msg = decoded.msg as unknown as NodeMessage;
    counts.delivered++;
    counts.deliveryCount.observe(decoded.msg.amqp.deliveryCount ?? 0);
    if (!limitWarned && !argumentsKnown && decoded.msg.amqp.deliveryCount !== null) {
      limitWarned = true;
      node.warn(t('errors.quorum-dead-letters-unknown', { queue }));
    }
    // A body that claims JSON and is not goes to Catch nodes with its handle, so the flow can reject it.
    if (decoded.jsonError !== null)
      node.error(new NodeError(ERROR_CODES.badInput, t('errors.not-json', { error: decoded.jsonError })), msg);
    else node.send(msg);
    refreshStatus();
  };

  try {
    if (!broker) throw new Error(t('errors.no-broker'));
    if (broker.configError || !broker.connection) throw new Error(broker.configError ?? t('errors.no-broker'));
    const ackMode = settingOf(def.ackMode, ackModeOf, () => t('errors.ack-mode'));
    output = settingOf(def.output, outputOf, () => t('errors.output'));
    const prefetch = settingOf(def.prefetch, prefetchOf, () => t('errors.prefetch'));
    const declare = def.declare !== false;
    let declaration = null;
    if (declare) {
      const declared = queueDeclaration(def);
      if (declared.problems.length > 0) throw new Error(problemText(t, core, declared.problems[0]));
      declaration = declared.declaration;
    } else {
      const problems = queueNameProblems(queue, false);
      if (problems.length > 0) throw new Error(problemText(t, core, problems[0]));
    }
    const timeout = settingOf(def.unackedTimeout, unackedTimeoutOf, () => t('errors.unacked-timeout'));
    const unackedAction = settingOf(def.unackedAction, unackedActionOf, () => t('errors.unacked-action'));
    if (declaration) {
      argumentsKnown = true;
      const limit = dropsPastDeliveryLimit(declaration);
      if (limit !== null) {
        limitWarned = true;
        node.warn(t('errors.quorum-no-dead-letters', { queue, limit }));
      }
    }
    consumer = new Consumer(
      broker.connection,
      {
        queue,
        declaration,
        prefetch,
        ackMode,
        unackedTimeoutMs: Math.min(timeout * 1000, MAX_TIMER_MS),
        unackedAction,
      },
      onDelivery,
    );
    const seconds = timeout;
    consumer.on('unacked-expired', (expired, action) => {
      for (let i = 0; i < expired.length; i++) counts.timedOut.add(action);
      // One line per sweep, naming at most a few: a flow that drops everything must not flood the log.
      const which = expired
        .slice(0, 5)
        .map((held) =>
          t('errors.unacked-which', {
            tag: held.deliveryTag,
            routingKey: held.routingKey,
            messageId: held.messageId === null ? '' : t('errors.unacked-message-id', { id: held.messageId }),
          }),
        )
        .join('; ');
      const more = expired.length > 5 ? ` …(+${expired.length - 5})` : '';
      node.warn(
        t('errors.unacked-expired', {
          count: expired.length,
          queue,
          seconds,
          action: t(action === 'requeue' ? 'errors.unacked-requeued' : 'errors.unacked-rejected'),
          which: which + more,
        }),
      );
      refreshStatus();
    });
  } catch (err) {
    setupFailed(node, core.render(err));
  }

  let logged = '';
  // A new reconnect time is a new state: its "retrying in N s" shows at once.
  // The unacknowledged count is not part of the state: in a quick flow it goes from 1 to 0 and back
  // with every message, and would redraw the status (a translated text) once per message.
  const stateKey = (c: Consumer) =>
    c.state === 'consuming'
      ? 'consuming'
      : `${c.state}:${c.problem === null ? '' : core.render(c.problem)}:${c.state === 'disconnected' ? broker?.connection?.status.retryAt : ''}`;
  // A change of state shows at once; the unacknowledged count at most every STATUS_INTERVAL_MS.
  const status = new ThrottledStatus(
    node,
    (): ComputedStatus | null => {
      const c = consumer;
      if (!c) return null;
      const state = stateKey(c);
      if (c.state !== 'waiting' && c.state !== 'disconnected') logged = '';
      switch (c.state) {
        case 'connecting':
          return { state, status: { fill: 'yellow', shape: 'ring', text: t('status.connecting') } };
        case 'consuming': {
          if (c.unacknowledged === 0)
            return { state, status: { fill: 'green', shape: 'dot', text: t('status.connected') } };
          const seconds = Math.floor(c.oldestUnackedMs / 1000);
          const text =
            seconds >= 1
              ? t('status.unacknowledged-oldest', { count: c.unacknowledged, seconds })
              : t('status.unacknowledged', { count: c.unacknowledged });
          return { state, status: { fill: seconds >= 60 ? 'yellow' : 'green', shape: 'dot', text } };
        }
        case 'cancelled':
          return { state, status: { fill: 'yellow', shape: 'ring', text: t('status.cancelled') } };
        case 'waiting':
        case 'disconnected': {
          // The status names the problem by its code; the sentence goes to the log once per change
          // (a lost connection is logged by the broker node, the queue's or channel's trouble here).
          const reason = core.render(c.problem ?? broker?.connection?.status.error ?? '');
          if (reason !== logged && broker?.connection?.connected) node.warn(t('log.problem', { reason }));
          logged = reason;
          const text = disconnectedStatus(t, shortReason(reason), broker?.connection?.status);
          return { state, status: { fill: 'red', shape: 'ring', text } };
        }
        case 'closed':
          return null;
      }
    },
    STATUS_INTERVAL_MS,
  );
  const refreshStatus = () => {
    if (consumer) status.refresh(stateKey(consumer));
  };
  if (consumer) {
    consumer.fault = faults;
    consumer.on('change', refreshStatus);
    // One line when the broker cancels the consumer (its queue was deleted), one when it consumes again.
    const watched = consumer;
    let cancelledAt: number | null = null;
    consumer.on('change', () => {
      if (watched.state === 'cancelled' && cancelledAt === null) {
        cancelledAt = Date.now();
        node.warn(t('log.cancelled', { queue }));
      } else if (watched.state === 'consuming' && cancelledAt !== null) {
        node.log(t('log.consuming-again', { queue, seconds: ((Date.now() - cancelledAt) / 1000).toFixed(1) }));
        cancelledAt = null;
      }
    });
    consumer.on('declare-refused', (error) => {
      argumentsKnown = false; // consumed as it is: its arguments are not the declaration's
      node.warn(t('errors.declare-refused', { queue, error }));
    });
    setImmediate(() => status.show());
  }

  const untrack = consumers.add(node, {
    counts,
    held: () =>
      consumer ? { unacknowledged: consumer.unacknowledged, oldestSeconds: consumer.oldestUnackedMs / 1000 } : null,
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    untrack();
    status.stop();
    // A stopped node (its flow disabled, or removed) shows nothing rather than a stale "connected".
    node.status({});
    if (!consumer) return done();
    const closing = consumer;
    consumer = null;
    closing.close().then(done, done);
  });
}
