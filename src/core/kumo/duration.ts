/**
 * KumoMTA duration values. KumoMTA reads them with its duration_serde crate:
 * a number is seconds, a string goes through humantime's `parse_duration`
 * ("20m", "20 minutes", "1h 30m", "7 days"). It writes them back with
 * humantime's `format_duration` ("20m", "1h 30m", "7days"), which is also how
 * durations appear inside its log records (e.g. an Expiration's max_age).
 */

import { CoreError } from '../text/errors';
import { type Message, say, type MessageParam, valueType } from '../text/messages';

export class DurationError extends CoreError {
  override name = 'DurationError';
}

const NANOSECOND = 1e-9;
const MONTH = 2_630_016; // humantime: 30.44 days
const YEAR = 31_557_600; // humantime: 365.25 days

// humantime's unit table, verbatim: units are case-sensitive ("M" is months,
// "m" minutes), as they are in a KumoMTA policy.
const UNIT_SECONDS: ReadonlyMap<string, number> = new Map<string, number>([
  ...['nanos', 'nsec', 'ns'].map((u): [string, number] => [u, NANOSECOND]),
  ...['usec', 'us', 'µs'].map((u): [string, number] => [u, 1e-6]),
  ...['millis', 'msec', 'ms'].map((u): [string, number] => [u, 1e-3]),
  ...['seconds', 'second', 'secs', 'sec', 's'].map((u): [string, number] => [u, 1]),
  ...['minutes', 'minute', 'min', 'mins', 'm'].map((u): [string, number] => [u, 60]),
  ...['hours', 'hour', 'hr', 'hrs', 'h'].map((u): [string, number] => [u, 3600]),
  ...['days', 'day', 'd'].map((u): [string, number] => [u, 86_400]),
  ...['weeks', 'week', 'w'].map((u): [string, number] => [u, 604_800]),
  ...['months', 'month', 'M'].map((u): [string, number] => [u, MONTH]),
  ...['years', 'year', 'y'].map((u): [string, number] => [u, YEAR]),
]);

// One "<integer><unit>" span; humantime allows spaces between number and unit
// and between spans, and spans written back to back ("1h30m").
const SPAN = /\s*(\d+)\s*([A-Za-zµ]+)\s*/y;
// Editor fields hold text, so "1200" typed into one means 1200 seconds, as the
// number 1200 would in a KumoMTA policy.
const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/;

function unitHint(): Message {
  return say('duration.unit-hint');
}

/** The message for a duration string that stops parsing at `offset`. */
function describeBadSpan(what: MessageParam, value: string, offset: number): Message {
  const quoted = JSON.stringify(value);
  const rest = value.slice(offset).trimStart();
  if (rest.startsWith('-')) return say('duration.negative', { what, value: quoted });
  if (/^\d*\.\d/.test(rest)) return say('duration.fraction', { what, value: quoted });
  const bare = /^(\d+)\s*$/.exec(rest);
  if (bare) return say('duration.no-unit', { what, value: quoted, number: bare[1], hint: unitHint() });
  if (/^[A-Za-zµ]/.test(rest)) {
    return say('duration.no-number', {
      what,
      value: quoted,
      word: JSON.stringify(rest.split(/[\s\d]/)[0]),
      hint: unitHint(),
    });
  }
  return say('duration.unexpected-character', {
    what,
    value: quoted,
    character: JSON.stringify(rest[0]),
    hint: unitHint(),
  });
}

/**
 * Returns the duration in seconds (fractional for sub-second units).
 * `what` names the setting in error messages, e.g. 'retry_interval'.
 */
export function parseDuration(value: unknown, what: MessageParam = say('duration.default-name')): number {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw new DurationError(say('duration.nan', { what }));
    if (value < 0) throw new DurationError(say('duration.negative-number', { what, value }));
    if (!Number.isFinite(value)) throw new DurationError(say('duration.infinite', { what, value }));
    return value;
  }
  if (typeof value !== 'string') {
    throw new DurationError(say('duration.not-duration', { what, type: valueType(value) }));
  }
  const trimmed = value.trim();
  if (trimmed === '') throw new DurationError(say('duration.empty', { what, hint: unitHint() }));
  if (PLAIN_SECONDS.test(trimmed)) return Number(trimmed);

  let seconds = 0;
  let offset = 0;
  while (offset < value.length) {
    SPAN.lastIndex = offset;
    const span = SPAN.exec(value);
    if (span === null) {
      if (value.slice(offset).trim() === '') break;
      throw new DurationError(describeBadSpan(what, value, offset));
    }
    const unit = UNIT_SECONDS.get(span[2]);
    if (unit === undefined) {
      throw new DurationError(
        say('duration.unknown-unit', {
          what,
          value: JSON.stringify(value),
          unit: JSON.stringify(span[2]),
          hint: unitHint(),
        }),
      );
    }
    seconds += Number(span[1]) * unit;
    offset = SPAN.lastIndex;
  }
  if (!Number.isFinite(seconds))
    throw new DurationError(say('duration.too-large', { what, value: JSON.stringify(value) }));
  return seconds;
}

function plural(value: number, name: string): string {
  return `${value}${name}${value > 1 ? 's' : ''}`;
}

/**
 * humantime's `format_duration`: "20m", "1h 30m", "7days", "2s 500ms".
 * Years and months are humantime's (365.25 and 30.44 days).
 */
export function formatDuration(seconds: number): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new DurationError(say('duration.cannot-format', { value: String(seconds) }));
  }
  let whole = Math.floor(seconds);
  let nanos = Math.round((seconds - whole) * 1e9);
  if (nanos >= 1e9) {
    whole += 1;
    nanos -= 1e9;
  }
  if (whole === 0 && nanos === 0) return '0s';

  const years = Math.floor(whole / YEAR);
  const yearRest = whole % YEAR;
  const months = Math.floor(yearRest / MONTH);
  const monthRest = yearRest % MONTH;
  const days = Math.floor(monthRest / 86_400);
  const daySeconds = monthRest % 86_400;

  const items: string[] = [];
  // humantime's (and so KumoMTA's) unit names: data in log records, not words to translate.
  if (years > 0) items.push(plural(years, 'year'));
  if (months > 0) items.push(plural(months, 'month'));
  if (days > 0) items.push(plural(days, 'day'));
  const fixed: Array<[number, string]> = [
    [Math.floor(daySeconds / 3600), 'h'],
    [Math.floor((daySeconds % 3600) / 60), 'm'],
    [daySeconds % 60, 's'],
    [Math.floor(nanos / 1e6), 'ms'],
    [Math.floor(nanos / 1e3) % 1000, 'us'],
    [nanos % 1000, 'ns'],
  ];
  for (const [value, unit] of fixed) {
    if (value > 0) items.push(`${value}${unit}`);
  }
  return items.join(' ');
}
