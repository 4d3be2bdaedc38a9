// amqp publish's editor: the routing key as a typed input, the settings that only
// matter with mandatory or confirms shown with them, and a tip when the default
// exchange's routing (by queue name) would drop the messages.

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import { fitsShortString } from '../../core/amqp/amqp-names';
import {
  CATEGORY,
  coreText,
  currentValue,
  editorText,
  labelled,
  RED,
  utils,
  validator,
  takeTheOnlyBroker,
  upgradeNode,
} from '../../editor/editor-red';
import { parseArguments } from '../../core/amqp/consumer-queue';
import {
  arrayPayloadOf,
  confirmTimeoutOf,
  DEFAULTS,
  maxWaitingOf,
  MIGRATIONS,
  nackedAsOf,
  returnedAsOf,
  ROUTING_KEY_TYPES,
  TYPE,
  VERSION,
  type AmqpPublishSettings,
} from './settings';

type PublishProperties = EditorNodeProperties & AmqpPublishSettings;

const t = editorText('amqp-publish');
const core = coreText('amqp-publish');
// Every validator declares (value, options): Node-RED shows the message a
// validator returns only when it takes two arguments, else it reads "valid".

// Exchange names, routing keys and queue names are AMQP short strings.
const fitsName = (value: unknown): boolean => fitsShortString(String(value ?? ''));

const definition: EditorNodeDef<PublishProperties> = {
  category: CATEGORY,
  color: '#F0963F',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    broker: labelled({ value: DEFAULTS.broker, type: 'amqp-broker', required: true }, t('label.broker')),
    exchange: {
      value: DEFAULTS.exchange,
      validate: validator<PublishProperties>((v, _opt) => (fitsName(v) ? true : t('errors.exchange-long'))),
    },
    routingKey: labelled(
      {
        value: DEFAULTS.routingKey,
        validate: validator<PublishProperties>(function (v, opt) {
          const type = String(currentValue(this, 'routingKeyType') || 'str');
          if (type !== 'str') return utils().validateTypedProperty(v, type, opt);
          if ((v || '') === '' && (currentValue(this, 'exchange') || '') === '') {
            // Legal AMQP, but the default exchange routes by queue name and no queue is called ''.
            return t('errors.routing-key-empty');
          }
          return fitsName(v) ? true : t('errors.routing-key-long');
        }),
      },
      t('label.routingKey'),
    ),
    routingKeyType: { value: DEFAULTS.routingKeyType },
    persistent: { value: DEFAULTS.persistent },
    mandatory: { value: DEFAULTS.mandatory },
    returnedAs: {
      value: DEFAULTS.returnedAs,
      validate: validator<PublishProperties>((v, _opt) => (returnedAsOf(v) === null ? t('errors.returned-as') : true)),
    },
    arrayPayload: {
      value: DEFAULTS.arrayPayload,
      // Flows saved before the option existed have none: one JSON message, as before.
      validate: validator<PublishProperties>((v, _opt) =>
        arrayPayloadOf(v) === null ? t('errors.array-payload-choice') : true,
      ),
    },
    nackedAs: {
      value: DEFAULTS.nackedAs,
      // Flows saved before the option existed have none: KumoMTA's 500.
      validate: validator<PublishProperties>((v, _opt) => (nackedAsOf(v) === null ? t('errors.nacked-as') : true)),
    },
    waitForConfirm: { value: DEFAULTS.waitForConfirm },
    confirmTimeout: labelled(
      {
        value: DEFAULTS.confirmTimeout,
        validate: validator<PublishProperties>((v, _opt) =>
          typeof confirmTimeoutOf(v) === 'number' ? true : t('errors.confirm-timeout'),
        ),
      },
      t('label.confirmTimeout'),
    ),
    maxWaiting: labelled(
      {
        value: DEFAULTS.maxWaiting,
        validate: validator<PublishProperties>((v, _opt) =>
          maxWaitingOf(v) === null ? t('errors.max-waiting') : true,
        ),
      },
      t('label.maxWaiting'),
    ),
    declareArguments: {
      value: DEFAULTS.declareArguments,
      // The same check amqp consume makes of its own queue arguments, with the core's reason for
      // an argument RabbitMQ 4.3 refuses.
      validate: validator<PublishProperties>((v, _opt) => {
        const { problem } = parseArguments(v);
        if (problem === null) return true;
        return problem.said ? core.render(problem.said) : t('errors.declare-arguments-json');
      }),
    },
    declareQueue: {
      value: DEFAULTS.declareQueue,
      validate: validator<PublishProperties>((v, _opt) => {
        if (!v) return true;
        if (/^amq\./.test(v)) return t('errors.queue-reserved');
        return fitsName(v) ? true : t('errors.queue-long');
      }),
    },
  },
  inputs: 1,
  outputs: 2,
  outputLabels: (i) => t(i === 0 ? 'outputs.delivered' : 'outputs.rejected'),
  icon: 'amqp-publish.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    if (this.name) return this.name;
    const key = this.routingKey || '';
    let target: string;
    switch (this.routingKeyType || 'str') {
      case 'msg':
        target = `msg.${key}`;
        break;
      case 'env':
        target = `env.${key}`;
        break;
      case 'jsonata':
        target = t('label.expression');
        break;
      default:
        target = key === '' ? t('label.emptyKey') : key;
    }
    if (this.exchange) target = `${this.exchange} / ${target}`;
    return t('label.node', { target });
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
    const routingKey = $('#node-input-routingKey');
    routingKey.typedInput({
      default: 'str',
      typeField: $('#node-input-routingKeyType'),
      types: [...ROUTING_KEY_TYPES],
    });

    const refresh = () => {
      // A returned message is told apart only while waiting for confirms.
      $('#node-input-row-returnedAs').toggle(
        $('#node-input-mandatory').is(':checked') && $('#node-input-waitForConfirm').is(':checked'),
      );
      $('#node-input-row-confirmTimeout, #node-input-row-nackedAs').toggle(
        $('#node-input-waitForConfirm').is(':checked'),
      );

      const exchange = String($('#node-input-exchange').val());
      const queue = String($('#node-input-declareQueue').val());
      $('#node-input-row-declareArguments').toggle(queue.trim() !== '');
      const keyType = routingKey.typedInput('type');
      const key = routingKey.typedInput('value');
      let tip = '';
      if (exchange === '' && keyType === 'str' && key !== '') {
        if (queue === '') tip = t('tip.no-queue', { key });
        else if (queue !== key) tip = t('tip.queue-mismatch', { key, queue });
      } else if (exchange !== '' && queue !== '') {
        tip = t('tip.queue-bound', { exchange, queue });
      }
      $('#node-input-queue-tip').text(tip);
      $('#node-input-row-queue-tip').toggle(tip !== '');
    };
    $('#node-input-mandatory, #node-input-waitForConfirm').on('change', refresh);
    $('#node-input-exchange, #node-input-declareQueue').on('input change', refresh);
    routingKey.on('change', refresh);
    // The routing key's validity depends on the exchange.
    $('#node-input-exchange').on('change', () => routingKey.trigger('change'));
    refresh();
  },
};

RED.nodes.registerType('amqp-publish', definition);
