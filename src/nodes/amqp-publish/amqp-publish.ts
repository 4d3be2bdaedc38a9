// amqp publish: client:publish{...} + confirm:wait() of KumoMTA's seed, with
// its Ack / NotRequested = delivered, Nack = kumo.reject(500, ...) handling.
// Every input ends in exactly one of: output 1, output 2, or done(err). An
// array published element by element (a custom protocol batch, or the node's
// setting) leaves once, when every element is settled, and each element of a
// batch reports its own outcome.

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { AmqpBrokerNode } from '../amqp-broker/amqp-broker-node';
import { ConfirmPublisher, type ConfirmResult, type PublishError } from '../../core/confirm-publisher';
import { encodeBody, publishOptions, MessageError } from '../../core/amqp-message';
import { batchRefs, reportOutcome, type ReportedOutcome } from '../../core/delivery-outcomes';
import { ERROR_CODES, KumoError } from '../../core/errors';
import {
  type BatchResult,
  NACK_CODES,
  type NackedAs,
  type OutcomeRules,
  type PublishElement,
  publishElements as publishEach,
  publishOutcome,
  RETURNED_CODES,
  type ReturnedAs,
  reportedOutcome,
} from '../../core/publish-outcome';
import { positiveSetting, showSetupError, ThrottledStatus } from '../../common/node-glue';
import { translator, type Translate } from '../../common/node-text';
import { fitsShortString, SHORT_STRING_MAX } from '../../core/amqp-names';
import { parseArguments } from '../../core/consumer-queue';
import english from './locale.json';

type RoutingKeyType = 'str' | 'msg' | 'env' | 'jsonata';
/** An array payload: one JSON message (default), or each element as its own message. */
type ArrayPayload = 'json' | 'elements';

interface AmqpPublishDef extends NodeDef {
  broker: string;
  exchange: string;
  routingKey: string;
  routingKeyType: RoutingKeyType;
  persistent: boolean;
  mandatory: boolean;
  returnedAs: ReturnedAs;
  nackedAs?: NackedAs;
  waitForConfirm: boolean;
  confirmTimeout: number | string;
  maxWaiting: number | string;
  declareQueue: string;
  /** JSON of the declared queue's x-arguments, as amqp consume declares them. */
  declareArguments?: string;
  arrayPayload?: ArrayPayload;
}

interface PublishMessage extends NodeMessageInFlow {
  properties?: unknown;
  kumo?: unknown;
  amqp?: ConfirmResult | BatchResult;
  reject?: { code: number; message: string };
}

type Send = (m: (PublishMessage | null)[]) => void;
type Done = (err?: Error) => void;

/** The declared queue's x-arguments, checked as amqp consume checks its own. */
function declareArgumentsOf(t: Translate, value: unknown): Record<string, unknown> {
  const { value: args, problem } = parseArguments(value);
  if (problem) throw new Error(t('errors.declare-arguments', { value: String(value) }));
  return args;
}

