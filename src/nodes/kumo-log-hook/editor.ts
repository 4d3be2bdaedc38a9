// log hook in's editor: the path checked by the runtime's own validator
// (core/log-hook), the limits as numbers, the queue as a typed input read over
// each record, and the shared secret as a credential (never in the flow JSON).

import type { EditorNodeDef, EditorNodeProperties } from 'node-red';
import { logHookPath } from '../../core/kumo/log-hook';
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
  bodyTimeoutOf,
  deadlineOf,
  DEFAULTS,
  maxBodyOf,
  maxRecordsOf,
  MIGRATIONS,
  recordsOutputOf,
  secretHeaderOf,
  TYPE,
  VERSION,
  type LogHookSettings,
} from './settings';

type LogHookProperties = EditorNodeProperties & LogHookSettings;

interface LogHookCredentials {
  secret: string;
}

const t = editorText('kumo-log-hook');
const core = coreText('kumo-log-hook');
// Every validator declares (value, options): Node-RED shows the message a
// validator returns only when it takes two arguments, else it reads "valid".

const definition: EditorNodeDef<LogHookProperties, LogHookCredentials> = {
  category: CATEGORY,
  color: '#F0963F',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    path: labelled(
      {
        value: DEFAULTS.path,
        required: true,
        validate: validator<LogHookProperties>((v, _opt) => {
          try {
            logHookPath(v);
            return true;
          } catch (err) {
            return t('errors.path', { error: core.render(err) });
          }
        }),
      },
      t('label.path'),
    ),
    queue: labelled(
      {
        value: DEFAULTS.queue,
        validate: validator<LogHookProperties>(function (v, opt) {
          const type = String(currentValue(this, 'queueType') || 'str');
          if ((v || '') === '') return t('errors.queue-empty');
          return type === 'str' ? true : utils().validateTypedProperty(v, type, opt);
        }),
      },
      t('label.queue'),
    ),
    queueType: { value: DEFAULTS.queueType },
    maxBody: labelled(
      {
        value: DEFAULTS.maxBody,
        validate: validator<LogHookProperties>((v, _opt) => (maxBodyOf(v) === null ? t('errors.max-body') : true)),
      },
      t('label.maxBody'),
    ),
    maxRecords: labelled(
      {
        value: DEFAULTS.maxRecords,
        validate: validator<LogHookProperties>((v, _opt) =>
          maxRecordsOf(v) === null ? t('errors.max-records') : true,
        ),
      },
      t('label.maxRecords'),
    ),
    deadline: labelled(
      {
        value: DEFAULTS.deadline,
        validate: validator<LogHookProperties>((v, _opt) => (deadlineOf(v) === null ? t('errors.deadline') : true)),
      },
      t('label.deadline'),
    ),
    bodyTimeout: labelled(
      {
        value: DEFAULTS.bodyTimeout,
        validate: validator<LogHookProperties>((v, _opt) =>
          bodyTimeoutOf(v) === null ? t('errors.body-timeout') : true,
        ),
      },
      t('label.bodyTimeout'),
    ),
    output: labelled(
      {
        value: DEFAULTS.output,
        validate: validator<LogHookProperties>((v, _opt) => (recordsOutputOf(v) === null ? t('errors.output') : true)),
      },
      t('label.output'),
    ),
    secretHeader: labelled(
      {
        value: DEFAULTS.secretHeader,
        validate: validator<LogHookProperties>((v, _opt) =>
          secretHeaderOf(v) === null ? t('errors.secret-header') : true,
        ),
      },
      t('label.secretHeader'),
    ),
  },
  credentials: {
    secret: { type: 'password' },
  },
  inputs: 0,
  outputs: 2,
  outputLabels: (i) => t(i === 0 ? 'outputs.records' : 'outputs.other'),
  icon: 'kumo-log-hook.svg',
  paletteLabel: () => t('paletteLabel'),
  label: function () {
    return this.name || t('label.node', { path: this.path || '/kumomta/log' });
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    // Node-RED answers {} for a node that never had credentials, and would then count the empty
    // Secret as a change on Done: it is empty, so open + Done leaves the node as it was.
    const credentials = (this as { credentials?: Record<string, unknown> }).credentials;
    if (credentials) credentials.has_secret ??= false;
    $('#node-input-queue').typedInput({
      default: 'str',
      typeField: $('#node-input-queueType'),
      types: ['str', 'env', 'msg', 'jsonata'],
    });
  },
};

RED.nodes.registerType('kumo-log-hook', definition);
