// The binding between queue config rules and custom protocol nodes, as the
// editor shows it: which nodes a deploy binds, where they are, what a rule
// matches. Both ends of the binding draw it (custom protocol lists the rules
// that route to it; queue config names the node each rule reaches).

import { MATCH_FIELDS, type MatchField } from '../core/kumo/queue-config';
import { type EditorTranslate, RED } from './editor-red';

/** A node as the editor holds it: its flow JSON properties, `z` (its flow or subflow) and `d` (disabled). */
export interface FlowNode {
  id: string;
  type: string;
  z: string;
  d?: boolean;
  [property: string]: unknown;
}

interface Place {
  id: string;
  label?: string;
  name?: string;
  disabled?: boolean;
}

/** The parts of RED.nodes used here; DefinitelyTyped declares workspace() and subflow() without their id. */
interface FlowNodes {
  workspace(id: string): Place | undefined;
  subflow(id: string): Place | undefined;
  eachNode(visit: (node: FlowNode) => boolean): void;
}

const flowNodes = (): FlowNodes => RED.nodes as unknown as FlowNodes;

/** The part of a rule (saved, or as a form holds it) that says what it matches. */
export interface RuleMatch {
  match?: Partial<Record<MatchField, { op?: string; value?: string }>>;
}

/** Every node of the type, in the editor's order; `visit` returns false to stop. */
export function eachNodeOfType(type: string, visit: (node: FlowNode) => boolean | undefined): void {
  flowNodes().eachNode((node) => (node.type === type ? visit(node) !== false : true));
}

/** Disabled nodes, and nodes on disabled flows, are not deployed: they bind nothing. */
export function isDeployed(node: FlowNode): boolean {
  return !node.d && !flowNodes().workspace(node.z)?.disabled;
}

/** The name of the flow or subflow the node is on, for a message or a link. */
export function placeOf(node: FlowNode): string {
  const place = flowNodes().workspace(node.z) || flowNodes().subflow(node.z);
  return place ? place.label || place.name || place.id : '';
}

export function nodeLabel(node: FlowNode): string {
  return RED.utils.getNodeLabel(node as unknown as Parameters<typeof RED.utils.getNodeLabel>[0], node.id);
}

/** A link that shows the node on its flow: its label and, in brackets, the flow's. */
export function nodeLink(node: FlowNode): JQuery {
  const place = placeOf(node);
  return $('<a href="#"></a>')
    .text(nodeLabel(node) + (place ? ` (${place})` : ''))
    .on('click', (e) => {
      e.preventDefault();
      RED.view.reveal(node.id);
    });
}

/** What a rule matches, e.g. `domain == "amqp", tenant ~ /^acme/`; `any` when it matches every message. */
export function matchSummary(rule: RuleMatch, t: EditorTranslate, any: string): string {
  const parts: string[] = [];
  for (const field of MATCH_FIELDS) {
    const match = rule.match?.[field];
    if (match?.op === 'eq') parts.push(`${t(`field.${field}`)} == "${match.value || ''}"`);
    else if (match?.op === 'regex') parts.push(`${t(`field.${field}`)} ~ /${match.value || ''}/`);
  }
  return parts.length ? parts.join(', ') : any;
}
