// What an operator reads of the deployed nodes: Prometheus metrics and the brokers' health on
// Node-RED's admin API (metrics.ts), and the kumomta sidebar's live feed (sidebar-feed.ts).
// Every node type's register() calls serveOperations(RED); the first one starts them.

import type { NodeAPI } from 'node-red';
import { ackers, brokers, consumers, customProtocols, logHooks, serveMetrics } from './metrics';
import { startSidebarFeed } from './sidebar-feed';

export function serveOperations(RED: NodeAPI): void {
  if (serveMetrics(RED)) startSidebarFeed(RED, { brokers, customProtocols, consumers, acks: ackers, logHooks });
}
