// The broker node's `url` setting: one AMQP URL, or several separated by commas
// (a cluster, tried in turn). Credentials come from Node-RED's credential store;
// userinfo in a URL is only used when those are empty, as the spec allows.

import { CoreError } from '../text/errors';
import { type Message, say } from '../text/messages';

/** What is wrong with the setting, for a caller (the editor) that words it itself. */
export type BrokerUrlReason =
  | 'not-string'
  | 'empty-entry'
  | 'invalid'
  | 'scheme'
  | 'no-host'
  | 'bad-port'
  | 'bad-vhost-escape'
  | 'userinfo-unescaped';

export class BrokerUrlError extends CoreError {
  override name = 'BrokerUrlError';
  readonly reason: BrokerUrlReason;
  /** The URL at fault, without userinfo; absent when no single entry is. */
  readonly entry?: string;

  constructor(said: Message, problem: { reason: BrokerUrlReason; entry?: string }) {
    super(said);
    this.reason = problem.reason;
    this.entry = problem.entry;
  }
}

export interface BrokerEndpoint {
  /** The URL amqplib connects to, userinfo included when it came from the URL. */
  url: string;
  /** The same URL without userinfo: the only form that may appear in status, logs and errors. */
  display: string;
}

export interface BrokerCredentials {
  username?: string;
  password?: string;
}

export const DEFAULT_BROKER_URL = 'amqp://localhost';

// A URL's userinfo ends at the last @ before the first /, ? or # after `scheme://`, as
// WHATWG URL reads it: a password may hold @ and : as they are, and every other
// character %-escaped. An @ anywhere else (after a /, ? or #, or with no scheme before it)
// cannot be told apart from the end of a password holding /, ? or #, so it is refused.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const AUTHORITY_END = /[/?#]/;

/** One entry of the setting cut where a URL parser would cut it. */
interface EntryParts {
  /** `amqp://` and the like, or '' when the entry has none. */
  scheme: string;
  /** What comes before the userinfo's @, or null when there is none. */
  userinfo: string | null;
  /** host[:port][/vhost][?query] */
  rest: string;
  /** An @ that is not the userinfo's. */
  strayAt: boolean;
}

function partsOf(entry: string): EntryParts {
  const scheme = SCHEME.exec(entry)?.[0];
  if (!scheme) return { scheme: '', userinfo: null, rest: entry, strayAt: entry.includes('@') };
  const afterScheme = entry.slice(scheme.length);
  const end = afterScheme.search(AUTHORITY_END);
  const authority = end < 0 ? afterScheme : afterScheme.slice(0, end);
  const tail = end < 0 ? '' : afterScheme.slice(end);
  const at = authority.lastIndexOf('@');
  return {
    scheme,
    userinfo: at < 0 ? null : authority.slice(0, at),
    rest: authority.slice(at + 1) + tail,
    strayAt: tail.includes('@'),
  };
}

/**
 * Where each entry of the setting starts and ends. A comma separates entries, except
 * inside a userinfo: a password may hold one (`amqp://u:a,b@host`).
 */
function entrySpans(setting: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let start = 0;
  for (;;) {
    const lead = setting.slice(start).match(/^\s*/)?.[0].length ?? 0;
    const parts = partsOf(setting.slice(start + lead));
    const from = parts.userinfo === null ? start : start + lead + parts.scheme.length + parts.userinfo.length + 1;
    const comma = setting.indexOf(',', from);
    if (comma < 0) {
      spans.push([start, setting.length]);
      return spans;
    }
    spans.push([start, comma]);
    start = comma + 1;
  }
}

/** The entries of the setting as written, trimmed and in order; an empty entry stays ''. */
export function splitBrokerUrls(setting: string): string[] {
  return entrySpans(setting).map(([start, end]) => setting.slice(start, end).trim());
}

export function parseBrokerUrls(setting: unknown, heartbeatSec?: number): BrokerEndpoint[] {
  if (setting !== undefined && setting !== null && typeof setting !== 'string') {
    throw new BrokerUrlError(say('broker-url.not-string'), { reason: 'not-string' });
  }
  const list = (setting || DEFAULT_BROKER_URL).trim() || DEFAULT_BROKER_URL;
  const entries = splitBrokerUrls(list);
  const where = (index: number): Message =>
    entries.length > 1 ? say('broker-url.url-number', { position: index + 1 }) : say('broker-url.the-url');
  // Checked for every entry before any is quoted, and before empty entries: a password cut
  // at a comma leaves its first half in one entry and its @ in the next, and two commas in
  // it leave an empty entry between them.
  const stray = entries.findIndex((entry) => entry !== '' && partsOf(entry).strayAt);
  if (stray >= 0) {
    throw new BrokerUrlError(say('broker-url.userinfo-unescaped', { where: where(stray) }), {
      reason: 'userinfo-unescaped',
    });
  }
  if (entries.some((entry) => entry === '')) {
    throw new BrokerUrlError(say('broker-url.empty-entry'), { reason: 'empty-entry' });
  }
  const parts = entries.map(partsOf);
  return parts.map((part, index) => parseOne(part, where(index), heartbeatSec));
}

