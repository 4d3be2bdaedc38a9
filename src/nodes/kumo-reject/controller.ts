// reject's behaviour: kumo.reject(code, message) for the attempt a msg carries. 4xx is a
// transient failure (retried), 5xx a permanent one (Bounce); a batch is rejected whole.

import type { Node, NodeMessageInFlow } from 'node-red';
import { batchRefs, deliveryRef, settle } from '../../core/kumo/delivery-outcomes';
import { rejectCode } from '../../core/kumo/reject-code';
import { ERROR_CODES } from '../../core/text/errors';
import { failInput, NodeError } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import type { TypedInput } from '../../common/typed-input';

interface RejectMessage extends NodeMessageInFlow {
  kumo?: unknown;
  reject?: { code: number; message: string };
}

type Send = (msg: NodeMessageInFlow) => void;
type Done = (err?: Error) => void;

function read(input: TypedInput, msg: object): Promise<unknown> {
  return new Promise((resolve, reject) => input.read(msg, (err, value) => (err ? reject(err) : resolve(value))));
}

function messageText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

export class RejectController {
  constructor(
    private readonly node: Node,
    private readonly code: TypedInput,
    private readonly message: TypedInput,
    private readonly t: Translate,
    private readonly core: CoreText,
  ) {}

  input(input: NodeMessageInFlow, send: Send, done: Done): void {
    const msg = input as RejectMessage;
    this.reject(msg).then(
      () => {
        send(msg);
        done();
      },
      (err: Error) => {
        // A broken reject still ends the attempt: as an error (retried, unless it is bad input).
        settle(msg.kumo, { kind: 'error', error: err });
        failInput(this.core, done, err);
      },
    );
  }

  private async reject(msg: RejectMessage): Promise<void> {
    const { t } = this;
    // A custom protocol batch (send_batch) is rejected whole, as kumo.reject does there.
    const batch = batchRefs(msg.kumo);
    if (batch ? !batch.every((member) => deliveryRef(member)) : !deliveryRef(msg.kumo)) {
      throw new NodeError(ERROR_CODES.badInput, t('errors.kumo-missing'));
    }
    let code: number | null;
    let value: unknown;
    try {
      value = await read(this.code, msg);
      code = rejectCode(value);
    } catch (err) {
      throw new Error(t('errors.code', { error: (err as Error).message }));
    }
    if (code === null) {
      const invalid = t('errors.code-invalid', { code: JSON.stringify(value) ?? String(value) });
      throw new Error(t('errors.code', { error: invalid }));
    }
    const message = messageText(await read(this.message, msg));
    msg.reject = { code, message };
    if (!settle(msg.kumo, { kind: 'rejected', code, message })) {
      const ids = (batch ?? [msg.kumo]).map((member) => deliveryRef(member)?.id).join(', ');
      this.node.warn(t('warnings.not-waiting', { id: ids }));
    }
  }
}
