// kumo.reject(code, message): a 4xx is a transient failure (retried on the
// queue's schedule), any other code a permanent one (a Bounce). The reject node
// takes codes 400-599, the range an SMTP-style disposition can carry.

const REJECT_CODE_MIN = 400;
const REJECT_CODE_MAX = 599;

/** The code as a number, or null when it is not a whole number from 400 to 599 (a numeric string counts). */
export function rejectCode(value: unknown): number | null {
  const code = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < REJECT_CODE_MIN || code > REJECT_CODE_MAX)
    return null;
  return code;
}

export function isTransientCode(code: number): boolean {
  return code >= 400 && code <= 499;
}
