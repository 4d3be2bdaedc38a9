// The editor's kumomta sidebar tab: brokers, custom protocols, consumers and log hooks of
// the deployed flows, live. The runtime pushes a snapshot at most once a second
// (common/sidebar-feed.ts); rates are worked out here from consecutive snapshots and drawn
// as inline SVG sparklines over the last five minutes. A click on a row reveals its node.
// Every editor that has the pack loads the broker's script, which imports this one.

import type { EditorNodeInstance } from 'node-red';
import type {
  AckRow,
  BrokerRow,
  ConsumerRow,
  CustomProtocolRow,
  LogHookRow,
  SidebarRow,
  SidebarSnapshot,
} from '../common/sidebar-feed';
import { editorText, RED } from './editor-red';

/** common/sidebar-feed.ts's SIDEBAR_TOPIC (that module is the runtime's: only its types come here). */
const TOPIC = 'kumo/sidebar';
const TAB = 'kumomta';
const CHART_MS = 5 * 60 * 1000;
const CHART_WIDTH = 100;
const CHART_HEIGHT = 20;
const SVG = 'http://www.w3.org/2000/svg';

const brokerCatalogue = editorText('amqp-broker');
/** The tab's words: the sidebar section of amqp broker's catalogue. */
const t = (key: string, vars?: Record<string, string | number>) => brokerCatalogue(`sidebar.${key}`, vars);

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent?: HTMLElement,
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  parent?.appendChild(el);
  return el;
}

function count(value: number | null): string {
  if (value === null) return '–';
  return value < 100000
    ? value.toLocaleString()
    : new Intl.NumberFormat(undefined, { notation: 'compact' }).format(value);
}

/** A duration in its largest whole unit: "12 s", "3 min", "2 h", "4 d". */
function age(seconds: number | null): string {
  if (seconds === null) return '–';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t('age.seconds', { n: s });
  if (s < 3600) return t('age.minutes', { n: Math.floor(s / 60) });
  if (s < 86400) return t('age.hours', { n: Math.floor(s / 3600) });
  return t('age.days', { n: Math.floor(s / 86400) });
}

