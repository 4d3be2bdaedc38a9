// log hook in: the receiving end of KumoMTA's log hook. It serves POST <path> on
// Node-RED's node HTTP server (so httpNodeAuth, httpNodeCors and httpNodeMiddleware
// apply), reads the body itself under a size limit and a time limit, sends each log
// record on as its own msg (output 1) and whatever is not a log record to output 2,
// and answers the request itself once the pack has settled every record of it
// (core/kumo/record-answers.ts), always before its deadline. Answers are text/plain.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
  type BodyElement,
  logHookPath,
  MAX_RECORD_DEPTH,
  noRecordReason,
  splitLogHookBody,
} from '../../core/kumo/log-hook';
import type { Message } from '../../core/text/messages';
import { RECORD_KEY, type RecordsAnswer, RecordsRequest } from '../../core/kumo/record-answers';
import { settingOf, setupFailed, ThrottledStatus } from '../../common/node-glue';
import type { CoreText, Translate } from '../../common/node-text';
import { LogHookCounts } from '../../common/metric-counts';
import { logHooks } from '../../common/metrics';
import { typedInput } from '../../common/typed-input';
import {
  bodyTimeoutOf,
  deadlineOf,
  DEFAULT_QUEUE,
  DEFAULTS,
  type LogHookSettings,
  maxBodyOf,
  maxRecordsOf,
  type QueueSource,
  recordsOutputOf,
  secretHeaderOf,
} from './settings';

export interface LogHookCredentials {
  secret: unknown;
}

type Next = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
type ErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The parts of Express's router that adding and removing a route need. */
interface HttpNode {
  post(path: string, ...handlers: (Handler | ErrorHandler)[]): void;
  options(path: string, ...handlers: Handler[]): void;
  use(handler: Handler): void;
  path(): string;
  parent?: HttpNode;
  _router?: { stack: RouteLayer[] };
  router?: { stack: RouteLayer[] };
}

interface RouteLayer {
  handle?: unknown;
  route?: { path: unknown; stack: { handle: unknown }[] };
}

const MIB = 1024 * 1024;
const QUEUE_SOURCES: readonly string[] = ['str', 'env', 'msg', 'jsonata'];
// After an early answer (401, 408, 413) the client may still be sending its body. A close
// then resets the connection under the client's writes, and it may fail before it reads the
// answer. So the connection lingers, as web servers do: what the client sends is discarded,
// and the connection is closed once it has been quiet for LINGER_QUIET_MS, or after
// LINGER_MAX_MS in all (a client too slow for its body timeout gets LINGER_SLOW_MS).
const LINGER_QUIET_MS = 2000;
const LINGER_MAX_MS = 10000;
const LINGER_SLOW_MS = 1000;
const TEXT_PLAIN = 'text/plain; charset=utf-8';

/** Paths served by log hook in nodes, to refuse a second node on the same one. */
const servedPaths = new Map<string, string>();

// The editor's API parses JSON bodies (up to apiMaxLength) for every path under its root,
// which is also the node root by default, before any node route sees the request: the
// bytes KumoMTA wrote would be gone. A middleware at the top of the server marks a POST to
// a log hook's path as parsed, so every body parser passes it by unread; it reads nothing
// itself, so httpNodeAuth still runs first, and the route reads the body under its limits.
const UNREAD = '_kumoLogHookUnread';
/** Full paths of log hook routes, as claimBodies compares them. */
const claimedPaths = new Set<string>();
let claimInstalled = false;

function pathKey(value: string): string {
  return value
    .replace(/\/{2,}/g, '/')
    .replace(/\/$/, '')
    .toLowerCase();
}

const claimBodies: Handler = (req, _res, next) => {
  if (req.method === 'POST' && claimedPaths.has(pathKey((req.url ?? '').split('?')[0]))) {
    const marked = req as IncomingMessage & Record<string, unknown>;
    if (marked._body !== true) {
      marked._body = true;
      marked[UNREAD] = true;
    }
  }
  next();
};

function installClaim(http: HttpNode): void {
  if (claimInstalled) return;
  let root = http;
  while (root.parent) root = root.parent;
  const stack = (root._router ?? root.router)?.stack;
  if (!stack) return; // not mounted (a test harness): nothing runs ahead of the route
  root.use(claimBodies);
  const index = stack.findIndex((layer) => layer.handle === claimBodies);
  if (index > 0) stack.unshift(...stack.splice(index, 1));
  claimInstalled = true;
}

