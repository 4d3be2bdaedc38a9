// amqp publish: client:publish{...} + confirm:wait() of KumoMTA's seed, with
// its Ack / NotRequested = delivered, Nack = kumo.reject(500, ...) handling.
// Every input ends in exactly one of: output 1, output 2, or done(err).

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { AmqpBrokerNode } from '../amqp-broker/amqp-broker-node';
import { ConfirmPublisher, type ConfirmResult, type PublishError } from '../../core/confirm-publisher';
import { encodeBody, publishOptions, MessageError } from '../../core/amqp-message';
import { reportOutcome, type ReportedOutcome } from '../../core/delivery-outcomes';
import { translator, type Translate } from '../../common/node-text';
import english from './locale.json';

type RoutingKeyType = 'str' | 'msg' | 'env' | 'jsonata';
/** What a mandatory message returned as unroutable counts as. */
type ReturnedAs = 'transient' | 'permanent' | 'delivered';
type NackedAs = 'permanent' | 'transient';

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
}

interface PublishMessage extends NodeMessageInFlow {
  properties?: unknown;
  kumo?: unknown;
  amqp?: ConfirmResult;
  reject?: { code: number; message: string };
}

// SMTP-style codes for a returned message, so a custom protocol retries (4xx) or bounces (5xx) it.
const RETURNED_CODES = { transient: 451, permanent: 550 } as const;
// A Nack is KumoMTA's kumo.reject(500) (the seed's sender); a user who knows their broker's
// Nacks pass (a full queue draining, a quorum leader moving) may have them retried instead.
const NACK_CODES = { permanent: 500, transient: 451 } as const;
const ROUTING_KEY_MAX_BYTES = 255;
const STATUS_INTERVAL_MS = 500;