function rate(perSecond: number): string {
  const n = perSecond >= 10 || perSecond === 0 ? perSecond.toFixed(0) : perSecond.toFixed(1);
  return t('rate', { n });
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function byKey(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ');
}

/** Node-RED's status colours, by broker state. */
const STATE_COLOUR: Record<BrokerRow['state'], string> = {
  connected: 'green',
  blocked: 'yellow',
  connecting: 'yellow',
  disconnected: 'red',
  error: 'red',
  idle: 'grey',
  closed: 'grey',
};

/** One count under a row: a short label over its value; `title` details it (e.g. by error code). */
interface Cell {
  key: string;
  label: string;
  value: string;
  title?: string;
}

/** What a section shows of a row: its cells, and the counter whose rate is charted. */
interface Shown {
  cells: Cell[];
  charted?: { value: number; title: string };
}

const cell = (key: string, value: string, title?: string): Cell => ({ key, label: t(`count.${key}`), value, title });

function customProtocol(row: CustomProtocolRow): Shown {
  return {
    cells: [
      cell('accepted', count(row.accepted)),
      cell('delivered', count(row.delivered)),
      cell('bounced', count(row.bounced)),
      cell('expired', count(row.expired)),
      cell('failed', count(sum(row.failed)), byKey(row.failed)),
      cell('retries', count(row.retries)),
      cell('queued', count(row.queued)),
      cell('inFlight', count(row.inFlight)),
      cell('waiting', count(row.waiting)),
      cell('oldest', age(row.oldestWaitingSeconds)),
    ],
    charted: { value: row.delivered, title: t('chart.delivered') },
  };
}

function consumer(row: ConsumerRow): Shown {
  return {
    cells: [
      cell('delivered', count(row.delivered)),
      cell('unacked', count(row.unacknowledged)),
      cell('oldest', age(row.oldestSeconds)),
      cell('timedOut', count(sum(row.timedOut)), byKey(row.timedOut)),
    ],
    charted: { value: row.delivered, title: t('chart.delivered') },
  };
}

function ack(row: AckRow): Shown {
  return {
    cells: [
      cell('acked', count(row.acked)),
      cell('requeued', count(sum(row.requeued)), byKey(row.requeued)),
      cell('rejected', count(row.rejected)),
    ],
    charted: { value: row.acked, title: t('chart.acked') },
  };
}

function logHook(row: LogHookRow): Shown {
  const answers = Object.entries(row.requests).sort(([a], [b]) => a.localeCompare(b));
  return {
    cells: [
      cell('requests', count(sum(row.requests))),
      cell('records', count(row.records)),
      ...answers.map(([code, n]) => ({
        key: `answer-${code}`,
        label: t('count.answered', { code }),
        value: count(n),
      })),
    ],
    charted: { value: row.records, title: t('chart.records') },
  };
}

/** A counter's rate between consecutive snapshots, each over its interval, for the last five minutes. */
class RateHistory {
  private last: { at: number; value: number } | null = null;
  readonly points: { from: number; to: number; rate: number }[] = [];

  add(at: number, value: number): void {
    const last = this.last;
    this.last = { at, value };
    if (!last || at <= last.at) return;
    // A redeployed node counts from zero again: no negative rate.
    this.points.push({ from: last.at, to: at, rate: (Math.max(0, value - last.value) * 1000) / (at - last.at) });
    while (this.points.length > 0 && this.points[0].to <= at - CHART_MS) this.points.shift();
  }

  get current(): number | null {
    return this.points.length > 0 ? this.points[this.points.length - 1].rate : null;
  }
}

/**
 * The sparkline: each interval's rate as a step, from the oldest one kept (five minutes
 * back at most, so a young chart fills its width too) to the snapshot's time.
 */
function drawChart(svg: SVGSVGElement, history: RateHistory, at: number): void {
  const area = svg.children[0];
  const stroke = svg.children[1];
  const points = history.points;
  if (points.length === 0) {
    area.setAttribute('d', '');
    stroke.setAttribute('points', '');
    return;
  }
  const left = Math.max(at - CHART_MS, points[0].from);
  const max = Math.max(...points.map((p) => p.rate));
  const x = (when: number) => ((CHART_WIDTH * (Math.max(when, left) - left)) / (at - left)).toFixed(2);
  // Flat at the bottom while nothing moves; the highest rate touches the top (less the line's width).
  const y = (rate: number) =>
    (max > 0 ? CHART_HEIGHT - 1 - ((CHART_HEIGHT - 2) * rate) / max : CHART_HEIGHT - 1).toFixed(2);
  const line = points.flatMap((p) => [`${x(p.from)},${y(p.rate)}`, `${x(p.to)},${y(p.rate)}`]);
  area.setAttribute('d', `M${x(points[0].from)},${CHART_HEIGHT} L${line.join(' L')} L${x(at)},${CHART_HEIGHT} Z`);
  stroke.setAttribute('points', line.join(' '));
}

function chart(parent: HTMLElement): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'kumo-sidebar-chart');
  svg.setAttribute('viewBox', `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const area = document.createElementNS(SVG, 'path');
  area.setAttribute('class', 'kumo-sidebar-chart-area');
  const stroke = document.createElementNS(SVG, 'polyline');
  stroke.setAttribute('class', 'kumo-sidebar-chart-line');
  // The line keeps its width however the box is stretched.
  stroke.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(area, stroke);
  parent.appendChild(svg);
  return svg;
}

/** The node's label as the workspace shows it; the runtime's name (or id) for a node the editor does not have. */
function labelOf(row: SidebarRow): string {
  const node = RED.nodes.node(row.id) as EditorNodeInstance | null;
  return node ? RED.utils.getNodeLabel(node, row.name) : row.name;
}

/** Shows the node: its flow, scrolled to and selected; a broker in the configuration nodes sidebar. */
function reveal(id: string): void {
  const node = RED.nodes.node(id) as { _def?: { category?: string } } | null;
  if (!node) return;
  RED.view.reveal(id);
  if (node._def?.category !== 'config') RED.view.select(id);
}

/** One row, kept across snapshots (so a click is not lost to a redraw) and updated in place. */
class RowView {
  readonly element: HTMLDivElement;
  private readonly name: HTMLSpanElement;
  private readonly aside: HTMLSpanElement;
  private readonly detail: HTMLDivElement;
  private readonly cells: HTMLDivElement;
  private readonly dot: HTMLSpanElement | null;
  private readonly svg: SVGSVGElement | null;
  private readonly history = new RateHistory();
  private cellKeys = '';

  constructor(id: string, broker: boolean) {
    this.element = element('div', 'kumo-sidebar-row');
    this.element.dataset.id = id;
    this.element.title = t('reveal');
    this.element.addEventListener('click', () => reveal(id));
    const head = element('div', 'kumo-sidebar-head', this.element);
    this.dot = broker ? element('span', 'kumo-sidebar-dot', head) : null;
    this.name = element('span', 'kumo-sidebar-name', head);
    this.svg = broker ? null : chart(head);
    this.aside = element('span', broker ? 'kumo-sidebar-state' : 'kumo-sidebar-rate', head);
    this.detail = element('div', 'kumo-sidebar-detail', this.element);
    this.cells = element('div', 'kumo-sidebar-counts', this.element);
  }

  broker(row: BrokerRow, at: number): void {
    this.name.textContent = labelOf(row);
    if (this.dot) this.dot.dataset.colour = STATE_COLOUR[row.state];
    this.element.dataset.state = row.state;
    const time = age((at - row.sinceMs) / 1000);
    this.aside.textContent = t('stateSince', { state: t(`state.${row.state}`), time });
    const where = [row.endpoint, row.state === 'connected' ? null : row.reason].filter((s) => s).join(' · ');
    this.detail.textContent = where;
    this.detail.hidden = where === '';
  }

  counted(row: SidebarRow, shown: Shown, at: number): void {
    this.name.textContent = labelOf(row);
    this.detail.hidden = true;
    if (shown.charted && this.svg) {
      this.history.add(at, shown.charted.value);
      drawChart(this.svg, this.history, at);
      const current = this.history.current;
      this.aside.textContent = current === null ? '' : rate(current);
      this.aside.title = shown.charted.title;
      this.svg.setAttribute('aria-label', shown.charted.title);
    }
    const keys = shown.cells.map((c) => c.key).join(' ');
    if (keys !== this.cellKeys) {
      this.cellKeys = keys;
      this.cells.replaceChildren(
        ...shown.cells.map((c) => {
          const box = element('div', 'kumo-sidebar-count');
          box.dataset.count = c.key;
          element('span', 'kumo-sidebar-count-label', box).textContent = c.label;
          element('span', 'kumo-sidebar-count-value', box);
          return box;
        }),
      );
    }
    shown.cells.forEach((c, i) => {
      const box = this.cells.children[i] as HTMLElement;
      (box.lastChild as HTMLElement).textContent = c.value;
      box.title = c.title ?? '';
    });
  }
}

/** A section: its title, its rows in the snapshot's order, "none deployed" when it has none. */
class SectionView {
  private readonly rows = new Map<string, RowView>();
  private readonly list: HTMLDivElement;
  private readonly empty: HTMLDivElement;

  constructor(
    parent: HTMLElement,
    key: string,
    private readonly brokers = false,
  ) {
    const section = element('div', 'kumo-sidebar-section', parent);
    section.dataset.section = key;
    element('div', 'kumo-sidebar-title', section).textContent = t(`section.${key}`);
    this.list = element('div', 'kumo-sidebar-rows', section);
    this.empty = element('div', 'kumo-sidebar-empty', section);
    this.empty.textContent = t('none');
  }

  /** The rows of this snapshot, created or updated by `update`; rows of nodes gone are removed. */
  show<R extends SidebarRow>(rows: R[], update: (view: RowView, row: R) => void): void {
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      let view = this.rows.get(row.id);
      if (!view) {
        view = new RowView(row.id, this.brokers);
        this.rows.set(row.id, view);
      }
      update(view, row);
      this.list.appendChild(view.element);
    }
    for (const [id, view] of this.rows) {
      if (seen.has(id)) continue;
      view.element.remove();
      this.rows.delete(id);
    }
    this.empty.hidden = rows.length > 0;
  }
}

function createTab(): void {
  // Until a snapshot comes every section says "none deployed": the runtime sends none while nothing is.
  const content = element('div', 'kumo-sidebar');
  const brokers = new SectionView(content, 'brokers', true);
  const protocols = new SectionView(content, 'customProtocols');
  const consumers = new SectionView(content, 'consumers');
  const hooks = new SectionView(content, 'logHooks');

  RED.sidebar.addTab({
    id: TAB,
    label: TAB,
    name: TAB,
    iconClass: 'fa fa-tachometer',
    content,
    enableOnEdit: true,
  });

  RED.comms.subscribe(TOPIC, (_topic, data: SidebarSnapshot) => {
    const at = data.at;
    brokers.show(data.brokers, (view, row) => view.broker(row, at));
    protocols.show(data.customProtocols, (view, row) => view.counted(row, customProtocol(row), at));
    // amqp ack acknowledges what the consumers delivered: its rows follow theirs.
    consumers.show<SidebarRow>([...data.consumers, ...data.acks], (view, row) =>
      view.counted(row, row.type === 'amqp-ack' ? ack(row as AckRow) : consumer(row as ConsumerRow), at),
    );
    hooks.show(data.logHooks, (view, row) => view.counted(row, logHook(row), at));
  });
}

const flags = window as unknown as { kumoSidebar?: boolean };
if (!flags.kumoSidebar) {
  flags.kumoSidebar = true;
  createTab();
}
