// @ts-check
'use strict';
// A condition only another process can tell (the broker's queue counts, a file a
// Node-RED process writes): there is no event to await across processes, so it is
// polled, with a bound and a message that says what did not happen.

/**
 * Resolves with check()'s first truthy value; rejects after `timeoutMs` naming `what`.
 * @template T
 * @param {string} what what should happen, for the error ("the queue drained")
 * @param {() => T | PromiseLike<T>} check
 * @param {number} [timeoutMs]
 * @param {number} [everyMs]
 * @returns {Promise<NonNullable<Awaited<T>>>}
 */
async function eventually(what, check, timeoutMs = 30000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

module.exports = { eventually };
