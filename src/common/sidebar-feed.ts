// What the editor's kumomta sidebar shows, pushed through Node-RED's comms: a snapshot of
// what the metrics already read (common/metrics.ts), at most once a second, only while
// something of the pack is deployed. The editor works out rates from consecutive
// snapshots (editor/sidebar.ts); the runtime keeps no history.

import type { NodeAPI } from 'node-red';
import type { Clock, TimerHandle } from '../core/base/clock';
import { contained, type FaultSink, toError } from '../core/base/contained';
import { say } from '../core/text/messages';
import type { AckCounts, CountsBy, LogHookCounts } from './metric-counts';
// Types only: metrics.ts starts the feed and hands it its members.
import type { BrokerSource, BrokerState, ConsumeSource, CustomProtocolSource, NodeLabels } from './metrics';
import { coreText } from './node-text';

/** The comms topic the editor subscribes to. */
export const SIDEBAR_TOPIC = 'kumo/sidebar';
const PERIOD_MS = 1000;

/** Which node a row is: its id, its name (or id when it has none), its flow (tab id) and its type. */
export interface SidebarRow {
  id: string;
  name: string;
  flow: string;
  type: string;
}

export interface BrokerRow extends SidebarRow {
  state: BrokerState;
  /** When the broker entered its state (epoch ms, the runtime's clock: compare with the snapshot's `at`). */
  sinceMs: number;
  endpoint: string | null;
  reason: string | null;
}

/** The queue's gauges are null when the node could not be set up. */
export interface CustomProtocolRow extends SidebarRow {
  accepted: number;
  delivered: number;
  bounced: number;
  expired: number;
  retries: number;
  /** Messages the node did not take, by err.code. */
  failed: Record<string, number>;
  queued: number | null;
  inFlight: number | null;
  waiting: number | null;
  oldestWaitingSeconds: number | null;
}

/** An amqp consume node; its gauges are null when it could not be set up. */
export interface ConsumerRow extends SidebarRow {
  delivered: number;
  unacknowledged: number | null;
  oldestSeconds: number | null;
  /** Deliveries held past the node's limit, by what was done with them ('requeue', 'reject'). */
  timedOut: Record<string, number>;
}

/** An amqp ack node: it acknowledges what any consumer delivered, so it has a row of its own. */
export interface AckRow extends SidebarRow {
  acked: number;
  /** By how: 'nack' or 'reject' (with requeue). */
  requeued: Record<string, number>;
  rejected: number;
}

export interface LogHookRow extends SidebarRow {
  /** Requests by the status code they were answered with. */
  requests: Record<string, number>;
  records: number;
}

export interface SidebarSnapshot {
  /** When it was taken (epoch ms, the runtime's clock). */
  at: number;
  brokers: BrokerRow[];
  customProtocols: CustomProtocolRow[];
  consumers: ConsumerRow[];
  acks: AckRow[];
  logHooks: LogHookRow[];
}

type Listed<S> = Iterable<{ readonly labels: NodeLabels; readonly source: S }>;

/** Where the rows come from: the metrics' members. */
export interface SidebarSources {
  brokers: Listed<BrokerSource>;
  customProtocols: Listed<CustomProtocolSource>;
  consumers: Listed<ConsumeSource>;
  acks: Listed<AckCounts>;
  logHooks: Listed<LogHookCounts>;
}

function record(counts: CountsBy): Record<string, number> {
  return Object.fromEntries(counts.entries());
}

function row(labels: NodeLabels, type: string): SidebarRow {
  return { id: labels.id, name: labels.node, flow: labels.flow, type };
}

const readers = {
  brokers(labels: NodeLabels, source: BrokerSource): BrokerRow {
    const view = source.view();
    return {
      ...row(labels, 'amqp-broker'),
      state: view.state,
      sinceMs: view.sinceMs,
      endpoint: view.endpoint,
      reason: view.reason,
    };
  },
  customProtocols(labels: NodeLabels, source: CustomProtocolSource): CustomProtocolRow {
    const { counts } = source;
    const state = source.state();
    return {
      ...row(labels, 'kumo-custom-protocol'),
      accepted: counts.accepted,
      delivered: counts.delivered,
      bounced: counts.bounced,
      expired: counts.expired,
      retries: counts.retries,
      failed: record(counts.failed),
      queued: state?.queued ?? null,
      inFlight: state?.inFlight ?? null,
      waiting: state?.waiting ?? null,
      oldestWaitingSeconds: state?.oldestWaitingSeconds ?? null,
    };
  },
  consumers(labels: NodeLabels, source: ConsumeSource): ConsumerRow {
    const held = source.held();
    return {
      ...row(labels, 'amqp-consume'),
      delivered: source.counts.delivered,
      unacknowledged: held?.unacknowledged ?? null,
      oldestSeconds: held?.oldestSeconds ?? null,
      timedOut: record(source.counts.timedOut),
    };
  },
  acks(labels: NodeLabels, counts: AckCounts): AckRow {
    return {
      ...row(labels, 'amqp-ack'),
      acked: counts.acked,
      requeued: record(counts.requeued),
      rejected: counts.rejected,
    };
  },
  logHooks(labels: NodeLabels, counts: LogHookCounts): LogHookRow {
    return { ...row(labels, 'kumo-log-hook'), requests: record(counts.answers), records: counts.records.sum };
  },
};

