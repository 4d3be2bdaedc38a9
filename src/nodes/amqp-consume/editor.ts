// amqp consume's editor: the queue and, when the node declares it, its
// arguments and binding, checked by the same core function the runtime uses
// (core/consumer-queue); the tip under Acknowledge says what the mode promises.

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import {
  EXCHANGE_TYPES,
  type QueueField,
  type QueueProblem,
  QUEUE_TYPES,
  queueDeclaration,
  queueNameProblems,
  type QueueSettings,
} from '../../core/amqp/consumer-queue';
import {
  CATEGORY,
  coreText,
  currentValue,
  editorText,
  labelled,
  RED,
  validator,
  takeTheOnlyBroker,
  upgradeNode,
} from '../../editor/editor-red';
import {
  ackModeOf,
  DEFAULTS,
  MIGRATIONS,
  outputOf,
  prefetchOf,
  TYPE,
  unackedActionOf,
  unackedTimeoutOf,
  VERSION,
  type AmqpConsumeSettings,
} from './settings';

type ConsumeProperties = EditorNodeProperties & AmqpConsumeSettings;

const t = editorText('amqp-consume');
const core = coreText('amqp-consume');

const DECLARATION_FIELDS: (keyof QueueSettings)[] = [
  'durable',
  'queueType',
  'deadLetterExchange',
  'deadLetterRoutingKey',
  'messageTtl',
  'queueArguments',
  'exchange',
  'exchangeType',
  'routingKey',
];

function checked(node: object, prop: string): boolean {
  const el = $(`#node-input-${prop}`);
  return el.length ? el.is(':checked') : (node as Record<string, unknown>)[prop] !== false;
}

/** The settings as the dialog holds them now (or as saved, outside the dialog). */
function settingsOf(node: ConsumeProperties): QueueSettings {
  const settings: Record<string, unknown> = { queue: String(currentValue(node, 'queue') ?? '') };
  for (const field of DECLARATION_FIELDS) {
    settings[field] = field === 'durable' ? checked(node, field) : (currentValue(node, field) ?? '');
  }
  return settings as unknown as QueueSettings;
}

function problemText(problem: QueueProblem): string {
  return t(`errors.${problem.field}-${problem.kind}`, {
    detail: problem.detail ?? '',
    reason: problem.said ? core.render(problem.said) : '',
  });
}

/** A validator for one field: the first problem the core finds in it, in the editor's words. */
function fieldCheck(field: QueueField) {
  return validator<ConsumeProperties>(function () {
    const declare = checked(this, 'declare');
    const problems = declare
      ? queueDeclaration(settingsOf(this)).problems
      : field === 'queue'
        ? queueNameProblems(currentValue(this, 'queue'), false)
        : [];
    const mine = problems.find((p) => p.field === field);
    return mine ? problemText(mine) : true;
  });
}

const definition: EditorNodeDef<ConsumeProperties> = {
  category: CATEGORY,
  color: '#F0963F',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    broker: labelled({ value: DEFAULTS.broker, type: 'amqp-broker', required: true }, t('label.broker')),
    queue: labelled({ value: DEFAULTS.queue, validate: fieldCheck('queue') }, t('label.queue')),
    declare: { value: DEFAULTS.declare },
    durable: { value: DEFAULTS.durable, validate: fieldCheck('durable') },
    queueType: labelled({ value: DEFAULTS.queueType, validate: fieldCheck('queueType') }, t('label.queueType')),
    deadLetterExchange: { value: DEFAULTS.deadLetterExchange, validate: fieldCheck('deadLetterExchange') },
    deadLetterRoutingKey: { value: DEFAULTS.deadLetterRoutingKey, validate: fieldCheck('deadLetterRoutingKey') },
    messageTtl: labelled({ value: DEFAULTS.messageTtl, validate: fieldCheck('messageTtl') }, t('label.messageTtl')),
    queueArguments: labelled(
      { value: DEFAULTS.queueArguments, validate: fieldCheck('queueArguments') },
      t('label.queueArguments'),
    ),
    exchange: labelled({ value: DEFAULTS.exchange, validate: fieldCheck('exchange') }, t('label.exchange')),
    exchangeType: { value: DEFAULTS.exchangeType, validate: fieldCheck('exchangeType') },
    routingKey: labelled({ value: DEFAULTS.routingKey, validate: fieldCheck('routingKey') }, t('label.routingKey')),
    prefetch: labelled(
      {
        value: DEFAULTS.prefetch,
        validate: validator<ConsumeProperties>((v) => (prefetchOf(v) === null ? t('errors.prefetch') : true)),
      },
      t('label.prefetch'),
    ),
    ackMode: {
      value: DEFAULTS.ackMode,
      validate: validator<ConsumeProperties>((v) => (ackModeOf(v) === null ? t('errors.ack-mode') : true)),
    },
    unackedTimeout: {
      value: DEFAULTS.unackedTimeout,
      // Blank, or missing in flows saved before the setting existed: the default applies.
      validate: validator<ConsumeProperties>((v) =>
        unackedTimeoutOf(v) === null ? t('errors.unacked-timeout') : true,
      ),
    },
    unackedAction: {
      value: DEFAULTS.unackedAction,
      validate: validator<ConsumeProperties>((v) => (unackedActionOf(v) === null ? t('errors.unacked-action') : true)),
    },
    output: {
      value: DEFAULTS.output,
      validate: validator<ConsumeProperties>((v) => (outputOf(v) === null ? t('errors.output') : true)),
    },
  },
  inputs: 0,
  outputs: 1,
  outputLabels: () => t('outputs.message'),
  icon: 'amqp-consume.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    return this.name || t('label.node', { queue: this.queue || t('label.emptyQueue') });
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    takeTheOnlyBroker(this);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    const queueType = $('#node-input-queueType');
    for (const type of QUEUE_TYPES)
      queueType.append(
        $('<option>')
          .val(type)
          .text(t(`queueType.${type}`)),
      );
    queueType.val(this.queueType || 'classic');
    const exchangeType = $('#node-input-exchangeType');
    for (const type of EXCHANGE_TYPES)
      exchangeType.append(
        $('<option>')
          .val(type)
          .text(t(`exchangeType.${type || 'existing'}`)),
      );
    exchangeType.val(this.exchangeType || '');
    $('#node-input-queueArguments').typedInput({ types: ['json'] });

    const refresh = () => {
      $('#node-input-declaration').toggle($('#node-input-declare').is(':checked'));
      $('#node-input-consume-tip').html(t(`tip.${$('#node-input-ackMode').val() === 'auto' ? 'auto' : 'manual'}`));
      $('.amqp-consume-manual').toggle($('#node-input-ackMode').val() !== 'auto');
    };
    $('#node-input-declare, #node-input-ackMode').on('change', refresh);
    refresh();
  },
};

RED.nodes.registerType('amqp-consume', definition);