interface Reply {
  status: number;
  text: string;
  headers?: Record<string, string>;
}

/**
 * Discards the rest of a request answered early, then closes its connection once the client
 * has been quiet for LINGER_QUIET_MS, or after `maxMs` in all, whichever comes first; a body
 * that ends leaves the connection to Node's keep-alive.
 */
function linger(req: IncomingMessage, maxMs: number): void {
  const socket = req.socket;
  if (!socket || socket.destroyed) return;
  const close = () => socket.destroy();
  const quiet = setTimeout(close, LINGER_QUIET_MS).unref();
  const limit = setTimeout(close, maxMs).unref();
  const heard = () => quiet.refresh();
  const stop = () => {
    clearTimeout(quiet);
    clearTimeout(limit);
    req.off('data', heard);
  };
  req.on('data', heard);
  // A body that ends after all leaves a connection that may carry the next request.
  req.once('end', stop);
  socket.once('close', stop);
  req.resume();
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Node-RED's own `cors`, the one http in uses: this pack adds no dependency for it. */
function loadCors(RED: NodeAPI): ((options: unknown) => Handler) | null {
  const coreNodesDir = (RED.settings as { coreNodesDir?: unknown }).coreNodesDir;
  const from = typeof coreNodesDir === 'string' ? path.join(coreNodesDir, 'package.json') : require.main?.filename;
  if (!from) return null;
  try {
    return createRequire(from)('cors') as (options: unknown) => Handler;
  } catch {
    return null;
  }
}

export function logHookController(
  RED: NodeAPI,
  node: Node<LogHookCredentials>,
  def: NodeDef & LogHookSettings,
  t: Translate,
  core: CoreText,
): void {
  const httpSettings = RED.settings as {
    httpNodeRoot?: unknown;
    httpNodeCors?: unknown;
    httpNodeMiddleware?: unknown;
  };
  const http = RED.httpNode as unknown as HttpNode | undefined;
  const open = new Set<RecordsRequest>();
  let route = '';
  let fullPath = '';
  let lastAnswer = '';
  let closed = false;
  let handler: Handler | null = null;
  let preflight: Handler | null = null;
  const counts = new LogHookCounts();
  const untrack = logHooks.add(node, counts);

  const status = new ThrottledStatus(node, () => {
    if (!route) return null;
    const vars = { path: route, open: open.size, last: lastAnswer };
    const text =
      open.size > 0 ? t('status.open', vars) : lastAnswer ? t('status.last', vars) : t('status.listening', vars);
    const fill = lastAnswer === '' || lastAnswer === '200' ? 'green' : lastAnswer.startsWith('5') ? 'yellow' : 'grey';
    return { state: `${open.size > 0}:${lastAnswer}`, status: { fill, shape: 'dot', text } };
  });

  try {
    try {
      route = logHookPath(def.path ?? DEFAULTS.path);
    } catch (err) {
      throw new Error(t('errors.path', { error: core.render(err) }));
    }
    if (httpSettings.httpNodeRoot === false || !http) throw new Error(t('errors.no-http'));
    const owner = servedPaths.get(route);
    if (owner && owner !== node.id) throw new Error(t('errors.path-taken', { path: route, node: owner }));

    const setting = <T>(value: unknown, parse: (value: unknown) => T | null, key: string): T =>
      settingOf(value, parse, (v) => t(key, { value: v }));
    const maxBytes = Math.floor(setting(def.maxBody, maxBodyOf, 'errors.max-body-invalid') * MIB);
    const maxRecords = setting(def.maxRecords, maxRecordsOf, 'errors.max-records-invalid');
    const deadlineSec = setting(def.deadline, deadlineOf, 'errors.deadline-invalid');
    const bodyTimeoutMs = setting(def.bodyTimeout, bodyTimeoutOf, 'errors.body-timeout-invalid') * 1000;
    const onePerRequest = setting(def.output, recordsOutputOf, 'errors.output-invalid') === 'request';
    const secretHeader = secretHeaderOf(def.secretHeader);
    if (secretHeader === null)
      throw new Error(t('errors.secret-header-invalid', { value: String(def.secretHeader).trim() }));
    const headerKey = secretHeader.toLowerCase();
    const secret = node.credentials?.secret;
    const secretDigest = typeof secret === 'string' && secret !== '' ? digest(secret) : null;
    const recordQueue = queueOf(def);

    // What httpNodeMiddleware and httpNodeCors add, as http in applies them.
    const middleware: Handler[] = [];
    const configured = httpSettings.httpNodeMiddleware;
    if (typeof configured === 'function') middleware.push(configured as Handler);
    else if (Array.isArray(configured)) middleware.push(...(configured as Handler[]));
    let cors: Handler | null = null;
    if (httpSettings.httpNodeCors) {
      const makeCors = loadCors(RED);
      if (makeCors) cors = makeCors(httpSettings.httpNodeCors);
      else node.warn(t('errors.no-cors'));
    }

    const serve: Handler = (req, res) => {
      try {
        receive(req, res);
      } catch (err) {
        reply(req, res, { status: 500, text: t('answers.fault', { error: core.render(err) }) }, true);
      }
    };
    handler = serve;

    /** Reads a request's body (bounded in bytes and time) and hands it on. */
    const receive = (req: IncomingMessage, res: ServerResponse): void => {
      const started = Date.now();
      if (closed) {
        early(req, res, 503, t('answers.closing'), { 'Retry-After': String(5) });
        return;
      }
      if (secretDigest) {
        const given = req.headers[headerKey];
        const value = typeof given === 'string' ? given : '';
        if (!timingSafeEqual(digest(value), secretDigest)) {
          early(req, res, 401, t('answers.unauthorized', { header: secretHeader }));
          return;
        }
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        early(req, res, 413, t('answers.too-large', { limit: maxBytes }));
        return;
      }
      // A body parser ahead of node route (httpNodeMiddleware, or an http in with
      // "do not parse" on the same path) may have read the body already.
      const read = req as IncomingMessage & { _body?: unknown; body?: unknown; [UNREAD]?: unknown };
      if ((read._body === true && read[UNREAD] !== true) || read.readableEnded) {
        const body = Buffer.isBuffer(read.body) ? read.body : Buffer.from(bodyText(read.body), 'utf8');
        if (body.length > maxBytes) early(req, res, 413, t('answers.too-large', { limit: maxBytes }));
        else handle(req, res, body, started);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let finished = false;
      const readTimeoutMs = Math.min(bodyTimeoutMs, deadlineSec * 1000);
      const timer = setTimeout(() => {
        stop();
        early(req, res, 408, t('answers.timeout', { seconds: readTimeoutMs / 1000 }));
      }, readTimeoutMs);
      const stop = () => {
        finished = true;
        clearTimeout(timer);
        req.removeListener('data', onData);
        req.removeListener('end', onEnd);
        req.removeListener('error', onError);
        req.removeListener('close', onClose);
        chunks.length = 0;
      };
      const onData = (chunk: Buffer) => {
        if (finished) return;
        size += chunk.length;
        if (size > maxBytes) {
          stop();
          early(req, res, 413, t('answers.too-large', { limit: maxBytes }));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        if (finished) return;
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        stop();
        guarded(req, res, () => handle(req, res, body, started));
      };
      const onError = (err: Error) => {
        if (finished) return;
        stop();
        early(req, res, 400, t('answers.unreadable', { error: err.message }));
      };
      // The client went away before the end of its body: nobody to answer.
      const onClose = () => {
        if (!finished) stop();
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    };

    const guarded = (req: IncomingMessage, res: ServerResponse, work: () => void) => {
      try {
        work();
      } catch (err) {
        reply(req, res, { status: 500, text: t('answers.fault', { error: core.render(err) }) }, true);
      }
    };

    /** The body, whole: split, checked, each record sent on; the answer comes when they are settled. */
    const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer, started: number): void => {
      const split = splitLogHookBody(body, { maxRecords, maxDepth: MAX_RECORD_DEPTH });
      if (split.kind === 'too-many') {
        reply(req, res, { status: 413, text: t('answers.too-many', { limit: split.limit }) }, true);
        return;
      }
      const others = split.kind === 'elements' ? split.elements.filter((e) => !e.record) : [];
      const otherMsgs = split.kind === 'elements' ? others.map(otherMsg) : [otherMsg(notJson(body, split.reason))];
      const verdict = noRecordReason(split);
      if (verdict) {
        send(null, otherMsgs);
        reply(
          req,
          res,
          { status: 422, text: core.render(verdict), headers: { 'X-Kumo-Verdict': 'not-a-log-record' } },
          true,
        );
        return;
      }
      if (split.kind !== 'elements') return; // not reached: a body that is not JSON has its verdict
      const records = split.elements.filter((e): e is Extract<BodyElement, { record: true }> => e.record);
      counts.records.observe(records.length);
      const request = new RecordsRequest((answer) => {
        clearTimeout(deadline);
        open.delete(request);
        answered(req, res, answer, others.length);
      });
      open.add(request);
      const deadlineMs = Math.max(0, deadlineSec * 1000 - (Date.now() - started));
      const deadline = setTimeout(() => request.expire(deadlineSec), deadlineMs);
      status.refresh();
      const msgs: NodeMessageInFlow[] = records.map((element) => ({
        _msgid: RED.util.generateId(),
        // A record of a batch gets its own copy: a retried record must not keep the whole body alive.
        payload: split.batch ? Buffer.from(element.bytes) : element.bytes,
        properties: { contentType: 'application/json' },
        ...envelopeOfRecord(element.value),
        [RECORD_KEY]: request.addRecord(),
      }));
      recordQueue(records, (queues) => {
        for (let i = 0; i < msgs.length; i++) (msgs[i] as { queue?: unknown }).queue = queues[i];
        // One msg for the request: its records' msgs whole in msg.messages (queue config routes
        // each as its own message), their payloads in msg.payload, as a custom protocol batch has them.
        const out =
          onePerRequest && msgs.length > 0
            ? [{ _msgid: RED.util.generateId(), payload: msgs.map((m) => m.payload), messages: msgs }]
            : msgs;
        send(out, otherMsgs);
        request.check();
      });
    };

    const send = (records: NodeMessageInFlow[] | null, others: NodeMessageInFlow[]) => {
      node.send([records && records.length > 0 ? records : null, others.length > 0 ? others : null] as never);
    };

    const answered = (req: IncomingMessage, res: ServerResponse, answer: RecordsAnswer, other: number) => {
      const text = typeof answer.body === 'string' ? answer.body : core.render(answer.body);
      const headers: Record<string, string> = {};
      if (answer.retryAfterSec !== null) headers['Retry-After'] = String(answer.retryAfterSec);
      reply(req, res, { status: answer.status, text, headers }, false);
      if (answer.status !== 200) {
        // One line per request, whatever its number of records.
        node.warn(
          t('log.answer', {
            path: route,
            status: answer.status,
            other,
            ...answer.counts,
            reason: text.slice(0, 300),
          }),
        );
      }
    };

    /** An answer before the body is read (or while it is): the rest of it is not read. */
    const early = (req: IncomingMessage, res: ServerResponse, code: number, text: string, headers = {}) => {
      reply(req, res, { status: code, text, headers }, true);
    };

    /** Writes the answer once (text/plain); `summary` logs it as the request's one line. */
    const reply = (req: IncomingMessage, res: ServerResponse, answer: Reply, summary: boolean) => {
      lastAnswer = String(answer.status);
      status.refresh();
      if (summary)
        node.warn(t('log.refused', { path: route, status: answer.status, reason: answer.text.slice(0, 300) }));
      if (res.headersSent || res.writableEnded || res.destroyed) return;
      counts.answers.add(String(answer.status));
      const body = Buffer.from(answer.text, 'utf8');
      // No `Connection: close` on an early answer: Node's server would destroy the socket as
      // soon as the answer is written, under the client's writes. linger() closes it instead.
      res.writeHead(answer.status, {
        'Content-Type': TEXT_PLAIN,
        'Content-Length': String(body.length),
        ...answer.headers,
      });
      res.end(body);
      if (!req.complete) linger(req, answer.status === 408 ? LINGER_SLOW_MS : LINGER_MAX_MS);
    };

    const errorHandler: ErrorHandler = (err, req, res) => {
      reply(req, res, { status: 500, text: t('answers.fault', { error: core.render(err) }) }, true);
    };

    const chain: Handler[] = [...middleware, ...(cors ? [cors] : [])];
    http.post(route, ...chain, serve, errorHandler);
    if (cors) {
      // Preflight, as http in answers it when httpNodeCors is set.
      preflight = cors;
      http.options(route, cors);
    }
    servedPaths.set(route, node.id);
    fullPath = pathKey(`${http.path()}${route}`);
    claimedPaths.add(fullPath);
    installClaim(http);
    setImmediate(() => status.show());
  } catch (err) {
    const message = core.render(err);
    route = '';
    setupFailed(node, message);
  }

  /** The queue of each record (msg.queue): fixed, from env, or read over the record. */
  function queueOf(
    settings: LogHookSettings,
  ): (records: { value: unknown }[], then: (queues: unknown[]) => void) => void {
    const source: QueueSource = settings.queueType || 'str';
    const property = settings.queue === undefined || settings.queue === '' ? DEFAULT_QUEUE : settings.queue;
    if (!QUEUE_SOURCES.includes(source)) throw new Error(t('errors.unknown-queue-source', { source: String(source) }));
    const queue = typedInput(RED, node, property, source);
    if (queue.fixed) return (records, then) => then(records.map(() => queue.value));
    return (records, then) => {
      const queues: unknown[] = new Array(records.length);
      let left = records.length;
      if (left === 0) then(queues);
      records.forEach((r, i) => {
        // A queue a record cannot give is missing: queue config says so, for that record alone.
        queue.read(r.value as NodeMessage, (err, value) => {
          queues[i] = err ? undefined : value;
          if (--left === 0) then(queues);
        });
      });
    };
  }

  /** What leaves on output 2: the element (its bytes when it nests too deep to copy) and why. */
  function otherMsg(element: BodyElement): NodeMessageInFlow {
    const e = element as Extract<BodyElement, { record: false }>;
    return {
      _msgid: RED.util.generateId(),
      payload: e.tooDeep ? Buffer.from(e.bytes) : e.value,
      reason: core.render(e.reason),
    } as NodeMessageInFlow;
  }

  function notJson(body: Buffer, reason: Message): BodyElement {
    return { record: false, bytes: body, value: body, tooDeep: false, reason };
  }

  node.on('close', (_removed: boolean, done: () => void) => {
    untrack();
    closed = true;
    status.stop();
    if (servedPaths.get(route) === node.id) {
      servedPaths.delete(route);
      claimedPaths.delete(fullPath);
    }
    if (http) removeRoutes(http, [handler, preflight]);
    for (const request of [...open]) request.close();
    open.clear();
    done();
  });
}

/** A body some parser ahead of the route already read (a middleware of the user's own). */
function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body === undefined || body === null) return '';
  try {
    return JSON.stringify(body) ?? '';
  } catch {
    return ''; // too deep to write again: answered as not JSON
  }
}

function removeRoutes(http: HttpNode, handlers: (Handler | null)[]): void {
  const stack = (http._router ?? http.router)?.stack;
  if (!stack) return;
  const mine = new Set(handlers.filter((h) => h !== null));
  for (let i = stack.length - 1; i >= 0; i--) {
    const route = stack[i].route;
    if (route?.stack.some((layer) => mine.has(layer.handle as Handler))) stack.splice(i, 1);
  }
}

/**
 * The envelope KumoMTA's log hook gives the message it queues for a record: the record's sender and
 * recipient (logging/hooks.rs), so the log records of its delivery say which record it carries. The
 * message keeps an id of its own, as KumoMTA's does (a new spool id); the record's id and type travel
 * in the data. A BatchByDomain record's recipient list is taken when it holds one address.
 */
function envelopeOfRecord(record: Readonly<Record<string, unknown>>): { sender?: string; recipient?: string } {
  const envelope: { sender?: string; recipient?: string } = {};
  if (typeof record.sender === 'string') envelope.sender = record.sender;
  const recipient =
    Array.isArray(record.recipient) && record.recipient.length === 1 ? record.recipient[0] : record.recipient;
  if (typeof recipient === 'string') envelope.recipient = recipient;
  return envelope;
}
