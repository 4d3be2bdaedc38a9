// reject's editor: the code's meaning (transient or permanent) shown as it is typed.

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import { isTransientCode, rejectCode } from '../../core/kumo/reject-code';
import {
  CATEGORY,
  currentValue,
  editorText,
  labelled,
  RED,
  utils,
  validator,
  upgradeNode,
} from '../../editor/editor-red';
import { DEFAULTS, MIGRATIONS, TYPE, VERSION, type RejectSettings } from './settings';

type RejectProperties = EditorNodeProperties & RejectSettings;

const t = editorText('kumo-reject');

function meaning(code: unknown): string {
  const n = rejectCode(code);
  if (n === null) return '';
  return t(isTransientCode(n) ? 'meaning.transient' : 'meaning.permanent');
}

const definition: EditorNodeDef<RejectProperties> = {
  category: CATEGORY,
  color: '#E8835A',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    code: labelled(
      {
        value: DEFAULTS.code,
        validate: validator<RejectProperties>(function (v, opt) {
          const type = String(currentValue(this, 'codeType') || 'num');
          if (type !== 'num') {
            return (v || '') === '' ? t('errors.code-empty') : utils().validateTypedProperty(v, type, opt);
          }
          return rejectCode(v) !== null ? true : t('errors.code-range');
        }),
      },
      t('label.code'),
    ),
    codeType: { value: DEFAULTS.codeType },
    message: labelled(
      {
        value: DEFAULTS.message,
        validate: validator<RejectProperties>(function (v, opt) {
          const type = String(currentValue(this, 'messageType') || 'str');
          if (type === 'str') return true;
          return (v || '') === '' ? t('errors.message-empty') : utils().validateTypedProperty(v, type, opt);
        }),
      },
      t('label.message'),
    ),
    messageType: { value: DEFAULTS.messageType },
  },
  inputs: 1,
  outputs: 1,
  icon: 'kumo-reject.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    if (this.name) return this.name;
    let code = this.code == null ? '' : String(this.code);
    switch (this.codeType || 'num') {
      case 'msg':
        code = `msg.${code}`;
        break;
      case 'env':
        code = `env.${code}`;
        break;
      case 'jsonata':
        code = t('label.expression');
        break;
    }
    return t('label.node', { code });
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    $('#node-input-code').typedInput({
      default: 'num',
      typeField: $('#node-input-codeType'),
      types: ['num', 'msg', 'env', 'jsonata'],
    });
    $('#node-input-message').typedInput({
      default: 'str',
      typeField: $('#node-input-messageType'),
      types: ['str', 'msg', 'env', 'jsonata'],
    });
    const refresh = () => {
      const input = $('#node-input-code');
      const text = input.typedInput('type') === 'num' ? meaning(input.typedInput('value')) : t('meaning.dynamic');
      $('#node-input-kumo-code-meaning').text(text);
    };
    $('#node-input-code').on('change', refresh);
    refresh();
  },
};

RED.nodes.registerType('kumo-reject', definition);
