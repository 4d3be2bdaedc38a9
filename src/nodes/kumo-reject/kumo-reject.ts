// reject: kumo.reject(code, message) inside a custom protocol's send. Registers the node;
// its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { typedInput } from '../../common/typed-input';
import { RejectController } from './controller';
import english from './locale.json';
import { MIGRATIONS, type RejectSettings, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);

  RED.nodes.registerType(TYPE, function Reject(this: Node, def: NodeDef & RejectSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (!settings) return;
    const code = typedInput(RED, this, settings.code ?? '', settings.codeType || 'num');
    const message = typedInput(RED, this, settings.message ?? '', settings.messageType || 'str');
    const controller = new RejectController(this, code, message, t, core);
    this.on('input', (msg, send, done) => controller.input(msg, send, done));
  });
};
