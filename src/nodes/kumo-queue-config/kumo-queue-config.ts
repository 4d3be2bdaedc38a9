// queue config: KumoMTA's get_queue_config event + kumo.make_queue_config{}. Registers the
// node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { type TypedInput, typedInput } from '../../common/typed-input';
import { QueueConfigController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type QueueConfigSettings, TYPE } from './settings';

const QUEUE_SOURCES = ['msg', 'str', 'env'];

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);

  RED.nodes.registerType(TYPE, function QueueConfig(this: Node, def: NodeDef & QueueConfigSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (!settings) return;
    const source = settings.queueType || 'msg';
    const property = settings.queue || 'queue';
    let queue: TypedInput | Error;
    try {
      if (!QUEUE_SOURCES.includes(source))
        throw new Error(t('errors.unknown-queue-source', { source: String(source) }));
      queue = typedInput(RED, this, property, source);
    } catch (err) {
      queue = err as Error;
    }
    const controller = new QueueConfigController(this, settings, queue, t, core);
    this.on('input', (msg, send, done) => controller.input(msg, send, done, property));
  });
};
