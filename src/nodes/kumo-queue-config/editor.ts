// queue config's editor: the ordered rules, each row checked as it is typed by
// the core that compiles the rules at deploy, and a summary of where each rule
// routes (the custom protocol node bound to its constructor, like link nodes).

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import {
  MATCH_FIELDS,
  type MatchOp,
  RULE_BATCH_FIELDS,
  RULE_DURATION_FIELDS,
  type RuleDefinition,
  type RuleField,
} from '../../core/kumo/queue-config';
import { QueueNameError, queueNameFrom } from '../../core/kumo/queue-name';
import {
  CATEGORY,
  coreText,
  currentValue,
  editorText,
  labelled,
  RED,
  utils,
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
} from '../../editor/protocol-binding';
import {
  defaultRule,
  type FormRule,
  formProblems,
  keepUnshown,
  MATCH_OPS,
  normaliseRule,
  PROTOCOLS,
  routedEvents,
} from '../../editor/queue-config-rules';
import { DEFAULTS, MIGRATIONS, TYPE, VERSION, type QueueConfigSettings } from './settings';

type QueueConfigProperties = EditorNodeProperties & QueueConfigSettings;

interface Binding {
  enabled: FlowNode[];
  disabled: number;
}

const t = editorText('kumo-queue-config');
const core = coreText('kumo-queue-config');

// Custom protocol nodes by event name, as the runtime will bind them: disabled ones do not count.
function protocolNodesByEvent(): Map<string, Array<{ node: FlowNode; enabled: boolean }>> {
  // A Map: an event may well be called "constructor" or "toString".
  const byEvent = new Map<string, Array<{ node: FlowNode; enabled: boolean }>>();
  eachNodeOfType('kumo-custom-protocol', (n) => {
    const name = n.eventName;
    if (typeof name !== 'string' || name === '') return true;
    const list = byEvent.get(name) ?? [];
    list.push({ node: n, enabled: isDeployed(n) });
    byEvent.set(name, list);
    return true;
  });
  return byEvent;
}

function binding(byEvent: ReturnType<typeof protocolNodesByEvent>, eventName: string): Binding {
  const all = byEvent.get(eventName) ?? [];
  const enabled = all.filter((e) => e.enabled).map((e) => e.node);
  return { enabled, disabled: all.length - enabled.length };
}

// The rule a row of the dialog holds now.
function exportRule(row: JQuery): FormRule {
  const val = (selector: string): string => String(row.find(selector).val() ?? '');
  const match = {} as FormRule['match'];
  for (const f of MATCH_FIELDS) {
    // The select offers MATCH_OPS only.
    const op = val(`.kumo-qc-op[data-field='${f}']`) as MatchOp;
    match[f] = { op, value: op === 'any' ? '' : val(`.kumo-qc-value[data-field='${f}']`) };
  }
  // editableList keeps the row's data ({ r: the saved rule }, {} for a new row) on the row.
  const saved = (row.data('data') as { r?: unknown } | undefined)?.r;
  return keepUnshown(saved, {
    match,
    protocol: val('.kumo-qc-protocol'),
    constructor: val('.kumo-qc-constructor').trim(),
    maildir_path: val('.kumo-qc-maildir').trim(),
    retry_interval: val(".kumo-qc-duration[data-prop='retry_interval']").trim(),
    max_retry_interval: val(".kumo-qc-duration[data-prop='max_retry_interval']").trim(),
    max_age: val(".kumo-qc-duration[data-prop='max_age']").trim(),
    batch_size: val(".kumo-qc-batch[data-prop='batch_size']").trim(),
    min_batch_size: val(".kumo-qc-batch[data-prop='min_batch_size']").trim(),
    max_batch_latency: val(".kumo-qc-batch[data-prop='max_batch_latency']").trim(),
  });
}

const INPUT_OF: Partial<Record<RuleField, string>> = {
  protocol: '.kumo-qc-protocol',
  constructor: '.kumo-qc-constructor',
  maildir_path: '.kumo-qc-maildir',
};

/** The input of a row that a problem belongs to, or null when it has none ('match', or a whole rule). */
function inputOf(field: RuleField | null): string | null {
  if (field === null) return null;
  if ((MATCH_FIELDS as readonly string[]).includes(field)) return `.kumo-qc-value[data-field='${field}']`;
  if ((RULE_DURATION_FIELDS as readonly string[]).includes(field)) return `.kumo-qc-duration[data-prop='${field}']`;
  if ((RULE_BATCH_FIELDS as readonly string[]).includes(field)) return `.kumo-qc-batch[data-prop='${field}']`;
  return INPUT_OF[field] ?? null;
}

// Partial<RuleDefinition> declares `constructor?: string`, which every object
// literal's inherited Object.prototype.constructor fails to match: only the match counts here.
const summarised = (rule: FormRule): Partial<RuleDefinition> => ({ match: rule.match }) as Partial<RuleDefinition>;

