// amqp ack's editor: one choice, named on the node.

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import { CATEGORY, editorText, RED, validator, upgradeNode } from '../../editor/editor-red';
import { actionOf, DEFAULTS, MIGRATIONS, TYPE, VERSION, type AmqpAckSettings } from './settings';

type AckProperties = EditorNodeProperties & AmqpAckSettings;

const t = editorText('amqp-ack');

const definition: EditorNodeDef<AckProperties> = {
  category: CATEGORY,
  color: '#F0963F',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    action: {
      value: DEFAULTS.action,
      validate: validator<AckProperties>((v) => (actionOf(v) === null ? t('errors.action') : true)),
    },
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  inputs: 1,
  outputs: 1,
  outputLabels: () => t('outputs.settled'),
  icon: 'amqp-ack.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    if (this.name) return this.name;
    const action = actionOf(this.action) ?? DEFAULTS.action;
    return t('label.node', { action: t(`short.${action}`) });
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
};

RED.nodes.registerType('amqp-ack', definition);
