// reject: kumo.reject(code, message) inside a custom protocol's send. It
// reports the outcome of msg.kumo's delivery attempt: 4xx is a transient
// failure (retried), 5xx a permanent one (Bounce).

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { batchRefs, deliveryRef, settle } from '../../core/kumo/delivery-outcomes';
import { ERROR_CODES } from '../../core/text/errors';
import { failInput, NodeError } from '../../common/node-glue';
import { rejectCode } from '../../core/kumo/reject-code';
import { coreWords, translator, type Translate } from '../../common/node-text';
import english from './locale.json';

interface RejectDef extends NodeDef {
  code: string;
  codeType: string;
  message: string;
  messageType: string;
}

interface RejectMessage extends NodeMessageInFlow {
  kumo?: unknown;
  reject?: { code: number; message: string };
}

function evaluate(RED: NodeAPI, node: Node, value: string, type: string, msg: NodeMessageInFlow): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) =>
      err ? reject(err) : resolve(result),
    );
  });
}

function checkCode(t: Translate, value: unknown): number {
  const code = rejectCode(value);
  if (code === null) throw new Error(t('errors.code-invalid', { code: JSON.stringify(value) ?? String(value) }));
  return code;
}

function messageText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'kumo-reject', english);
  const words = coreWords(RED);

  function Reject(this: Node, def: RejectDef): void {
    RED.nodes.createNode(this, def);
    const codeType = def.codeType || 'num';
    const messageType = def.messageType || 'str';

    this.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as RejectMessage;
      (async () => {
        // A custom protocol batch (send_batch) is rejected whole, as kumo.reject does there.
        const batch = batchRefs(msg.kumo);
        if (batch ? !batch.every((member) => deliveryRef(member)) : !deliveryRef(msg.kumo)) {
          throw new NodeError(ERROR_CODES.badInput, t('errors.kumo-missing'));
        }
        let code: number;
        try {
          code = checkCode(t, await evaluate(RED, this, def.code ?? '', codeType, msg));
        } catch (err) {
          throw new Error(t('errors.code', { error: (err as Error).message }));
        }
        const message = messageText(await evaluate(RED, this, def.message ?? '', messageType, msg));
        msg.reject = { code, message };
        if (!settle(msg.kumo, { kind: 'rejected', code, message })) {
          const ids = (batch ?? [msg.kumo]).map((member) => deliveryRef(member)?.id).join(', ');
          this.warn(t('warnings.not-waiting', { id: ids }));
        }
        send(msg);
      })().then(
        () => done(),
        (err: Error) => {
          // A broken reject still ends the attempt: as an error (retried, unless it is bad input).
          settle(msg.kumo, { kind: 'error', error: err });
          failInput(words, done, err);
        },
      );
    });
  }

  RED.nodes.registerType('kumo-reject', Reject);
};