/**
 * Reads every row. A source that throws loses its row in this snapshot, not the others';
 * `fault` hears of it (the caller decides how often it reports).
 */
function snapshotOf(
  sources: SidebarSources,
  at: number,
  fault: (source: object, err: unknown) => void,
): SidebarSnapshot {
  function rows<S extends object, R>(listed: Listed<S>, read: (labels: NodeLabels, source: S) => R): R[] {
    const out: R[] = [];
    for (const { labels, source } of listed) {
      try {
        out.push(read(labels, source));
      } catch (err) {
        fault(source, err);
      }
    }
    return out;
  }
  return {
    at,
    brokers: rows(sources.brokers, readers.brokers),
    customProtocols: rows(sources.customProtocols, readers.customProtocols),
    consumers: rows(sources.consumers, readers.consumers),
    acks: rows(sources.acks, readers.acks),
    logHooks: rows(sources.logHooks, readers.logHooks),
  };
}

function anyDeployed(sources: SidebarSources): boolean {
  return Object.values(sources).some((listed: Iterable<unknown>) => !listed[Symbol.iterator]().next().done);
}

/** Node.js's timers, unref()ed: the feed never keeps a stopping Node-RED alive. */
const unrefClock: Clock = {
  now: Date.now,
  setTimer(fn, delayMs) {
    const timer = setTimeout(fn, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/**
 * Publishes a snapshot once a second while anything is deployed. Woken when flows start;
 * when the last node has gone it publishes one empty snapshot (so open editors clear) and
 * stops its timer.
 */
class SidebarFeed {
  private timer: TimerHandle | null = null;
  private lastMs = Number.NEGATIVE_INFINITY;
  /** Sources that threw: each is reported once, not once a second. */
  private readonly faulted = new WeakSet<object>();

  constructor(
    private readonly sources: SidebarSources,
    private readonly publish: (snapshot: SidebarSnapshot) => void,
    private readonly fault: FaultSink,
    private readonly clock: Clock = unrefClock,
  ) {}

  /** Flows (re)started: publishing begins if anything is deployed, no sooner than a second after the last. */
  wake(): void {
    if (this.timer || !anyDeployed(this.sources)) return;
    this.timer = this.clock.setTimer(this.tick, Math.max(0, this.lastMs + PERIOD_MS - this.clock.now()));
  }

  private readonly tick = contained(
    () => this.fault,
    () => {
      this.timer = null;
      const deployed = anyDeployed(this.sources);
      // Armed before the snapshot is read and sent: whatever that throws, the feed goes on.
      if (deployed) this.timer = this.clock.setTimer(this.tick, PERIOD_MS);
      const at = this.clock.now();
      this.lastMs = at;
      const snapshot = snapshotOf(this.sources, at, (source, err) => {
        if (this.faulted.has(source)) return;
        this.faulted.add(source);
        this.fault(toError(err));
      });
      this.publish(snapshot);
    },
  );
}

const feeds = new WeakSet<object>();

/**
 * Starts the sidebar's feed for this Node-RED (once, whichever node type asks first): woken
 * each time flows start. What it cannot do goes to Node-RED's log.
 */
export function startSidebarFeed(RED: NodeAPI, sources: SidebarSources, clock?: Clock): void {
  if (feeds.has(RED.events)) return;
  feeds.add(RED.events);
  const core = coreText(RED);
  const feed = new SidebarFeed(
    sources,
    (snapshot) => RED.comms.publish(SIDEBAR_TOPIC, snapshot, true),
    (err) => RED.log.error(core.render(say('contained.fault', { error: core.render(err) }))),
    clock,
  );
  RED.events.on('flows:started', () => feed.wake());
}
