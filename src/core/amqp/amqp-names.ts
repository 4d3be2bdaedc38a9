// AMQP 0-9-1 short strings (exchange and queue names, routing keys, most basic
// properties) carry at most 255 bytes of UTF-8. Pure, so the editor checks the
// same limit as the runtime.

export const SHORT_STRING_MAX = 255;

const encoder = new TextEncoder();

/** True when the text fits an AMQP short string. */
export function fitsShortString(value: string): boolean {
  // Most names are short ASCII: only a long one needs its UTF-8 length counted.
  return value.length <= SHORT_STRING_MAX / 3 || encoder.encode(value).length <= SHORT_STRING_MAX;
}