function checkRoutingKey(t: Translate, value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string')
    throw new MessageError(t('errors.routing-key-type', { type: value === null ? 'null' : typeof value }));
  if (!fitsShortString(value)) throw new MessageError(t('errors.routing-key-too-long', { max: SHORT_STRING_MAX }));
  return value;
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'amqp-publish', english);

  function AmqpPublish(this: Node, def: AmqpPublishDef): void {
    RED.nodes.createNode(this, def);
    const broker = RED.nodes.getNode(def.broker) as AmqpBrokerNode | null;
    const exchange = typeof def.exchange === 'string' ? def.exchange.trim() : '';
    const keyType: RoutingKeyType = def.routingKeyType || 'str';
    const persistent = def.persistent !== false;
    const mandatory = def.mandatory === true;
    const rules: OutcomeRules = {
      returnedAs: def.returnedAs || 'transient',
      nackedAs: def.nackedAs === 'transient' ? 'transient' : 'permanent',
    };
    const eachElement = def.arrayPayload === 'elements';
    let publisher: ConfirmPublisher | null = null;
    let staticKey: string | null = null;
    let jsonata: ReturnType<typeof RED.util.prepareJSONataExpression> | null = null;

    // Why the node could not be set up: every message is failed with it, not
    // with a generic "not configured", so a Catch node sees what to fix.
    let setupError: string | null = null;

    try {
      if (!broker) throw new Error(t('errors.no-broker'));
      if (broker.configError || !broker.connection) throw new Error(broker.configError ?? t('errors.no-broker'));
      if (keyType === 'str') staticKey = checkRoutingKey(t, def.routingKey ?? 'logging');
      else if (keyType === 'env')
        staticKey = checkRoutingKey(t, RED.util.evaluateNodeProperty(def.routingKey, 'env', this, {}));
      else if (keyType === 'jsonata') jsonata = RED.util.prepareJSONataExpression(def.routingKey, this);
      else if (keyType !== 'msg') throw new Error(t('errors.unknown-routing-key-type', { type: String(keyType) }));
      // A flow imported or written by hand may hold anything here; a typo must not pass as a default.
      if (!(rules.returnedAs in RETURNED_CODES) && rules.returnedAs !== 'delivered') {
        throw new Error(t('errors.returned-as'));
      }
      if (def.nackedAs !== undefined && !(def.nackedAs in NACK_CODES)) throw new Error(t('errors.nacked-as'));
      if (def.arrayPayload !== undefined && def.arrayPayload !== 'json' && def.arrayPayload !== 'elements') {
        throw new Error(t('errors.array-payload', { value: String(def.arrayPayload) }));
      }
      const positive = (value: unknown, fallback: number, key: string) =>
        positiveSetting(value, fallback, false, (v) => t(key, { value: v }));
      const confirmTimeoutMs = positive(def.confirmTimeout, 30, 'errors.confirm-timeout-invalid') * 1000;
      const maxWaiting = Math.floor(positive(def.maxWaiting, 10000, 'errors.max-waiting-invalid'));
      const declareQueue = typeof def.declareQueue === 'string' ? def.declareQueue.trim() : '';
      publisher = new ConfirmPublisher(broker.connection, {
        confirm: def.waitForConfirm !== false,
        confirmTimeoutMs,
        maxWaiting,
        declare: declareQueue
          ? {
              queue: declareQueue,
              arguments: declareArgumentsOf(t, def.declareArguments),
              bindExchange: exchange || undefined,
              bindKey: staticKey ?? '',
            }
          : null,
      });
    } catch (err) {
      setupError = err instanceof Error ? err.message : String(err);
      showSetupError(this, setupError, t('status.error', { reason: setupError }));
    }

    // Status follows the connection; "disconnected: " already says "not connected to
    // the broker", so the status has room for the connection's own reason only.
    const stateOf = (): string => {
      const problem = publisher?.problem;
      if (!problem) return 'ok'; // the per-message case: nothing to build
      const connection = broker?.connection?.status;
      if (connection?.blocked) return 'blocked';
      if (connection?.state === 'connecting' && !connection.error) return 'connecting';
      return `problem:${problem}`;
    };
    const status = new ThrottledStatus(this, () => {
      if (!publisher) return null;
      const state = stateOf();
      const problem = publisher.problem;
      const count = publisher.outstanding;
      if (state === 'blocked')
        return { state, status: { fill: 'yellow', shape: 'dot', text: t('status.blocked', { count }) } };
      if (state === 'connecting')
        return { state, status: { fill: 'yellow', shape: 'ring', text: t('status.connecting') } };
      if (problem) {
        const connection = broker?.connection?.status;
        const reason = connection && connection.state !== 'connected' && connection.error ? connection.error : problem;
        return {
          state,
          status: { fill: 'red', shape: 'ring', text: t('status.disconnected', { reason: reason.slice(0, 80) }) },
        };
      }
      const text = count > 0 ? t('status.in-flight', { count }) : t('status.connected');
      return { state, status: { fill: 'green', shape: 'dot', text } };
    });
    const refreshStatus = () => status.refresh(publisher ? stateOf() : undefined);
    if (publisher) {
      publisher.on('change', refreshStatus);
      publisher.on('warning', (message) => this.warn(message));
      setImmediate(() => status.show());
    }

    const report = (kumo: unknown, outcome: ReportedOutcome) => {
      if (kumo !== undefined) reportOutcome(kumo, outcome);
    };

    /** Ends a msg with an error: its delivery (every message of a batch) is a transient failure. */
    const failed = (msg: PublishMessage, err: Error, done: Done) => {
      report(msg.kumo, { kind: 'failed', error: err.message });
      done(err);
    };

    /** Publishes one body; `settle` gets the error or the result, once. */
    const publishOne = (
      payload: unknown,
      properties: unknown,
      routingKey: string,
      settle: (err: Error | null, result: ConfirmResult | null, returned: boolean) => void,
    ) => {
      let content: Buffer;
      let options: ReturnType<typeof publishOptions>;
      try {
        const body = encodeBody(payload);
        content = body.content;
        options = publishOptions(properties, persistent, body);
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)), null, false);
        return;
      }
      (publisher as ConfirmPublisher).publish(
        { exchange, routingKey, content, options, mandatory },
        (err: PublishError | null, result: ConfirmResult | null, returned: boolean) => {
          refreshStatus();
          settle(err ?? (result ? null : new Error(t('errors.publish-failed'))), result, returned);
        },
      );
    };

    const publish = (msg: PublishMessage, routingKey: string, send: Send, done: Done) => {
      // Asked before any payload is encoded: under overload most messages are refused.
      const refused = (publisher as ConfirmPublisher).refusal();
      if (refused) {
        failed(msg, refused, done);
        return;
      }
      if (Array.isArray(msg.payload)) {
        const batch = batchRefs(msg.kumo);
        if (eachElement || batch) {
          publishElements(msg, msg.payload, batch, routingKey, send, done);
          return;
        }
      }
      publishOne(msg.payload, msg.properties, routingKey, (err, result, returned) => {
        if (err || !result) {
          failed(msg, err as Error, done);
          return;
        }
        msg.amqp = result;
        const outcome = publishOutcome(result, returned, rules);
        // The disposition is only built for a delivery that waits for it (hot path).
        if (msg.kumo !== undefined) report(msg.kumo, reportedOutcome(outcome, result));
        if (outcome.kind === 'rejected') {
          msg.reject = { code: outcome.code, message: outcome.message };
          send([null, msg]);
        } else {
          send([msg, null]);
        }
        done();
      });
      refreshStatus();
    };

    /**
     * Every element as its own AMQP message, pipelined; the msg leaves once all are settled:
     * output 1 when every element was delivered, output 2 when any was rejected, done(err)
     * when any failed. A custom protocol batch reports each element's own outcome.
     */
    const publishElements = (
      msg: PublishMessage,
      elements: unknown[],
      batch: unknown[] | null,
      routingKey: string,
      send: Send,
      done: Done,
    ) => {
      if (batch && batch.length !== elements.length) {
        failed(
          msg,
          new KumoError(
            ERROR_CODES.badInput,
            t('errors.batch-length', { payloads: elements.length, infos: batch.length }),
          ),
          done,
        );
        return;
      }
      const where = { exchange, routingKey };
      const publish = (element: unknown, settle: Parameters<PublishElement>[1]) =>
        publishOne(element, msg.properties, routingKey, settle);
      const onElement = (i: number, outcome: ReportedOutcome) => {
        if (batch) report(batch[i], outcome);
      };
      publishEach(elements, publish, rules, where, onElement, ({ amqp, error, rejected }) => {
        msg.amqp = amqp;
        if (!batch && msg.kumo !== undefined) {
          // One delivery whose payload is an array: one outcome for it.
          if (error) report(msg.kumo, { kind: 'failed', error: error.message });
          else if (rejected) report(msg.kumo, { kind: 'rejected', ...rejected });
          else report(msg.kumo, { kind: 'delivered', disposition: `250 ${JSON.stringify(amqp)}` });
        }
        if (error) {
          done(error);
          return;
        }
        if (rejected) {
          msg.reject = rejected;
          send([null, msg]);
        } else {
          send([msg, null]);
        }
        done();
      });
      refreshStatus();
    };

    this.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as PublishMessage;
      if (!publisher) {
        const reason = setupError
          ? t('errors.not-configured-because', { reason: setupError })
          : t('errors.not-configured');
        failed(msg, new KumoError(ERROR_CODES.notConfigured, reason), done);
        return;
      }
      if (staticKey !== null) {
        publish(msg, staticKey, send, done);
      } else if (jsonata) {
        RED.util.evaluateJSONataExpression(jsonata, msg, (err, value) => {
          let key: string;
          try {
            if (err) throw new MessageError(t('errors.routing-key-expression', { error: err.message }));
            key = checkRoutingKey(t, value);
          } catch (e) {
            failed(msg, e as Error, done);
            return;
          }
          publish(msg, key, send, done);
        });
      } else {
        let key: string;
        try {
          key = checkRoutingKey(t, RED.util.getMessageProperty(msg, def.routingKey));
        } catch (e) {
          const error = new MessageError(
            t('errors.routing-key-property', { property: def.routingKey, error: (e as Error).message }),
          );
          failed(msg, error, done);
          return;
        }
        publish(msg, key, send, done);
      }
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      if (!publisher) return done();
      // Outstanding confirms get most of Node-RED's 15 s close timeout.
      publisher.close(10000).then(done, done);
    });
  }

  RED.nodes.registerType('amqp-publish', AmqpPublish);
};
