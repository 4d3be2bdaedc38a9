// custom protocol's editor. The event name is checked by the runtime's own rule
// (core/event-names: KumoMTA's predefined events and the smtp_server_ prefix) and
// must be unique among the deployed custom protocol nodes; the dialog lists the
// queue config rules that route to it.

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import { EventNameError, validateEventName } from '../../core/kumo/event-names';
import { batchProblem } from '../../editor/batch-fields';
import type { RuleDefinition } from '../../core/kumo/queue-config';
import {
  CATEGORY,
  coreText,
  currentValue,
  editorText,
  labelled,
  RED,
  validator,
  upgradeNode,
} from '../../editor/editor-red';
import {
  eachNodeOfType,
  type FlowNode,
  isDeployed,
  matchSummary,
  nodeLabel,
  nodeLink,
  placeOf,
} from '../../editor/protocol-binding';
import {
  DEFAULTS,
  maxInFlightOf,
  maxQueuedMBOf,
  maxQueuedOf,
  MIGRATIONS,
  timeoutOf,
  TYPE,
  VERSION,
  type CustomProtocolSettings,
} from './settings';

type CustomProtocolProperties = EditorNodeProperties & CustomProtocolSettings;

const t = editorText(TYPE);
const core = coreText(TYPE);
// Every validator declares (value, options): Node-RED shows the message a
// validator returns only when it takes two arguments, else it reads "valid".

function eventNameProblem(name: string): string | null {
  // The runtime trims the name; the form refuses blanks around it, since the
  // other nodes and the rules compare names as they were saved.
  if (name !== '' && name !== name.trim()) return t('errors.event-space');
  try {
    validateEventName(name);
    return null;
  } catch (err) {
    if (!(err instanceof EventNameError)) throw err;
    switch (err.reason) {
      case 'predefined':
        return t('errors.event-predefined', { name });
      case 'invisible':
        return t('errors.event-space');
      default:
        return t('errors.event-empty');
    }
  }
}

/** The other deployed custom protocol node bound to the name, if any: a deploy would refuse the second. */
function otherBinding(self: { id?: string }, name: string): FlowNode | null {
  let other: FlowNode | null = null;
  eachNodeOfType(TYPE, (n) => {
    if (n.id !== self.id && n.eventName === name && isDeployed(n)) other = n;
    return other === null;
  });
  return other;
}

/**
 * The name itself when no other custom protocol node has it, else the name followed by the first free
 * number (make.amqp2, make.amqp3, ...): a node fresh from the palette or pasted must not start out
 * claiming a constructor another node is bound to.
 */
function freeEventName(self: { id?: string }, name: string): string {
  const taken = new Set<unknown>();
  eachNodeOfType(TYPE, (n) => {
    if (n.id !== self.id) taken.add(n.eventName);
    return true;
  });
  if (!taken.has(name)) return name;
  let i = 2;
  while (taken.has(`${name}${i}`)) i++;
  return `${name}${i}`;
}

/** The three batch settings are checked together, by the core's own rule (min not above the batch size). */
function batchFieldValidator(this: CustomProtocolProperties): boolean | string {
  return batchProblem(core.render, {
    batch_size: currentValue(this, 'batchSize'),
    min_batch_size: currentValue(this, 'minBatchSize'),
    max_batch_latency: currentValue(this, 'maxBatchLatency'),
  });
}

