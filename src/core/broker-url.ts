// The broker node's `url` setting: one AMQP URL, or several separated by commas
// (a cluster, tried in turn). Credentials come from Node-RED's credential store;
// userinfo in a URL is only used when those are empty, as the spec allows.

export class BrokerUrlError extends Error {
  override name = 'BrokerUrlError';
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

const DEFAULT_URL = 'amqp://localhost';

export function parseBrokerUrls(setting: unknown, heartbeatSec?: number): BrokerEndpoint[] {
  if (setting !== undefined && setting !== null && typeof setting !== 'string') {
    throw new BrokerUrlError('broker url must be a string such as amqp://localhost');
  }
  const text = (setting || DEFAULT_URL).trim() || DEFAULT_URL;
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => part === '')) {
    throw new BrokerUrlError('broker url list has an empty entry; separate URLs with single commas');
  }
  return parts.map((part, index) => parseOne(part, index + 1, parts.length, heartbeatSec));
}

function parseOne(text: string, position: number, count: number, heartbeatSec?: number): BrokerEndpoint {
  const where = count > 1 ? `broker url ${position}` : 'broker url';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BrokerUrlError(`${where} "${stripUserinfo(text)}" is not a valid URL (expected amqp://host[:port][/vhost])`);
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new BrokerUrlError(`${where} must start with amqp:// or amqps://, not ${url.protocol}//`);
  }
  if (!url.hostname) throw new BrokerUrlError(`${where} has no host name`);
  if (url.port !== '' && !(Number(url.port) > 0)) throw new BrokerUrlError(`${where} has an invalid port`);
  // amqplib decodes the vhost when it dials; a bad %-escape would throw there on every retry.
  try {
    decodeURIComponent(url.pathname.slice(1));
  } catch {
    throw new BrokerUrlError(`${where} has an invalid %-escape in its vhost "${url.pathname.slice(1)}" (write / in a vhost name as %2F)`);
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
export function stripUserinfo(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]*@/g, '$1');
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

export function redact(text: string, secrets: readonly string[]): string {
  let out = stripUserinfo(text);
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
