// log hook in: the receiving end of KumoMTA's log hook. It serves POST <path> on
// Node-RED's node HTTP server (so httpNodeAuth, httpNodeCors and httpNodeMiddleware
// apply), reads the body itself under a size limit and a time limit, sends each log
// record on as its own msg (output 1) and whatever is not a log record to output 2,
// and answers the request itself once the pack has settled every record of it
// (core/kumo/record-answers.ts), always before its deadline. Answers are text/plain.
// Registers the node; its behaviour is in controller.ts.

import type { Node, NodeAPI, NodeDef } from 'node-red';
import { serveOperations } from '../../common/operations';
import { upToDate } from '../../common/node-glue';
import { coreText, translator } from '../../common/node-text';
import { type LogHookCredentials, logHookController } from './controller';
import english from './locale.json';
import { type LogHookSettings, MIGRATIONS, TYPE } from './settings';

export = function register(RED: NodeAPI): void {
  const t = translator(RED, TYPE, english);
  const core = coreText(RED);
  serveOperations(RED);

  function LogHook(this: Node<LogHookCredentials>, def: NodeDef & LogHookSettings): void {
    RED.nodes.createNode(this, def);
    const settings = upToDate(this, TYPE, def, MIGRATIONS, core);
    if (settings) logHookController(RED, this, settings, t, core);
  }

  RED.nodes.registerType(TYPE, LogHook, {
    credentials: { secret: { type: 'password' } },
  });
};
