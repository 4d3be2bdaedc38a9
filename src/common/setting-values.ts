// A node's number settings as the editor's form and a hand-written flow give them, read the same
// way by the runtime and the editor (each node's settings module).

/** Left blank in the form, missing from the flow, or only spaces: the setting's default applies. */
export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** One of `choices`; unset (or empty): `fallback`. Null when the setting names none of them. */
export function oneOf<T extends string>(value: unknown, choices: readonly T[], fallback: T): T | null {
  if (!value) return fallback;
  return (choices as readonly unknown[]).includes(value) ? (value as T) : null;
}

/** A number above 0 (a whole one when `integer`); blank: `fallback`. Null when invalid. */
export function positiveOf(value: unknown, fallback: number, integer: boolean): number | null {
  const n = isBlank(value) ? fallback : Number(value);
  return Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n)) ? n : null;
}
