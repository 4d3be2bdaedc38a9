// Prometheus metrics and the brokers' health, on Node-RED's admin HTTP server:
// GET <httpAdminRoot>/kumo/metrics (Prometheus's text format) and /kumo/health
// (200 or 503 with JSON), both behind the permission kumo.read, so adminAuth applies.
//
// The pack has a registry of its own: Node-RED or another pack may use prom-client's
// global one, and a name taken twice there throws. Nodes count into plain numbers they
// own (common/metric-counts.ts); every series is worked out at scrape time from the
// nodes deployed then, so a node closed by a redeploy leaves no series behind.

import type { NodeAPI } from 'node-red';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  AckCounts,
  BrokerCounts,
  BucketCounts,
  ConsumeCounts,
  CustomProtocolCounts,
  CountsBy,
  LogHookCounts,
  PublishCounts,
} from './metric-counts';
// Prometheus's HELP lines: English, as exporters write them, kept apart from the code.
import HELP from './metric-help.json';

type MetricName = keyof typeof HELP;

/** Every series names its node (its name, or its id when it has none), the id, and the flow (tab id) it is in. */
export interface NodeLabels {
  node: string;
  id: string;
  flow: string;
}

const LABELS = ['node', 'id', 'flow'] as const;

/** What metrics know of a node: only what every Node-RED node has. */
export interface LabelledNode {
  id: string;
  name?: string;
  z?: string;
}

export function labelsOf(node: LabelledNode): NodeLabels {
  return { node: node.name || node.id, id: node.id, flow: node.z ?? '' };
}

interface Member<S> {
  readonly labels: NodeLabels;
  readonly source: S;
}

/**
 * settings.js `kumoMetrics: false` turns the pack's metrics off: no /kumo/metrics or
 * /kumo/health, no sidebar feed, no node registered for collection, no confirm timing.
 * One Node-RED per process: the first node type to register reads it (serveMetrics).
 */
let metricsOff = false;

/** Whether the pack's metrics are on (settings.js kumoMetrics is not false). */
export function metricsEnabled(): boolean {
  return !metricsOff;
}

const NOTHING_TO_REMOVE = () => undefined;

/** The deployed nodes of one type that have something to show, each with what it counts and reads. */
class Members<S> {
  private readonly members = new Set<Member<S>>();

  /** Adds a node; the function returned removes it (call it when the node closes). */
  add(node: LabelledNode, source: S): () => void {
    if (metricsOff) return NOTHING_TO_REMOVE;
    const member = { labels: labelsOf(node), source };
    this.members.add(member);
    return () => {
      this.members.delete(member);
    };
  }

  [Symbol.iterator](): Iterator<Member<S>> {
    return this.members.values();
  }
}

export const registry = new Registry();

function counter<S>(members: Members<S>, name: MetricName, read: (source: S) => number): void {
  new Counter({
    name,
    help: HELP[name],
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, source } of members) this.inc(labels, read(source));
    },
  });
}

function counterBy<S>(members: Members<S>, name: MetricName, label: string, read: (source: S) => CountsBy): void {
  new Counter({
    name,
    help: HELP[name],
    labelNames: [...LABELS, label],
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, source } of members) {
        for (const [value, count] of read(source).entries()) this.inc({ ...labels, [label]: value }, count);
      }
    },
  });
}

/** A gauge read from the node's state; a node that has nothing to show (null) has no series. */
function gauge<S>(members: Members<S>, name: MetricName, read: (source: S) => number | null): void {
  new Gauge({
    name,
    help: HELP[name],
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, source } of members) {
        const value = read(source);
        if (value !== null) this.set(labels, value);
      }
    },
  });
}

/**
 * A histogram whose counts the nodes keep (BucketCounts): prom-client's own would look
 * its labels up on every observation. Its bounds are those the nodes count with.
 */
class NodeHistogram<S> extends Histogram<string> {
  constructor(
    private readonly members: Members<S>,
    private readonly read: (source: S) => BucketCounts,
    private readonly text: { name: string; help: string },
  ) {
    super({ ...text, labelNames: LABELS, registers: [registry] });
  }

