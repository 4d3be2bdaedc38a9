// reject: kumo.reject(code, message) inside a custom protocol's send. It
// reports the outcome of msg.kumo's delivery attempt: 4xx is a transient
// failure (retried), 5xx a permanent one (Bounce).

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { reportOutcome, deliveryRef } from './core/delivery-outcomes';

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
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result)));
  });
}

function checkCode(value: unknown): number {
  const code = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 400 || code > 599) {
    throw new Error(`reject code must be a whole number from 400 to 599 (4xx transient, 5xx permanent), got ${JSON.stringify(value) ?? String(value)}`);
  }
  return code;
}

function messageText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

export = function register(RED: NodeAPI): void {
  function Reject(this: Node, def: RejectDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const codeType = def.codeType || 'num';
    const messageType = def.messageType || 'str';

    node.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as RejectMessage;
      (async () => {
        if (!deliveryRef(msg.kumo)) {
          throw new Error('msg.kumo is missing: a reject node reports the outcome of a delivery started by a custom protocol node');
        }
        let code: number;
        try {
          code = checkCode(await evaluate(RED, node, def.code ?? '', codeType, msg));
        } catch (err) {
          throw new Error(`code: ${(err as Error).message}`);
        }
        const message = messageText(await evaluate(RED, node, def.message ?? '', messageType, msg));
        msg.reject = { code, message };
        if (!reportOutcome(msg.kumo, { kind: 'rejected', code, message })) {
          node.warn(`the delivery ${(msg.kumo as { id: string }).id} is no longer waiting for an outcome (already reported, timed out or its node stopped)`);
        }
        send(msg);
      })().then(
        () => done(),
        (err: Error) => {
          // A broken reject still ends the attempt: as an error, i.e. a transient failure.
          reportOutcome(msg.kumo, { kind: 'failed', error: err.message });
          done(err);
        },
      );
    });
  }

  RED.nodes.registerType('kumo-reject', Reject);
};
