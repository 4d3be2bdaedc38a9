// amqp publish: client:publish{...} + confirm:wait() of KumoMTA's seed, with
// its Ack / NotRequested = delivered, Nack = kumo.reject(500, ...) handling.
// Every input ends in exactly one of: output 1, output 2, or done(err). An
// array published element by element (a custom protocol batch, or the node's
// setting) leaves once, when every element is settled, and each element of a
// batch reports its own outcome.

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { AmqpBrokerNode } from '../amqp-broker/amqp-broker-node';
import { routingKeyFrom } from '../../core/amqp/amqp-message';
import { ConfirmPublisher } from '../../core/amqp/confirm-publisher';
import { parseArguments } from '../../core/amqp/consumer-queue';
import { ERROR_CODES } from '../../core/text/errors';
import { isMessage } from '../../core/text/messages';
import { awaitsAnswer } from '../../core/kumo/record-answers';
import {
  MessagePublisher,
  type Published,
  type PublishInput,
  type RoutingKeyOf,
  reportFailure,
} from '../../core/publish/message-publisher';
import type { OutcomeRules } from '../../core/publish/publish-outcome';
import { failInput, faultSink, NodeError, settingOf, setupFailed, ThrottledStatus } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { disconnectedStatus, shortReason } from '../../common/short-reason';
import { PublishCounts } from '../../common/metric-counts';
import { metricsEnabled, publishers } from '../../common/metrics';
import {
  type AmqpPublishSettings,
  arrayPayloadOf,
  CONFIRM_TIMEOUT_MAX_S,
  confirmTimeoutOf,
  DEFAULTS,
  maxWaitingOf,
  nackedAsOf,
  returnedAsOf,
  routingKeyTypeOf,
} from './settings';
import { type TypedInput, typedInput } from '../../common/typed-input';

interface PublishMessage extends NodeMessageInFlow {
  properties?: unknown;
  kumo?: unknown;
  amqp?: unknown;
  reject?: { code: number; message: string };
}

type Send = (m: (PublishMessage | null)[]) => void;
type Done = (err?: Error) => void;

/** The declared queue's x-arguments, checked as amqp consume checks its own. */
function declareArgumentsOf(t: Translate, core: CoreText, value: unknown): Record<string, unknown> {
  const { value: args, problem } = parseArguments(value);
  // An argument RabbitMQ 4 denies says why; anything else is not an object of arguments.
  if (problem)
    throw new Error(problem.said ? core.render(problem.said) : t('errors.declare-arguments', { value: String(value) }));
  return args;
}