/** Node-RED lists every message of an array a validator returns: one line per problem of every rule. */
function validateRules(rules: unknown): true | string[] {
  if (rules != null && !Array.isArray(rules)) return [t('errors.rules-not-list')];
  const errors: string[] = [];
  (Array.isArray(rules) ? rules : []).forEach((rule, i) => {
    for (const p of formProblems(rule, t, core.render))
      errors.push(t('errors.rule', { index: i + 1, message: p.message }));
  });
  return errors.length ? errors : true;
}

const definition: EditorNodeDef<QueueConfigProperties> = {
  category: CATEGORY,
  color: '#FCCB7E',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    queue: labelled(
      {
        value: DEFAULTS.queue,
        validate: validator<QueueConfigProperties>(function (v, opt) {
          const type = String(currentValue(this, 'queueType') || 'msg');
          if ((v || '') === '') return t('errors.queue-empty');
          if (type === 'msg') return utils().validateTypedProperty(v, 'msg', opt);
          if (type !== 'str') return true;
          // A fixed queue is parsed by the runtime for every message: say now what it would say then.
          try {
            queueNameFrom(v);
            return true;
          } catch (err) {
            if (!(err instanceof QueueNameError)) throw err;
            return t('errors.queue-name', { error: core.render(err) });
          }
        }),
      },
      t('label.queue'),
    ),
    queueType: { value: DEFAULTS.queueType },
    rules: {
      value: DEFAULTS.rules,
      validate: validateRules as unknown as (this: unknown, value: string) => boolean,
    },
  },
  inputs: 1,
  outputs: 1,
  outputLabels: () => t('outputs.other'),
  icon: 'kumo-queue-config.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    if (this.name) return this.name;
    // Like link nodes, show where the messages go: the constructors the rules route to.
    const events = routedEvents(this.rules);
    return events.length
      ? t('label.routes', { events: events.join(', ') })
      : t('label.node', { count: (this.rules || []).length });
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    const byEvent = protocolNodesByEvent();
    const container = $('#node-input-rule-container');

    $('#node-input-queue').typedInput({
      default: 'msg',
      typeField: $('#node-input-queueType'),
      types: ['msg', 'str', 'env'],
    });

    const datalist = $('#node-input-kumo-constructors');
    for (const name of [...byEvent.keys()].sort()) {
      const who = binding(byEvent, name).enabled[0] ?? (byEvent.get(name) ?? [])[0].node;
      $('<option>').attr('value', name).text(nodeLabel(who)).appendTo(datalist);
    }

    const unbound = (b: Binding, name: string): string =>
      t(b.disabled ? 'summary.disabled' : 'summary.missing', { name });

    function updateRoutes(): void {
      const list = $('#node-input-kumo-routes').empty();
      container.editableList('items').each(function (i) {
        const rule = exportRule($(this));
        const li = $('<li>').appendTo(list);
        li.append(
          $('<span>').text(
            `${t('summary.rule', { index: i + 1, match: matchSummary(summarised(rule), t, t('summary.any')) })} → `,
          ),
        );
        if (rule.protocol !== 'custom_lua') {
          li.append($('<span>').text(t('summary.output', { protocol: t(`protocol.${rule.protocol}`) })));
          return;
        }
        li.append($('<code>').text(rule.constructor));
        li.append(' ');
        const b = binding(byEvent, rule.constructor);
        if (b.enabled.length) {
          li.append($('<i class="fa fa-check kumo-bound-ok"></i>'));
          li.append(' ');
          b.enabled.forEach((n, k) => {
            if (k) li.append(', ');
            li.append(nodeLink(n));
          });
        } else if (rule.constructor !== '') {
          li.append(
            $('<span class="kumo-bound-missing"></span>')
              .append('<i class="fa fa-exclamation-triangle"></i> ')
              .append($('<span>').text(unbound(b, rule.constructor))),
          );
        }
      });
      $('<li>').text(t('summary.default')).appendTo(list);
    }

    function refreshRow(row: JQuery): void {
      const rule = exportRule(row);
      for (const f of MATCH_FIELDS) {
        row.find(`.kumo-qc-value[data-field='${f}']`).toggle(rule.match[f].op !== 'any');
      }
      row.find('.kumo-qc-constructor, .kumo-qc-bound, .kumo-qc-batches').toggle(rule.protocol === 'custom_lua');
      row.find('.kumo-qc-maildir').toggle(rule.protocol === 'maildir');
      row.find('.kumo-qc-smtp-note').toggle(rule.protocol === 'smtp');

      const bound = row.find('.kumo-qc-bound').empty().removeAttr('title');
      if (rule.protocol === 'custom_lua' && rule.constructor !== '') {
        const b = binding(byEvent, rule.constructor);
        if (b.enabled.length) {
          bound
            .append('<i class="fa fa-link kumo-bound-ok"></i>')
            .attr('title', t('summary.bound', { nodes: b.enabled.map(nodeLabel).join(', ') }));
        } else {
          bound
            .append('<i class="fa fa-exclamation-triangle kumo-bound-missing"></i>')
            .attr('title', unbound(b, rule.constructor));
        }
      }

      const problems = formProblems(rule, t, core.render);
      row.find('input, select').removeClass('input-error');
      const errors = row.find('.kumo-qc-errors').empty();
      for (const p of problems) {
        const input = inputOf(p.field);
        if (input) row.find(input).addClass('input-error');
        $('<div>').text(p.message).appendTo(errors);
      }
    }

    function renumber(): void {
      container.editableList('items').each(function (i) {
        $(this)
          .find('.kumo-qc-index')
          .text(`#${i + 1}`);
      });
      updateRoutes();
    }

    function addRow(row: JQuery, i: number, data: { r?: unknown }): void {
      const rule = normaliseRule(data.r ?? defaultRule(i === 0));
      row.addClass('kumo-qc-rule');
      $('<span class="kumo-qc-index"></span>')
        .text(`#${i + 1}`)
        .appendTo(row);
      const fields = $('<div class="kumo-qc-fields"></div>').appendTo(row);

      for (const f of MATCH_FIELDS) {
        const line = $('<div class="kumo-qc-line"></div>').appendTo(fields);
        $('<label></label>')
          .text(t(`field.${f}`))
          .appendTo(line);
        const select = $('<select class="kumo-qc-op"></select>').attr('data-field', f).appendTo(line);
        for (const op of MATCH_OPS) {
          $('<option></option>')
            .val(op)
            .text(t(`op.${op}`))
            .appendTo(select);
        }
        select.val(rule.match[f].op);
        $('<input type="text" class="kumo-qc-value">')
          .attr('data-field', f)
          .attr('placeholder', t(`placeholder.${f}`))
          .val(rule.match[f].value)
          .appendTo(line);
      }

      const pline = $('<div class="kumo-qc-line"></div>').appendTo(fields);
      $('<label></label>').text(t('label.protocol')).appendTo(pline);
      const protocol = $('<select class="kumo-qc-protocol"></select>').appendTo(pline);
      for (const p of PROTOCOLS) {
        $('<option></option>')
          .val(p)
          .text(t(`protocol.${p}`))
          .appendTo(protocol);
      }
      protocol.val(rule.protocol);
      $('<input type="text" class="kumo-qc-constructor" list="node-input-kumo-constructors">')
        .attr('placeholder', t('placeholder.constructor'))
        .val(rule.constructor)
        .appendTo(pline);
      $('<span class="kumo-qc-bound"></span>').appendTo(pline);
      $('<input type="text" class="kumo-qc-maildir">')
        .attr('placeholder', t('placeholder.maildir_path'))
        .val(rule.maildir_path)
        .appendTo(pline);
      $('<span class="kumo-qc-smtp-note"></span>').text(t('summary.smtp-note')).appendTo(pline);

      const dline = $('<div class="kumo-qc-durations"></div>').appendTo(fields);
      for (const p of RULE_DURATION_FIELDS) {
        const cell = $('<div></div>').appendTo(dline);
        $('<label></label>')
          .text(t(`label.${p}`))
          .appendTo(cell);
        $('<input type="text" class="kumo-qc-duration">')
          .attr('data-prop', p)
          .attr('placeholder', t(`placeholder.${p}`))
          .val(rule[p])
          .appendTo(cell);
      }
      // KumoMTA's custom_lua batching (send_batch); blank takes the custom protocol node's settings.
      const bline = $('<div class="kumo-qc-durations kumo-qc-batches"></div>').appendTo(fields);
      for (const p of RULE_BATCH_FIELDS) {
        const cell = $('<div></div>').appendTo(bline);
        $('<label></label>')
          .text(t(`label.${p}`))
          .appendTo(cell);
        $('<input type="text" class="kumo-qc-batch">')
          .attr('data-prop', p)
          .attr('placeholder', t(`placeholder.${p}`))
          .val(rule[p])
          .appendTo(cell);
      }
      $('<div class="kumo-qc-errors"></div>').appendTo(fields);

      row.on('change input', 'input, select', () => {
        refreshRow(row);
        updateRoutes();
      });
      refreshRow(row);
      // editableList adds the row after this callback returns.
      setTimeout(renumber, 0);
    }

    container.css('min-height', '150px').css('min-width', '450px').editableList<{ r?: unknown }>({
      addItem: addRow,
      removeItem: renumber,
      sortItems: renumber,
      sortable: true,
      removable: true,
    });

    for (const r of this.rules || []) container.editableList('addItem', { r });
    updateRoutes();
  },
  oneditsave: function () {
    const rules: FormRule[] = [];
    $('#node-input-rule-container')
      .editableList('items')
      .each(function () {
        rules.push(exportRule($(this)));
      });
    this.rules = rules;
  },
  oneditresize: (size) => {
    const rows = $('#dialog-form>div:not(.node-input-rule-container-row)');
    let height = size.height;
    for (let i = 0; i < rows.length; i++) height -= $(rows[i]).outerHeight(true) ?? 0;
    const editorRow = $('#dialog-form>div.node-input-rule-container-row');
    height -= parseInt(editorRow.css('marginTop'), 10) + parseInt(editorRow.css('marginBottom'), 10);
    height += 16;
    $('#node-input-rule-container').editableList('height', Math.max(height, 200));
  },
};

RED.nodes.registerType('kumo-queue-config', definition);
