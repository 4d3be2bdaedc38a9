// queue config's behaviour: KumoMTA's get_queue_config. Ordered rules pick a config for the
// message's queue; a custom_lua config hands the message to the custom protocol node bound to
// its constructor, every other protocol leaves by the output.

import type { Node, NodeMessageInFlow } from 'node-red';
import { protocolFor } from '../../core/kumo/protocol-bindings';
import {
  type CompiledRules,
  compileRules,
  constructorOf,
  ruleConfig,
  selectQueueConfig,
} from '../../core/kumo/queue-config';
import { queueNameFrom } from '../../core/kumo/queue-name';
import { refusedOutcome, answerRecord } from '../../core/kumo/record-answers';
import { ERROR_CODES } from '../../core/text/errors';
import { say, typeName } from '../../core/text/messages';
import { doneWhenKept, NodeError, refuseInput, setupFailed } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import type { TypedInput } from '../../common/typed-input';
import type { QueueConfigSettings } from './settings';

interface RoutedMessage extends NodeMessageInFlow {
  queue?: unknown;
  queueConfig?: unknown;
}

type Send = (msg: NodeMessageInFlow) => void;
type Done = (err?: Error) => void;

export class QueueConfigController {
  private readonly rules: CompiledRules | null = null;
  private readonly configError: string | null = null;

  constructor(
    private readonly node: Node,
    settings: QueueConfigSettings,
    /** Where the queue comes from (msg, str, env), or why it cannot. */
    private readonly queue: TypedInput | Error,
    private readonly t: Translate,
    private readonly core: CoreText,
  ) {
    try {
      if (queue instanceof Error) throw queue;
      this.rules = compileRules(settings.rules ?? []);
      const count = Array.isArray(settings.rules) ? settings.rules.length : 0;
      setImmediate(() =>
        node.status({
          fill: 'green',
          shape: 'dot',
          text: count === 1 ? t('status.rule') : t('status.rules', { count }),
        }),
      );
    } catch (err) {
      this.configError = core.render(err);
      setupFailed(node, this.configError);
    }
  }

  /** A bad queue's error, prefixed with where the queue came from. */
  private badQueue(error: string, property: string): string {
    const { t } = this;
    const source = (this.queue as TypedInput).type;
    return source === 'msg'
      ? t('errors.queue-from-msg', { property, error })
      : source === 'env'
        ? t('errors.queue-from-env', { property, error })
        : t('errors.queue-from-setting', { error });
  }

  /**
   * A message, or with msg.messages (log hook in's one msg per request) each of its elements
   * routed as its own message: an element that fails goes to Catch nodes with its own msg, and
   * the msg is done once every element is taken or failed.
   */
  input(input: NodeMessageInFlow, send: Send, done: Done, property: string): void {
    const messages = (input as { messages?: unknown }).messages;
    if (!Array.isArray(messages)) {
      this.route(input, send, done, property);
      return;
    }
    let left = messages.length;
    if (left === 0) {
      done();
      return;
    }
    for (const element of messages) {
      const isMessage = element !== null && typeof element === 'object' && !Array.isArray(element);
      const msg = (isMessage ? element : { payload: element }) as NodeMessageInFlow;
      const each: Done = (err) => {
        if (err) this.node.error(err, msg);
        if (--left === 0) done();
      };
      if (isMessage) this.route(msg, send, each, property);
      else each(new NodeError(ERROR_CODES.badInput, this.t('errors.element-not-message', { type: typeName(element) })));
    }
  }

  private route(input: NodeMessageInFlow, send: Send, done: Done, property: string): void {
    const { t, core, rules } = this;
    const msg = input as RoutedMessage;
    if (!rules || this.queue instanceof Error) {
      const reason = String(this.configError);
      refuseInput(core, msg, done, new NodeError(ERROR_CODES.notConfigured, t('errors.invalid-config', { reason })));
      return;
    }
    const source = this.queue;
    source.read(msg, (readError, raw) => {
      try {
        if (readError) throw readError;
        let queue: ReturnType<typeof queueNameFrom>;
        try {
          queue = queueNameFrom(raw);
        } catch (err) {
          // A fixed or env queue is the node's setting, not the message's fault.
          const code = source.type === 'msg' ? ERROR_CODES.badInput : ERROR_CODES.notConfigured;
          throw new NodeError(code, this.badQueue(core.render(err), property));
        }
        const { config, timings, rule } = selectQueueConfig(rules, queue);
        msg.queue = queue;
        msg.queueConfig = config;
        const constructorName = constructorOf(config);
        if (constructorName === null) {
          // Routed to the flow, not to a custom protocol: nothing will tell a log hook how it ends.
          answerRecord(
            msg,
            refusedOutcome(null, core.render(say('record-answers.routed-nowhere', { queue: queue.name }))),
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
        // With the custom protocol's spool on, done() means written to disk: Complete nodes can answer then.
        // The delivery keeps the rule's own frozen config; the msg keeps its copy.
        doneWhenKept(core, msg, done, handler.accept(msg, { queue, config: ruleConfig(rules, rule), timings }));
      } catch (err) {
        // The custom protocol's errors (overloaded, closing, bad envelope) keep their codes.
        refuseInput(core, msg, done, err, ERROR_CODES.notConfigured);
      }
    });
  }
}