export function amqpPublishController(
  RED: NodeAPI,
  node: Node,
  def: NodeDef & AmqpPublishSettings,
  t: Translate,
  core: CoreText,
): void {
  const broker = RED.nodes.getNode(def.broker) as AmqpBrokerNode | null;
  const exchange = typeof def.exchange === 'string' ? def.exchange.trim() : '';
  let publisher: ConfirmPublisher | null = null;
  let messages: MessagePublisher | null = null;
  let staticKey: string | null = null;
  let routingKey: TypedInput | null = null;

  // Why the node could not be set up: every message is failed with it, not
  // with a generic "not configured", so a Catch node sees what to fix.
  let setupError: string | null = null;

  try {
    if (!broker) throw new Error(t('errors.no-broker'));
    if (broker.configError || !broker.connection) throw new Error(broker.configError ?? t('errors.no-broker'));
    const keyType = settingOf(def.routingKeyType, routingKeyTypeOf, (type) =>
      t('errors.unknown-routing-key-type', { type }),
    );
    routingKey = typedInput(RED, node, def.routingKey ?? DEFAULTS.routingKey, keyType);
    if (routingKey.fixed) staticKey = routingKeyFrom(routingKey.value);
    // A flow imported or written by hand may hold anything here; a typo must not pass as a default.
    const rules: OutcomeRules = {
      returnedAs: settingOf(def.returnedAs, returnedAsOf, () => t('errors.returned-as')),
      nackedAs: settingOf(def.nackedAs, nackedAsOf, () => t('errors.nacked-as')),
    };
    const arrayPayload = settingOf(def.arrayPayload, arrayPayloadOf, (value) => t('errors.array-payload', { value }));
    const declareQueue = typeof def.declareQueue === 'string' ? def.declareQueue.trim() : '';
    const confirmTimeout = confirmTimeoutOf(def.confirmTimeout);
    if (confirmTimeout === 'invalid')
      throw new Error(t('errors.confirm-timeout-invalid', { value: String(def.confirmTimeout) }));
    if (confirmTimeout === 'too-long')
      throw new Error(t('errors.confirm-timeout-too-long', { max: CONFIRM_TIMEOUT_MAX_S }));
    const maxWaiting = settingOf(def.maxWaiting, maxWaitingOf, (value) => t('errors.max-waiting-invalid', { value }));
    publisher = new ConfirmPublisher(broker.connection, {
      confirm: def.waitForConfirm !== false,
      confirmTimeoutMs: confirmTimeout * 1000,
      maxWaiting,
      // Durable, and bound to the exchange the node publishes to (which must exist). A key read
      // from each msg has no one value to bind with: the queue's own name is its binding key.
      declare: declareQueue
        ? {
            queue: declareQueue,
            durable: true,
            arguments: declareArgumentsOf(t, core, def.declareArguments),
            bind: exchange ? { exchange, exchangeType: '', routingKey: staticKey ?? declareQueue } : null,
          }
        : null,
    });
    messages = new MessagePublisher(publisher, {
      exchange,
      persistent: def.persistent !== false,
      mandatory: def.mandatory === true,
      rules,
      eachElement: arrayPayload === 'elements',
    });
  } catch (err) {
    setupError = core.render(err);
    setupFailed(node, setupError);
  }

  let logged = '';
  const status = new ThrottledStatus(node, () => {
    if (!publisher) return null;
    const health = publisher.health;
    if (health.state !== 'problem') logged = '';
    switch (health.state) {
      case 'ok': {
        const count = health.outstanding;
        const text = count > 0 ? t('status.in-flight', { count }) : t('status.connected');
        return { state: 'ok', status: { fill: 'green', shape: 'dot', text } };
      }
      case 'blocked':
        return {
          state: 'blocked',
          status: { fill: 'yellow', shape: 'dot', text: t('status.blocked', { count: health.outstanding }) },
        };
      case 'connecting':
        return { state: 'connecting', status: { fill: 'yellow', shape: 'ring', text: t('status.connecting') } };
      case 'problem': {
        // The status names the problem by its code; the sentence goes to the log once per change
        // (a lost connection is logged by the broker node, a channel's trouble here).
        const reason = core.render(health.reason);
        // Opening a channel is routine; a channel the broker closed is worth a line.
        const channelClosed = isMessage(health.reason) && health.reason.key === 'confirm-publisher.channel-closed';
        if (reason !== logged && channelClosed) node.warn(t('log.problem', { reason }));
        logged = reason;
        // A channel the broker closed is not a lost connection: the status says which it is.
        const text = channelClosed
          ? t('status.channel-closed', { reason: shortReason(reason) })
          : disconnectedStatus(t, shortReason(reason), broker?.connection?.status);
        return { state: 'problem', status: { fill: 'red', shape: 'ring', text } };
      }
    }
  });
  // Per message: a new state shows at once, the in-flight count at most every interval,
  // with nothing rendered. A new reason comes with a 'change' (the connection or channel), shown at once.
  const refreshStatus = () => status.refresh(publisher?.problem ? publisher.health.state : 'ok');
  if (publisher) {
    publisher.fault = faultSink(node, core);
    publisher.on('change', () => status.show());
    publisher.on('warning', (said) => node.warn(core.render(said)));
    setImmediate(() => status.show());
  }

  /** Ends a msg that cannot be published: its delivery (every message of a batch) is a transient failure. */
  const failed = (msg: PublishMessage, err: Error, done: Done) => {
    reportFailure(msg.kumo, err);
    failInput(core, done, err);
  };

  /** The routing key for a msg (a batch element's own msg too); a key it cannot give is bad input. */
  const keyOf: RoutingKeyOf = (msg: PublishInput, callback) => {
    if (staticKey !== null) {
      callback(null, staticKey);
      return;
    }
    if (!routingKey) return;
    const expression = routingKey.type === 'jsonata';
    routingKey.read(msg, (err, value) => {
      let key = '';
      let failure: Error | null = null;
      try {
        if (err && expression)
          throw new NodeError(ERROR_CODES.badInput, t('errors.routing-key-expression', { error: err.message }));
        if (err) throw err;
        key = routingKeyFrom(value);
      } catch (e) {
        // An expression's value that is no key says so itself; a property names where it looked.
        failure =
          expression && e instanceof Error
            ? e
            : new NodeError(
                ERROR_CODES.badInput,
                t('errors.routing-key-property', { property: def.routingKey, error: core.render(e) }),
              );
      }
      callback(failure, key);
    });
  };

  const counts = new PublishCounts();
  const untrack = publishers.add(node, { counts, waiting: () => publisher?.outstanding ?? null });

  // With the pack's metrics off (settings.js kumoMetrics: false) nothing is timed or counted per msg.
  const counting = metricsEnabled();
  const publish = (msg: PublishMessage, send: Send, done: Done) => {
    const started = counting ? performance.now() : 0;
    (messages as MessagePublisher).publish(msg, keyOf, (published: Published) => {
      if (counting) counts.ended(published, (performance.now() - started) / 1000);
      refreshStatus();
      if (published.amqp) msg.amqp = published.amqp;
      if (published.error) {
        // A log hook record's failure is its delivery's (retried or bounced) and its request's answer,
        // which logs one line per request: one error per record would flood the log when the broker is down.
        if (awaitsAnswer(msg)) done();
        else failInput(core, done, published.error);
        return;
      }
      if (published.reject) {
        msg.reject = published.reject;
        send([null, msg]);
      } else {
        send([msg, null]);
      }
      done();
    });
    refreshStatus();
  };

  node.on('input', (input: NodeMessageInFlow, send, done) => {
    const msg = input as PublishMessage;
    if (!messages) {
      const reason = setupError
        ? t('errors.not-configured-because', { reason: setupError })
        : t('errors.not-configured');
      counts.results.add('refused');
      failed(msg, new NodeError(ERROR_CODES.notConfigured, reason), done);
      return;
    }
    publish(msg, send, done);
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    untrack();
    status.stop();
    // A stopped node (its flow disabled, or removed) shows nothing rather than a stale "connected".
    node.status({});
    if (!publisher) return done();
    // Outstanding confirms get most of Node-RED's 15 s close timeout.
    publisher.close(10000).then(done, done);
  });
}
