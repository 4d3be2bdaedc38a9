// amqp broker's editor. The URL list is checked by the parser the runtime
// connects with (core/broker-url), so the form refuses what a deploy would;
// the words stay the editor's own (translated, naming the field).

import type { EditorNodeDef, EditorNodeProperties, EditorNodePropertyDef } from 'node-red';
import {
  BrokerUrlError,
  hasUserinfo,
  parseBrokerUrls,
  splitBrokerUrls,
  takeUserinfo,
  withoutUserinfo,
} from '../../core/amqp/broker-url';
import { editorText, labelled, RED, validator, upgradeNode } from '../../editor/editor-red';
import '../../editor/sidebar';
import { DEFAULTS, heartbeatOf, MIGRATIONS, TYPE, VERSION, type AmqpBrokerSettings } from './settings';

type BrokerProperties = EditorNodeProperties & AmqpBrokerSettings;

interface BrokerCredentials {
  username: string;
  password: string;
}

const t = editorText('amqp-broker');
// Every validator declares (value, options): Node-RED shows the message a
// validator returns only when it takes two arguments, else it reads "valid".

function entries(value: unknown): string[] {
  return splitBrokerUrls(value == null ? '' : String(value));
}

function anyTls(value: unknown): boolean {
  return entries(value).some((url) => /^amqps:\/\//i.test(url));
}

/** Userinfo never reaches a message: the core hands back the entry without it. */
function urlProblem(value: unknown): true | string {
  const setting = value == null ? '' : String(value);
  // The runtime falls back to amqp://localhost for flows saved without a URL; the form asks for one.
  if (setting.trim() === '') return t('errors.url-required');
  try {
    parseBrokerUrls(setting);
    return true;
  } catch (err) {
    if (!(err instanceof BrokerUrlError)) throw err;
    const url = err.entry ?? '';
    switch (err.reason) {
      case 'empty-entry':
        return t('errors.url-empty-item');
      case 'scheme':
        return t('errors.url-scheme', { url });
      case 'bad-port':
        return t('errors.url-port', { url });
      case 'bad-vhost-escape':
        return t('errors.url-vhost-escape', { url });
      case 'userinfo-unescaped':
        return t('errors.url-userinfo-unescaped');
      default:
        return t('errors.url-invalid', { url });
    }
  }
}

/**
 * A property with no default value, as Node-RED's MQTT broker has its TLS
 * configuration: a new broker has none. The types insist on a value.
 */
function withoutDefault(definition: Partial<EditorNodePropertyDef<string>>): EditorNodePropertyDef<string> {
  return definition as EditorNodePropertyDef<string>;
}

const definition: EditorNodeDef<BrokerProperties, BrokerCredentials> = {
  category: 'config',
  defaults: {
    name: { value: DEFAULTS.name },
    version: { value: VERSION },
    url: labelled(
      {
        value: DEFAULTS.url,
        required: true,
        validate: validator<BrokerProperties>((v, _opt) => urlProblem(v)),
      },
      t('label.url'),
    ),
    tls: labelled(withoutDefault({ type: 'tls-config', required: false }), t('label.tls')),
    heartbeat: labelled(
      {
        value: DEFAULTS.heartbeat,
        validate: validator<BrokerProperties>((v, _opt) => (heartbeatOf(v) === null ? t('errors.heartbeat') : true)),
      },
      t('label.heartbeat'),
    ),
    connectionName: { value: DEFAULTS.connectionName },
  },
  credentials: {
    username: { type: 'text' },
    password: { type: 'password' },
  },
  paletteLabel: () => t('paletteLabel'),
  icon: 'amqp-broker.svg',
  label: function () {
    if (this.name) return this.name;
    return (
      entries(withoutUserinfo(String(this.url ?? '')))
        .filter((url) => url !== '')
        .join(', ') || t('paletteLabel')
    );
  },
  onadd: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
  },
  oneditprepare: function () {
    upgradeNode(this, TYPE, MIGRATIONS);
    // Node-RED answers {} for a node that never had credentials, and would then count the empty
    // fields as a change on Done: they are empty, so open + Done leaves the node as it was.
    const credentials = (this as { credentials?: Record<string, unknown> }).credentials;
    if (credentials) {
      credentials.username ??= '';
      credentials.has_password ??= false;
    }
    const refresh = () => {
      const value = $('#node-config-input-url').val();
      $('#node-config-row-tls').toggle(anyTls(value));
      const withUserinfo = hasUserinfo(String(value ?? ''));
      if (withUserinfo) {
        // A stored password shows as a placeholder value, so a non-empty field means "set".
        const haveCredentials =
          $('#node-config-input-username').val() !== '' || $('#node-config-input-password').val() !== '';
        $('#node-config-url-userinfo-text').text(t(haveCredentials ? 'tip.userinfo-ignored' : 'tip.userinfo-stored'));
      }
      $('#node-config-row-url-userinfo').toggle(withUserinfo);
    };
    $('#node-config-input-url, #node-config-input-username, #node-config-input-password').on('input change', refresh);
    refresh();
  },
  oneditsave: function () {
    // A password typed into the URL would be exported with the flow: it moves into the credential
    // fields (when they are empty; otherwise those are what the node uses), and leaves the URL.
    const url = String($('#node-config-input-url').val() ?? '');
    if (hasUserinfo(url)) {
      const taken = takeUserinfo(url);
      const username = $('#node-config-input-username');
      const password = $('#node-config-input-password');
      if (username.val() === '' && password.val() === '') {
        username.val(taken.username ?? '');
        password.val(taken.password ?? '');
      }
      $('#node-config-input-url').val(taken.url);
    }
    // As the MQTT broker does with its TLS checkbox: a tls-config is only kept when it can be used.
    if (!anyTls($('#node-config-input-url').val())) {
      $('#node-config-input-tls').val('_ADD_');
    }
  },
};

RED.nodes.registerType('amqp-broker', definition);