/** `invalid` names the setting's message key: the words differ per setting. */
function positiveNumber(
  t: Translate,
  value: unknown,
  fallback: number,
  invalid: 'errors.confirm-timeout-invalid' | 'errors.max-waiting-invalid',
): number {
  if (value === '' || value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(t(invalid, { value: String(value) }));
  return n;
}

function checkRoutingKey(t: Translate, value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string')
    throw new MessageError(t('errors.routing-key-type', { type: value === null ? 'null' : typeof value }));
  if (Buffer.byteLength(value) > ROUTING_KEY_MAX_BYTES)
    throw new MessageError(t('errors.routing-key-too-long', { max: ROUTING_KEY_MAX_BYTES }));
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
    const returnedAs: ReturnedAs = def.returnedAs || 'transient';
    const nackCode = NACK_CODES[def.nackedAs === 'transient' ? 'transient' : 'permanent'];
    let publisher: ConfirmPublisher | null = null;
    let staticKey: string | null = null;
    let jsonata: ReturnType<typeof RED.util.prepareJSONataExpression> | null = null;

    // Why the node could not be set up: every message is failed with it, not
    // with a generic "not configured", so a Catch node sees what to fix.
    let setupError: string | null = null;
    const fail = (message: string) => {
      setupError = message;
      this.error(message);
      // After construction, so Status nodes (created later in the same flow) see it too.
      setImmediate(() => this.status({ fill: 'red', shape: 'ring', text: t('status.error', { reason: message }) }));
    };

    try {
      if (!broker) throw new Error(t('errors.no-broker'));
      if (broker.configError || !broker.connection) throw new Error(broker.configError ?? t('errors.no-broker'));
      if (keyType === 'str') staticKey = checkRoutingKey(t, def.routingKey ?? 'logging');
      else if (keyType === 'env')
        staticKey = checkRoutingKey(t, RED.util.evaluateNodeProperty(def.routingKey, 'env', this, {}));
      else if (keyType === 'jsonata') jsonata = RED.util.prepareJSONataExpression(def.routingKey, this);
      else if (keyType !== 'msg') throw new Error(t('errors.unknown-routing-key-type', { type: String(keyType) }));
      // A flow imported or written by hand may hold anything here; a typo must not pass as a default.
      if (!(returnedAs in RETURNED_CODES) && returnedAs !== 'delivered') throw new Error(t('errors.returned-as'));
      if (def.nackedAs !== undefined && !(def.nackedAs in NACK_CODES)) throw new Error(t('errors.nacked-as'));
      const confirmTimeoutMs = positiveNumber(t, def.confirmTimeout, 30, 'errors.confirm-timeout-invalid') * 1000;
      const maxWaiting = Math.floor(positiveNumber(t, def.maxWaiting, 10000, 'errors.max-waiting-invalid'));
      const declareQueue = typeof def.declareQueue === 'string' ? def.declareQueue.trim() : '';
      publisher = new ConfirmPublisher(broker.connection, {
        confirm: def.waitForConfirm !== false,
        confirmTimeoutMs,
        maxWaiting,
        declare: declareQueue
          ? { queue: declareQueue, bindExchange: exchange || undefined, bindKey: staticKey ?? '' }
          : null,
      });
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }

    // Status follows the connection. Counts are throttled (one editor update per
    // interval at most), but a change of state is shown at once: a reconnect
    // takes ~200 ms, so a throttled status could skip "disconnected" entirely.
    let statusTimer: NodeJS.Timeout | null = null;
    let shownState: string | null = null;
    const currentState = (): string => {
      const problem = publisher?.problem;
      if (!problem) return 'ok'; // the per-message case: nothing to build
      const state = broker?.connection?.status;
      if (state?.blocked) return 'blocked';
      if (state?.state === 'connecting' && !state.error) return 'connecting';
      return `problem:${problem}`;
    };
    // "disconnected: " already says "not connected to the broker"; the status has
    // room for the connection's own reason only, when it has one.
    const statusReason = (problem: string): string => {
      const connection = broker?.connection?.status;
      return connection && connection.state !== 'connected' && connection.error ? connection.error : problem;
    };
    const showStatus = () => {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = null;
      if (!publisher) return;
      shownState = currentState();
      const problem = publisher.problem;
      if (shownState === 'blocked')
        this.status({ fill: 'yellow', shape: 'dot', text: t('status.blocked', { count: publisher.outstanding }) });
      else if (shownState === 'connecting')
        this.status({ fill: 'yellow', shape: 'ring', text: t('status.connecting') });
      else if (problem)
        this.status({
          fill: 'red',
          shape: 'ring',
          text: t('status.disconnected', { reason: statusReason(problem).slice(0, 80) }),
        });
      else if (publisher.outstanding > 0)
        this.status({ fill: 'green', shape: 'dot', text: t('status.in-flight', { count: publisher.outstanding }) });
      else this.status({ fill: 'green', shape: 'dot', text: t('status.connected') });
    };
    const refreshStatus = () => {
      if (publisher && currentState() !== shownState) showStatus();
      else if (!statusTimer) statusTimer = setTimeout(showStatus, STATUS_INTERVAL_MS);
    };
    if (publisher) {
      publisher.on('change', refreshStatus);
      publisher.on('warning', (message) => this.warn(message));
      setImmediate(showStatus);
    }

    const report = (msg: PublishMessage, outcome: ReportedOutcome) => {
      if (msg.kumo !== undefined) reportOutcome(msg.kumo, outcome);
    };

    const publish = (
      msg: PublishMessage,
      routingKey: string,
      send: (m: (PublishMessage | null)[]) => void,
      done: (err?: Error) => void,
    ) => {
      const refused = (publisher as ConfirmPublisher).refusal();
      if (refused) {
        report(msg, { kind: 'failed', error: refused.message });
        done(refused);
        return;
      }
      let content: Buffer;
      let options: ReturnType<typeof publishOptions>;
      try {
        const body = encodeBody(msg.payload);
        content = body.content;
        options = publishOptions(msg.properties, persistent, body);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        report(msg, { kind: 'failed', error: error.message });
        done(error);
        return;
      }
      (publisher as ConfirmPublisher).publish(
        { exchange, routingKey, content, options, mandatory },
        (err: PublishError | null, result: ConfirmResult | null, returned: boolean) => {
          refreshStatus();
          if (err || !result) {
            const error = err ?? new Error(t('errors.publish-failed'));
            report(msg, { kind: 'failed', error: error.message });
            done(error);
            return;
          }
          msg.amqp = result;
          if (result.status === 'Nack') {
            const json = JSON.stringify(result);
            msg.reject = { code: nackCode, message: json };
            report(msg, { kind: 'rejected', code: nackCode, message: json });
            send([null, msg]);
          } else if (returned && returnedAs !== 'delivered') {
            const json = JSON.stringify(result);
            msg.reject = { code: RETURNED_CODES[returnedAs], message: json };
            report(msg, { kind: 'rejected', code: msg.reject.code, message: json });
            send([null, msg]);
          } else {
            // The disposition is only built for a delivery that waits for it (hot path).
            // '250 ' + JSON is the disposition of KumoMTA's documented sender: data, not translated.
            if (msg.kumo !== undefined)
              report(msg, { kind: 'delivered', disposition: `250 ${JSON.stringify(result)}` });
            send([msg, null]);
          }
          done();
        },
      );
      refreshStatus();
    };

    this.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as PublishMessage;
      if (!publisher) {
        const error = new Error(
          setupError ? t('errors.not-configured-because', { reason: setupError }) : t('errors.not-configured'),
        );
        report(msg, { kind: 'failed', error: error.message });
        done(error);
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
            report(msg, { kind: 'failed', error: (e as Error).message });
            done(e as Error);
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
          report(msg, { kind: 'failed', error: error.message });
          done(error);
          return;
        }
        publish(msg, key, send, done);
      }
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = null;
      if (!publisher) return done();
      // Outstanding confirms get most of Node-RED's 15 s close timeout.
      publisher.close(10000).then(done, done);
    });
  }

  RED.nodes.registerType('amqp-publish', AmqpPublish);
};
