(function () {
  var NS = '@kumo-flows/node-red-kumo-amqp/kumo-custom-protocol';
  function t(key, opts) {
    return RED._(`${NS}:kumo-custom-protocol.${key}`, opts);
  }

  var FIELDS = ['domain', 'tenant', 'campaign', 'routing_domain'];
  // KumoMTA's predefined events and the reserved smtp_server_ prefix, from the
  // runtime (src/core/event-names.ts) through the node's exported settings.
  var PREDEFINED_EVENTS = RED.settings.kumoCustomProtocolPredefinedEvents || [];
  var RESERVED_PREFIX = RED.settings.kumoCustomProtocolReservedPrefix || 'smtp_server_';
  function isPredefined(name) {
    return PREDEFINED_EVENTS.indexOf(name) !== -1 || name.indexOf(RESERVED_PREFIX) === 0;
  }

  // Disabled nodes, and nodes on disabled flows, are not deployed: they bind nothing.
  function isEnabled(n) {
    var ws = RED.nodes.workspace(n.z);
    return !n.d && !ws?.disabled;
  }
  function placeOf(n) {
    var ws = RED.nodes.workspace(n.z) || RED.nodes.subflow(n.z);
    return ws ? ws.label || ws.name || ws.id : '';
  }
  function matchSummary(rule) {
    var parts = [];
    FIELDS.forEach(function (f) {
      var m = rule.match?.[f] || {};
      if (m.op === 'eq') {
        parts.push(`${t(`field.${f}`)} == "${m.value || ''}"`);
      } else if (m.op === 'regex') {
        parts.push(`${t(`field.${f}`)} ~ /${m.value || ''}/`);
      }
    });
    return parts.length ? parts.join(', ') : t('routes.any');
  }

  RED.nodes.registerType('kumo-custom-protocol', {
    category: 'kumomta',
    color: '#F7AE5B',
    defaults: {
      name: { value: '' },
      eventName: {
        value: 'make.amqp',
        required: true,
        label: t('label.eventName'),
        validate: function (v, _opt) {
          v = v || '';
          if (v === '') {
            return t('errors.event-empty');
          }
          if (/\s/.test(v)) {
            return t('errors.event-space');
          }
          if (isPredefined(v)) {
            return t('errors.event-predefined', { name: v });
          }
          var self = this;
          var other = null;
          RED.nodes.eachNode(function (n) {
            if (!other && n.type === 'kumo-custom-protocol' && n.id !== self.id && n.eventName === v && isEnabled(n)) {
              other = n;
            }
          });
          if (other) {
            return t('errors.event-taken', {
              name: v,
              node: RED.utils.getNodeLabel(other, other.id),
              flow: placeOf(other),
            });
          }
          return true;
        },
      },
      timeout: {
        value: 60,
        label: t('label.timeout'),
        validate: function (v, _opt) {
          var n = Number(v);
          return String(v).trim() !== '' && Number.isFinite(n) && n > 0 ? true : t('errors.timeout');
        },
      },
      maxInFlight: {
        value: 128,
        label: t('label.maxInFlight'),
        validate: function (v, _opt) {
          return /^\s*\d+\s*$/.test(String(v)) && Number(v) >= 1 ? true : t('errors.max-in-flight');
        },
      },
      maxQueued: {
        value: 10000,
        label: t('label.maxQueued'),
        validate: function (v, _opt) {
          // Flows saved before this setting existed have none: the runtime's default applies.
          return v === undefined || (/^\s*\d+\s*$/.test(String(v)) && Number(v) >= 1) ? true : t('errors.max-queued');
        },
      },
    },
    inputs: 1,
    outputs: 2,
    outputLabels: function (i) {
      return t(i === 0 ? 'outputs.send' : 'outputs.log');
    },
    icon: 'kumo-custom-protocol.svg',
    paletteLabel: function () {
      return t('paletteLabel');
    },
    label: function () {
      return this.name || this.eventName || t('paletteLabel');
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare: function () {
      function refresh() {
        var eventName = $('#node-input-eventName').val().trim();
        $('#node-input-kumo-lua').text(`kumo.on('${eventName || '…'}', function(domain, tenant, campaign) …)`);

        var list = $('#node-input-kumo-routed').empty();
        var found = 0;
        RED.nodes.eachNode(function (n) {
          if (n.type !== 'kumo-queue-config') {
            return;
          }
          (n.rules || []).forEach(function (rule, i) {
            if (rule.protocol !== 'custom_lua' || rule.constructor !== eventName || eventName === '') {
              return;
            }
            found++;
            var li = $('<li>').appendTo(list);
            var place = placeOf(n);
            $('<a href="#"></a>')
              .text(RED.utils.getNodeLabel(n, n.id) + (place ? ` (${place})` : ''))
              .on('click', function (e) {
                e.preventDefault();
                RED.view.reveal(n.id);
              })
              .appendTo(li);
            li.append($('<span>').text(` ${t('routes.rule', { index: i + 1, match: matchSummary(rule) })}`));
            if (!isEnabled(n)) {
              li.append($('<span>').text(` ${t('routes.disabled')}`));
            }
          });
        });
        if (!found) {
          $('<li class="kumo-cp-none"></li>')
            .text(t('routes.none', { name: eventName || '…' }))
            .appendTo(list);
        }
      }
      $('#node-input-eventName').on('input change', refresh);
      refresh();
    },
  });

  // An event name is "taken" relative to the other custom protocol nodes, so
  // when one is added, removed, changed or (de)activated the others are
  // checked again; otherwise a pasted copy leaves the original looking valid,
  // and deleting one of two leaves the other marked invalid.
  var revalidating = false;
  function revalidateCustomProtocols(ev) {
    var node = ev && (ev.node || ev);
    if (revalidating || (node?.type && node.type !== 'kumo-custom-protocol' && node.type !== 'tab')) {
      return;
    }
    revalidating = true;
    try {
      RED.nodes.eachNode(function (n) {
        if (n.type === 'kumo-custom-protocol' && n !== node) {
          var before = n.valid;
          RED.editor.validateNode(n);
          if (before !== n.valid) {
            n.dirty = true;
          }
        }
      });
      RED.view.redraw();
    } finally {
      revalidating = false;
    }
  }
  ['nodes:add', 'nodes:remove', 'nodes:change', 'flows:change'].forEach(function (name) {
    RED.events.on(name, revalidateCustomProtocols);
  });
})();
