// KumoMTA's custom_lua batch fields, checked in the editor by the core's own
// rule (core/kumo/batching.ts), so a value the runtime refuses is marked before deploy.

import { customLuaBatch } from '../core/kumo/batching';

/** True, or the core's message for the first problem (blank fields are not set, so fine). */
export function batchProblem(
  render: (what: unknown) => string,
  fields: {
    batch_size: unknown;
    min_batch_size: unknown;
    max_batch_latency: unknown;
  },
): true | string {
  try {
    customLuaBatch(fields);
    return true;
  } catch (err) {
    return render(err);
  }
}
