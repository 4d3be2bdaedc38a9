// The broker node's `url` setting: one AMQP URL, or several separated by commas
// (a cluster, tried in turn). Credentials come from Node-RED's credential store;
// userinfo in a URL is only used when those are empty, as the spec allows.

import { CoreError } from './errors';
import { type Message, say } from './messages';

/** What is wrong with the setting, for a caller (the editor) that words it itself. */
export type BrokerUrlReason =
  | 'not-string'
  | 'empty-entry'
  | 'invalid'
  | 'scheme'
  | 'no-host'
  | 'bad-port'
  | 'bad-vhost-escape';

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

/** The entries of the setting as written, trimmed and in order; an empty entry stays ''. */
export function splitBrokerUrls(setting: string): string[] {
  return setting.split(',').map((part) => part.trim());
}

export function parseBrokerUrls(setting: unknown, heartbeatSec?: number): BrokerEndpoint[] {
  if (setting !== undefined && setting !== null && typeof setting !== 'string') {
    throw new BrokerUrlError(say('broker-url.not-string'), { reason: 'not-string' });
  }
  const list = (setting || DEFAULT_BROKER_URL).trim() || DEFAULT_BROKER_URL;
  const parts = splitBrokerUrls(list);
  if (parts.some((part) => part === '')) {
    throw new BrokerUrlError(say('broker-url.empty-entry'), { reason: 'empty-entry' });
  }
  return parts.map((part, index) => parseOne(part, index + 1, parts.length, heartbeatSec));
}

function parseOne(setting: string, position: number, count: number, heartbeatSec?: number): BrokerEndpoint {
  const where = count > 1 ? say('broker-url.url-number', { position }) : say('broker-url.the-url');
  const entry = stripUserinfo(setting);
  let url: URL;
  try {
    url = new URL(setting);
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
  // The display form is taken before our own heartbeat parameter is added: it
  // shows what the user wrote, and status texts are too short to spend on it.
  const display = new URL(url.href);
  display.username = '';
  display.password = '';
  if (heartbeatSec !== undefined && !url.searchParams.has('heartbeat')) {
    url.searchParams.set('heartbeat', String(heartbeatSec));
  }
  return { url: url.href, display: display.href.replace(/\/$/, '') };
}

/** Removes `user:password@` from anything that looks like a URL, for messages about bad input. */
export function stripUserinfo(value: string): string {
  return value.replace(/(\w+:\/\/)[^/@\s]*@/g, '$1');
}

/**
 * Moves a password typed into the URL setting out of it: the URLs without their
 * userinfo, and the first URL's user and password (decoded), for the credential fields.
 */
export function takeUserinfo(setting: string): { url: string; username: string | null; password: string | null } {
  const first = /\w+:\/\/([^/@\s]*)@/.exec(setting);
  if (!first) return { url: setting, username: null, password: null };
  const [user, ...rest] = first[1].split(':');
  const decode = (v: string): string => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  return { url: stripUserinfo(setting), username: decode(user), password: rest.length ? decode(rest.join(':')) : null };
}

/** True when the URL carries `user[:password]@`: what stripUserinfo would remove. */
export function hasUserinfo(url: string): boolean {
  return stripUserinfo(url) !== url;
}

/** Every secret a message must never show: the credentials and any userinfo password in the URLs. */
export function secretsOf(setting: unknown, credentials: BrokerCredentials): string[] {
  const secrets: string[] = [];
  if (credentials.password) secrets.push(credentials.password);
  if (typeof setting === 'string') {
    for (const match of setting.matchAll(/\w+:\/\/[^:/@\s]*:([^@/\s]+)@/g)) {
      secrets.push(match[1]);
      try {
        secrets.push(decodeURIComponent(match[1]));
      } catch {
        // an invalid %-escape is still redacted in its raw form above
      }
    }
  }
  return secrets.filter((s) => s.length > 0);
}

export function redact(value: string, secrets: readonly string[]): string {
  let out = stripUserinfo(value);
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