  // What the registry renders (prom-client's Histogram.getForPromString shape): cumulative `le`
  // buckets, +Inf, _sum and _count per node.
  async getForPromString() {
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: object;
      value: number;
      metricName: string;
    }[] = [];
    for (const { labels, source } of this.members) {
      const counts = this.read(source);
      const cumulative = counts.cumulative();
      counts.bounds.forEach((bound, i) => {
        values.push({
          labels: { le: bound },
          sharedLabels: labels,
          value: cumulative[i],
          metricName: `${this.text.name}_bucket`,
        });
      });
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: labels,
        value: counts.count,
        metricName: `${this.text.name}_bucket`,
      });
      values.push({ labels: {}, sharedLabels: labels, value: counts.sum, metricName: `${this.text.name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: counts.count, metricName: `${this.text.name}_count` });
    }
    return { ...this.text, type: 'histogram', values, aggregator: 'sum' };
  }
}

function histogram<S>(members: Members<S>, name: MetricName, read: (source: S) => BucketCounts): void {
  new NodeHistogram(members, read, { name, help: HELP[name] });
}

// --- custom protocol ---

export interface CustomProtocolSource {
  counts: CustomProtocolCounts;
  /** The queue's counts now; null when the node could not be set up. */
  state(): { queued: number; inFlight: number; waiting: number; oldestWaitingSeconds: number } | null;
}

export const customProtocols = new Members<CustomProtocolSource>();
{
  const m = customProtocols;
  const p = 'kumo_custom_protocol';
  counter(m, `${p}_accepted_total`, (s) => s.counts.accepted);
  counter(m, `${p}_delivered_total`, (s) => s.counts.delivered);
  counter(m, `${p}_bounced_total`, (s) => s.counts.bounced);
  counter(m, `${p}_expired_total`, (s) => s.counts.expired);
  counter(m, `${p}_retries_total`, (s) => s.counts.retries);
  counterBy(m, `${p}_failed_total`, 'code', (s) => s.counts.failed);
  gauge(m, `${p}_queued`, (s) => s.state()?.queued ?? null);
  gauge(m, `${p}_in_flight`, (s) => s.state()?.inFlight ?? null);
  gauge(m, `${p}_waiting`, (s) => s.state()?.waiting ?? null);
  gauge(m, `${p}_oldest_waiting_seconds`, (s) => s.state()?.oldestWaitingSeconds ?? null);
}

// --- amqp publish ---

export interface PublishSource {
  counts: PublishCounts;
  /** Messages written or about to be, without their confirm yet; null when the node could not be set up. */
  waiting(): number | null;
}

export const publishers = new Members<PublishSource>();
counterBy(publishers, 'kumo_amqp_publish_messages_total', 'result', (s) => s.counts.results);
histogram(publishers, 'kumo_amqp_publish_confirm_seconds', (s) => s.counts.confirmSeconds);
gauge(publishers, 'kumo_amqp_publish_waiting', (s) => s.waiting());

// --- amqp broker ---

export type BrokerState = 'connected' | 'blocked' | 'connecting' | 'disconnected' | 'idle' | 'closed' | 'error';

export interface BrokerView {
  state: BrokerState;
  /** When the broker entered this state (epoch ms). */
  sinceMs: number;
  /** The URL (without credentials) connected to, or last tried. */
  endpoint: string | null;
  /** Why it is not connected, or blocked; already redacted. */
  reason: string | null;
  /** Every URL of the broker node (a cluster has several), without credentials. */
  endpoints: readonly string[];
  /** When the current blocked period began (epoch ms), or null. */
  blockedSinceMs: number | null;
}

export interface BrokerSource {
  counts: BrokerCounts;
  view(): BrokerView;
}

export const brokers = new Members<BrokerSource>();
new Gauge({
  name: 'kumo_amqp_broker_connected',
  help: HELP.kumo_amqp_broker_connected,
  labelNames: [...LABELS, 'url'],
  registers: [registry],
  collect() {
    this.reset();
    for (const { labels, source } of brokers) {
      const view = source.view();
      for (const url of view.endpoints) {
        const on = (view.state === 'connected' || view.state === 'blocked') && view.endpoint === url;
        this.set({ ...labels, url }, on ? 1 : 0);
      }
    }
  },
});
counter(brokers, 'kumo_amqp_broker_reconnects_total', (s) => s.counts.reconnects);
counter(brokers, 'kumo_amqp_broker_blocked_seconds_total', (s) => {
  const since = s.view().blockedSinceMs;
  return s.counts.blockedSeconds + (since === null ? 0 : Math.max(0, Date.now() - since) / 1000);
});
gauge(brokers, 'kumo_amqp_broker_blocked', (s) => (s.view().blockedSinceMs === null ? 0 : 1));

// --- amqp consume / amqp ack ---

export interface ConsumeSource {
  counts: ConsumeCounts;
  /** Unacknowledged deliveries and the oldest one's age in seconds; null when the node could not be set up. */
  held(): { unacknowledged: number; oldestSeconds: number } | null;
}

export const consumers = new Members<ConsumeSource>();
counter(consumers, 'kumo_amqp_consume_delivered_total', (s) => s.counts.delivered);
counterBy(consumers, 'kumo_amqp_consume_timed_out_total', 'action', (s) => s.counts.timedOut);
gauge(consumers, 'kumo_amqp_consume_unacknowledged', (s) => s.held()?.unacknowledged ?? null);
gauge(consumers, 'kumo_amqp_consume_oldest_unacknowledged_seconds', (s) => s.held()?.oldestSeconds ?? null);
histogram(consumers, 'kumo_amqp_consume_delivery_count', (s) => s.counts.deliveryCount);

export const ackers = new Members<AckCounts>();
counter(ackers, 'kumo_amqp_ack_acked_total', (s) => s.acked);
counterBy(ackers, 'kumo_amqp_ack_requeued_total', 'method', (s) => s.requeued);
counter(ackers, 'kumo_amqp_ack_rejected_total', (s) => s.rejected);

// --- log hook in ---

export const logHooks = new Members<LogHookCounts>();
counterBy(logHooks, 'kumo_log_hook_requests_total', 'code', (s) => s.answers);
histogram(logHooks, 'kumo_log_hook_records_per_request', (s) => s.records);

// --- health ---

export interface BrokerHealth {
  broker: string;
  id: string;
  flow: string;
  state: BrokerState;
  since: string;
  url: string | null;
  reason?: string;
}

export interface Health {
  status: 200 | 503;
  body: { status: 'up' | 'down'; brokers: BrokerHealth[] };
}

/**
 * Up when every broker in use is connected and not blocked. A broker node no deployed
 * node uses ('idle') is listed but does not count: it has no connection to keep.
 */
export function healthOf(entries: Iterable<{ labels: NodeLabels; view: BrokerView }>): Health {
  const list: BrokerHealth[] = [];
  let up = true;
  for (const { labels, view } of entries) {
    const entry: BrokerHealth = {
      broker: labels.node,
      id: labels.id,
      flow: labels.flow,
      state: view.state,
      since: new Date(view.sinceMs).toISOString(),
      url: view.endpoint,
    };
    if (view.reason !== null && view.state !== 'connected') entry.reason = view.reason;
    if (view.state !== 'connected' && view.state !== 'idle') up = false;
    list.push(entry);
  }
  return { status: up ? 200 : 503, body: { status: up ? 'up' : 'down', brokers: list } };
}

export function health(): Health {
  return healthOf([...brokers].map(({ labels, source }) => ({ labels, view: source.view() })));
}

// --- the endpoints ---

interface Reply {
  status(code: number): Reply;
  set(field: string, value: string): Reply;
  send(body: string): void;
  json(body: unknown): void;
}

type Route = (req: unknown, res: Reply) => void;

interface AdminServer {
  get(path: string, ...handlers: unknown[]): unknown;
}

const served = new WeakSet<object>();

/**
 * Serves GET /kumo/metrics and /kumo/health on Node-RED's admin server, once whichever
 * node type registers first (common/operations.ts). True when it started serving now.
 */
export function serveMetrics(RED: NodeAPI): boolean {
  metricsOff = (RED.settings as { kumoMetrics?: unknown }).kumoMetrics === false;
  if (metricsOff) return false;
  const admin = RED.httpAdmin as unknown as AdminServer | undefined;
  const needsPermission = (RED as { auth?: { needsPermission?: (permission: string) => unknown } }).auth
    ?.needsPermission;
  // No admin server (httpAdminRoot: false), or no way to guard one: nothing is served unguarded.
  if (!admin || typeof needsPermission !== 'function' || served.has(admin)) return false;
  served.add(admin);
  const guard = needsPermission('kumo.read');
  const metrics: Route = (_req, res) => {
    registry.metrics().then(
      (text) => res.set('Content-Type', registry.contentType).send(text),
      (err: unknown) =>
        res
          .status(500)
          .set('Content-Type', 'text/plain; charset=utf-8')
          .send(err instanceof Error ? err.message : String(err)),
    );
  };
  const healthRoute: Route = (_req, res) => {
    const { status, body } = health();
    res.status(status).set('Cache-Control', 'no-store').json(body);
  };
  admin.get('/kumo/metrics', guard, metrics);
  admin.get('/kumo/health', guard, healthRoute);
  return true;
}