const definition: EditorNodeDef<CustomProtocolProperties> = {
  category: CATEGORY,
  color: '#F7AE5B',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    eventName: labelled(
      {
        value: DEFAULTS.eventName,
        required: true,
        validate: validator<CustomProtocolProperties & { id?: string }>(function (v, _opt) {
          const name = v || '';
          const problem = eventNameProblem(name);
          if (problem !== null) return problem;
          const other = otherBinding(this, name);
          if (other === null) return true;
          return t('errors.event-taken', { name, node: nodeLabel(other), flow: placeOf(other) });
        }),
      },
      t('label.eventName'),
    ),
    timeout: labelled(
      {
        value: DEFAULTS.timeout,
        validate: validator<CustomProtocolProperties>((v, _opt) =>
          timeoutOf(v) === null ? t('errors.timeout') : true,
        ),
      },
      t('label.timeout'),
    ),
    maxInFlight: labelled(
      {
        value: DEFAULTS.maxInFlight,
        validate: validator<CustomProtocolProperties>((v, _opt) =>
          maxInFlightOf(v) === null ? t('errors.max-in-flight') : true,
        ),
      },
      t('label.maxInFlight'),
    ),
    maxQueued: labelled(
      {
        value: DEFAULTS.maxQueued,
        // Blank, or missing in flows saved before this setting existed: the runtime's default applies.
        validate: validator<CustomProtocolProperties>((v, _opt) =>
          maxQueuedOf(v) === null ? t('errors.max-queued') : true,
        ),
      },
      t('label.maxQueued'),
    ),
    maxQueuedMB: labelled(
      {
        value: DEFAULTS.maxQueuedMB,
        validate: validator<CustomProtocolProperties>((v, _opt) =>
          maxQueuedMBOf(v) === null ? t('errors.max-queued-mb') : true,
        ),
      },
      t('label.maxQueuedMB'),
    ),
    // Missing in flows saved before the setting existed: on, as the runtime takes it.
    spool: { value: DEFAULTS.spool },
    batchSize: { value: DEFAULTS.batchSize, validate: validator<CustomProtocolProperties>(batchFieldValidator) },
    minBatchSize: { value: DEFAULTS.minBatchSize, validate: validator<CustomProtocolProperties>(batchFieldValidator) },
    maxBatchLatency: {
      value: DEFAULTS.maxBatchLatency,
      validate: validator<CustomProtocolProperties>(batchFieldValidator),
    },
  },
  inputs: 1,
  outputs: 2,
  outputLabels: (i) => t(i === 0 ? 'outputs.send' : 'outputs.log'),
  icon: 'kumo-custom-protocol.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    return this.name || this.eventName || t('paletteLabel');
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    this.eventName = freeEventName(this, this.eventName || 'make.amqp');
    // Node-RED validated this node, and the others against it, under the name it came with: a copy
    // imported on top would keep "already used" under its new name, and the original with it.
    revalidateCustomProtocols();
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    const refresh = () => {
      const eventName = String($('#node-input-eventName').val()).trim();
      $('#node-input-kumo-lua').text(`kumo.on('${eventName || '…'}', function(domain, tenant, campaign) …)`);

      const list = $('#node-input-kumo-routed').empty();
      let found = 0;
      eachNodeOfType('kumo-queue-config', (n) => {
        const rules = (n.rules as Partial<RuleDefinition>[] | undefined) || [];
        rules.forEach((rule, i) => {
          // The runtime binds the constructor trimmed (core/event-names), so the list does too.
          const constructorName = typeof rule.constructor === 'string' ? rule.constructor.trim() : '';
          if (rule.protocol !== 'custom_lua' || constructorName !== eventName || eventName === '') return;
          found++;
          const li = $('<li>').appendTo(list);
          nodeLink(n).appendTo(li);
          li.append(
            $('<span>').text(` ${t('routes.rule', { index: i + 1, match: matchSummary(rule, t, t('routes.any')) })}`),
          );
          if (!isDeployed(n)) li.append($('<span>').text(` ${t('routes.disabled')}`));
        });
        return true;
      });
      if (!found) {
        $('<li class="kumo-cp-none"></li>')
          .text(t('routes.none', { name: eventName || '…' }))
          .appendTo(list);
      }
    };
    $('#node-input-eventName').on('input change', refresh);
    refresh();
  },
};

RED.nodes.registerType(TYPE, definition);

// An event name is "taken" relative to the other custom protocol nodes, so
// when one is added, removed, changed or (de)activated the others are
// checked again; otherwise a pasted copy leaves the original looking valid,
// and deleting one of two leaves the other marked invalid.
let revalidating = false;
function revalidateCustomProtocols(event?: { node?: FlowNode; type?: string }): void {
  const node = event && (event.node || event);
  if (revalidating || (node?.type && node.type !== TYPE && node.type !== 'tab')) return;
  revalidating = true;
  try {
    eachNodeOfType(TYPE, (n) => {
      if (n === node) return true;
      const before = n.valid;
      RED.editor.validateNode(n);
      if (before !== n.valid) n.dirty = true;
      return true;
    });
    RED.view.redraw();
  } finally {
    revalidating = false;
  }
}
for (const name of ['nodes:add', 'nodes:remove', 'nodes:change', 'flows:change']) {
  RED.events.on(name, revalidateCustomProtocols);
}
