// queue config: KumoMTA's get_queue_config event + kumo.make_queue_config{}.
// Ordered rules pick a config for the message's queue; a custom_lua config
// hands the message to the custom protocol node bound to its constructor,
// every other protocol leaves by the output.

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { compileRules, selectQueueConfig, constructorOf, type CompiledRules } from '../../core/kumo/queue-config';
import { queueNameFrom } from '../../core/kumo/queue-name';
import { protocolFor } from '../../core/kumo/protocol-bindings';
import { ERROR_CODES } from '../../core/text/errors';
import { say } from '../../core/text/messages';
import { refusedOutcome, settleRecord } from '../../core/kumo/record-answers';
import { NodeError, refuseInput } from '../../common/node-glue';
import { coreWords, translator } from '../../common/node-text';
import { errorStatus } from '../../common/short-reason';
import english from './locale.json';

type QueueSource = 'msg' | 'str' | 'env';

interface QueueConfigDef extends NodeDef {
  queue: string;
  queueType: QueueSource;
  rules: unknown;
}

interface RoutedMessage extends NodeMessageInFlow {
  queue?: unknown;
  queueConfig?: unknown;
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'kumo-queue-config', english);
  const words = coreWords(RED);

  function QueueConfigNode(this: Node, def: QueueConfigDef): void {
    RED.nodes.createNode(this, def);
    const source: QueueSource = def.queueType || 'msg';
    const property = def.queue || 'queue';
    let rules: CompiledRules | null = null;
    let fixedQueue: unknown;
    let configError: string | null = null;

    try {
      rules = compileRules(def.rules ?? []);
      if (source === 'str') fixedQueue = property;
      else if (source === 'env') fixedQueue = RED.util.evaluateNodeProperty(property, 'env', this, {});
      else if (source !== 'msg') throw new Error(t('errors.unknown-queue-source', { source: String(source) }));
      const count = Array.isArray(def.rules) ? def.rules.length : 0;
      setImmediate(() =>
        this.status({
          fill: 'green',
          shape: 'dot',
          text: count === 1 ? t('status.rule') : t('status.rules', { count }),
        }),
      );
    } catch (err) {
      configError = words.say(err);
      this.error(configError);
      setImmediate(() =>
        this.status({
          fill: 'red',
          shape: 'ring',
          text: errorStatus(configError as string),
        }),
      );
    }

    /** A bad queue's error, prefixed with where the queue came from. */
    const badQueue = (error: string): string =>
      source === 'msg'
        ? t('errors.queue-from-msg', { property, error })
        : source === 'env'
          ? t('errors.queue-from-env', { property, error })
          : t('errors.queue-from-setting', { error });

    this.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as RoutedMessage;
      if (!rules) {
        refuseInput(
          words,
          msg,
          done,
          new NodeError(ERROR_CODES.notConfigured, t('errors.invalid-config', { reason: String(configError) })),
        );
        return;
      }
      try {
        const raw = source === 'msg' ? RED.util.getMessageProperty(msg, property) : fixedQueue;
        let queue: ReturnType<typeof queueNameFrom>;
        try {
          queue = queueNameFrom(raw);
        } catch (err) {
          // A fixed or env queue is the node's setting, not the message's fault.
          const code = source === 'msg' ? ERROR_CODES.badInput : ERROR_CODES.notConfigured;
          throw new NodeError(code, badQueue(words.say(err)));
        }
        const { config, timings } = selectQueueConfig(rules, queue);
        msg.queue = queue;
        msg.queueConfig = config;
        const constructorName = constructorOf(config);
        if (constructorName === null) {
          // Routed to the flow, not to a custom protocol: nothing will tell a log hook how it ends.
          settleRecord(
            msg,
            refusedOutcome(null, words.say(say('record-answers.routed-nowhere', { queue: queue.name }))),
          );
          send(msg);
          done();
          return;
        }
        const handler = protocolFor(constructorName);
        if (!handler) {
          // During a redeploy the custom protocol node is briefly unbound: the sender should try again.
          throw new NodeError(
            ERROR_CODES.notBound,
            t('errors.unbound-event', { name: constructorName, queue: queue.name }),
          );
        }
        const kept = handler.accept(msg, { queue, config, timings });
        // With the custom protocol's spool on, done() means written to disk: Complete nodes can answer then.
        if (kept)
          kept.then(
            () => done(),
            (err: unknown) => refuseInput(words, msg, done, err, ERROR_CODES.notKept),
          );
        else done();
      } catch (err) {
        // The custom protocol's errors (overloaded, closing, bad envelope) keep their codes.
        refuseInput(words, msg, done, err, ERROR_CODES.notConfigured);
      }
    });
  }

  RED.nodes.registerType('kumo-queue-config', QueueConfigNode);
};