function parseOne(parts: EntryParts, where: Message, heartbeatSec?: number): BrokerEndpoint {
  const entry = parts.scheme + parts.rest;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new BrokerUrlError(say('broker-url.invalid', { where, url: entry }), { reason: 'invalid', entry });
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new BrokerUrlError(say('broker-url.scheme', { where, protocol: url.protocol }), { reason: 'scheme', entry });
  }
  if (!url.hostname) throw new BrokerUrlError(say('broker-url.no-host', { where }), { reason: 'no-host', entry });
  if (url.port !== '' && !(Number(url.port) > 0)) {
    throw new BrokerUrlError(say('broker-url.bad-port', { where }), { reason: 'bad-port', entry });
  }
  // amqplib decodes the vhost when it dials; a bad %-escape would throw there on every retry.
  try {
    decodeURIComponent(url.pathname.slice(1));
  } catch {
    const vhost = url.pathname.slice(1);
    throw new BrokerUrlError(say('broker-url.bad-vhost-escape', { where, vhost }), {
      reason: 'bad-vhost-escape',
      entry,
    });
  }
  // The display form is taken before the userinfo and our own heartbeat parameter are
  // added: it shows what the user wrote, and status texts are too short to spend on it.
  const display = url.href.replace(/\/$/, '');
  if (parts.userinfo !== null) {
    // Escaped in full, so amqplib (which %-decodes the URL's user and password) reads back
    // exactly what was meant, whatever the user left unescaped.
    const { username, password } = userinfoOf(parts.userinfo);
    url.username = encodeURIComponent(username);
    if (password !== null) url.password = encodeURIComponent(password);
  }
  if (heartbeatSec !== undefined && !url.searchParams.has('heartbeat')) {
    url.searchParams.set('heartbeat', String(heartbeatSec));
  }
  return { url: url.href, display };
}

/** %-decodes what can be decoded and keeps the rest as written (`100%` stays `100%`). */
function decodeLeniently(value: string): string {
  return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** The user name and password of a userinfo, decoded; the user name ends at the first `:`. */
function userinfoOf(userinfo: string): { username: string; password: string | null } {
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { username: decodeLeniently(userinfo), password: null };
  return { username: decodeLeniently(userinfo.slice(0, colon)), password: decodeLeniently(userinfo.slice(colon + 1)) };
}

const URL_IN_TEXT = /([A-Za-z][A-Za-z0-9+.-]*:\/\/)(?:(?!:\/\/)\S)*@/g;

/** Removes `user:password@` from anything that looks like a URL in a text (a URL ends at a blank). */
export function stripUserinfo(text: string): string {
  return text.replace(URL_IN_TEXT, '$1');
}

/**
 * The widest reading of the setting: from each `://` to the last @ before the next one,
 * and in an entry with no scheme up to its last @, is userinfo. It finds the userinfo of
 * an entry the parser refuses, so it is never shown and the editor can still move it out.
 */
function widestUserinfo(setting: string): { url: string; userinfos: string[] } {
  const userinfos: string[] = [];
  const pieces = setting.split('://');
  for (let i = 1; i < pieces.length; i++) {
    const at = pieces[i].lastIndexOf('@');
    if (at < 0) continue;
    userinfos.push(pieces[i].slice(0, at));
    pieces[i] = pieces[i].slice(at + 1);
  }
  const url = pieces.join('://');
  let out = '';
  let last = 0;
  for (const [start, end] of entrySpans(url)) {
    const entry = url.slice(start, end);
    const at = entry.lastIndexOf('@');
    let kept = entry;
    if (at >= 0 && !SCHEME.test(entry.trimStart())) {
      const lead = entry.length - entry.trimStart().length;
      userinfos.push(entry.slice(lead, at));
      kept = entry.slice(0, lead) + entry.slice(at + 1);
    }
    out += url.slice(last, start) + kept;
    last = end;
  }
  return { url: out + url.slice(last), userinfos };
}

/** The URL setting with everything that may be userinfo removed: for labels and for what the editor keeps. */
export function withoutUserinfo(setting: string): string {
  return widestUserinfo(setting).url;
}

/**
 * Moves a password typed into the URL setting out of it: the URLs without their
 * userinfo, and the first URL's user and password (decoded), for the credential fields.
 */
export function takeUserinfo(setting: string): { url: string; username: string | null; password: string | null } {
  const { url, userinfos } = widestUserinfo(setting);
  if (userinfos.length === 0) return { url: setting, username: null, password: null };
  return { url, ...userinfoOf(userinfos[0]) };
}

/** True when an entry of the setting may carry `user[:password]@`: what withoutUserinfo would remove. */
export function hasUserinfo(setting: string): boolean {
  return widestUserinfo(setting).userinfos.length > 0;
}

/**
 * Every secret a message must never show: the credentials' password and the password of
 * each URL, as written, decoded, and %-escaped as amqplib is handed it, in the parser's
 * reading and in the widest one.
 */
export function secretsOf(setting: unknown, credentials: BrokerCredentials): string[] {
  const secrets = new Set<string>();
  if (credentials.password) secrets.add(credentials.password);
  if (typeof setting === 'string') {
    const userinfos = [
      ...splitBrokerUrls(setting).map((entry) => partsOf(entry).userinfo),
      ...widestUserinfo(setting).userinfos,
    ];
    for (const userinfo of userinfos) {
      const colon = userinfo === null ? -1 : userinfo.indexOf(':');
      if (userinfo === null || colon < 0) continue;
      const raw = userinfo.slice(colon + 1);
      const decoded = decodeLeniently(raw);
      secrets.add(raw).add(decoded).add(encodeURIComponent(decoded));
    }
  }
  secrets.delete('');
  return [...secrets];
}

/**
 * Shorter secrets are not masked: such a string turns up inside ordinary words, and
 * masking it there garbles the message and points at the password's characters.
 * A URL's userinfo is removed whatever its length.
 */
const MIN_MASKED_SECRET_LENGTH = 4;

export function redact(value: string, secrets: readonly string[]): string {
  let out = stripUserinfo(value);
  const masked = secrets.filter((s) => s.length >= MIN_MASKED_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  for (const secret of masked) out = out.split(secret).join('***');
  return out;
}
