(function () {
  var NS = '@kumo-flows/node-red-kumo-amqp/kumo-queue-config';
  function t(key, opts) {
    return RED._(`${NS}:kumo-queue-config.${key}`, opts);
  }

  var FIELDS = ['domain', 'tenant', 'campaign', 'routing_domain'];
  var OPS = ['any', 'eq', 'regex'];
  var PROTOCOLS = ['custom_lua', 'smtp', 'maildir'];
  // KumoMTA's predefined events and the reserved smtp_server_ prefix, from the
  // runtime (src/core/event-names.ts) through the node's exported settings.
  var PREDEFINED_EVENTS = RED.settings.kumoCustomProtocolPredefinedEvents || [];
  var RESERVED_PREFIX = RED.settings.kumoCustomProtocolReservedPrefix || 'smtp_server_';
  function isPredefined(name) {
    return PREDEFINED_EVENTS.indexOf(name) !== -1 || name.indexOf(RESERVED_PREFIX) === 0;
  }

  // KumoMTA durations: a number of seconds, or humantime's "<integer> <unit>" sequence ("20m", "1h 30m", "7 days").
  var DURATION_UNITS =
    'nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|' +
    'hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y';
  var DURATION_RE = new RegExp(`^(?:\\d+\\s*(?:${DURATION_UNITS})\\s*)+$`);
  function isDuration(v) {
    var s = String(v == null ? '' : v).trim();
    return /^\d+(?:\.\d+)?$/.test(s) || DURATION_RE.test(s);
  }

  function defaultRule(seed) {
    var any = function () {
      return { op: 'any', value: '' };
    };
    return {
      // The seed document's rule for the first one; later ones start as a catch-all to narrow down.
      match: {
        domain: seed ? { op: 'eq', value: 'amqp' } : any(),
        tenant: any(),
        campaign: any(),
        routing_domain: any(),
      },
      protocol: 'custom_lua',
      constructor: 'make.amqp',
      maildir_path: '',
      retry_interval: '20 minutes',
      max_retry_interval: '',
      max_age: '7 days',
    };
  }
  function normaliseRule(r) {
    var d = defaultRule(false);
    r = r || {};
    var match = {};
    FIELDS.forEach(function (f) {
      var m = r.match?.[f] || {};
      match[f] = { op: OPS.indexOf(m.op) !== -1 ? m.op : 'any', value: m.value == null ? '' : String(m.value) };
    });
    return {
      match: match,
      protocol: r.protocol || d.protocol,
      constructor: r.constructor == null || typeof r.constructor === 'function' ? d.constructor : String(r.constructor),
      maildir_path: r.maildir_path == null ? '' : String(r.maildir_path),
      retry_interval: r.retry_interval == null ? d.retry_interval : String(r.retry_interval),
      max_retry_interval: r.max_retry_interval == null ? '' : String(r.max_retry_interval),
      max_age: r.max_age == null ? d.max_age : String(r.max_age),
    };
  }

  // Each problem names the row field it belongs to, so the dialog can mark that input.
  function ruleProblems(rule) {
    var problems = [];
    FIELDS.forEach(function (f) {
      var m = rule.match[f];
      if (m.op === 'regex') {
        try {
          new RegExp(m.value);
        } catch (err) {
          problems.push({ field: f, message: t('errors.regex', { field: t(`field.${f}`), error: err.message }) });
        }
      } else if (m.op === 'eq' && f === 'domain' && m.value === '') {
        problems.push({ field: f, message: t('errors.domain-empty') });
      }
    });
    if (PROTOCOLS.indexOf(rule.protocol) === -1) {
      problems.push({ field: 'protocol', message: t('errors.protocol') });
    } else if (rule.protocol === 'custom_lua') {
      var c = rule.constructor;
      if (c === '') {
        problems.push({ field: 'constructor', message: t('errors.constructor-empty') });
      } else if (/\s/.test(c)) {
        problems.push({ field: 'constructor', message: t('errors.constructor-space') });
      } else if (isPredefined(c)) {
        problems.push({ field: 'constructor', message: t('errors.constructor-predefined', { name: c }) });
      }
    } else if (rule.protocol === 'maildir' && rule.maildir_path.trim() === '') {
      problems.push({ field: 'maildir_path', message: t('errors.maildir-empty') });
    }
    ['retry_interval', 'max_retry_interval', 'max_age'].forEach(function (p) {
      var v = rule[p];
      if (v === '' && p === 'max_retry_interval') {
        return;
      }
      if (!isDuration(v)) {
        problems.push({ field: p, message: t('errors.duration', { field: t(`label.${p}`), value: v }) });
      }
    });
    return problems;
  }

  // Custom protocol nodes by event name, as the runtime will bind them: disabled ones do not count.
  function protocolNodesByEvent() {
    // No prototype: an event may well be called "constructor" or "toString".
    var byEvent = Object.create(null);
    RED.nodes.eachNode(function (n) {
      if (n.type !== 'kumo-custom-protocol' || !n.eventName) {
        return;
      }
      var ws = RED.nodes.workspace(n.z);
      var enabled = !n.d && !ws?.disabled;
      (byEvent[n.eventName] = byEvent[n.eventName] || []).push({ node: n, enabled: enabled });
    });
    return byEvent;
  }
  function binding(byEvent, constructor) {
    var all = byEvent[constructor] || [];
    var enabled = all.filter(function (e) {
      return e.enabled;
    });
    return { enabled: enabled, disabled: all.length - enabled.length };
  }
  function matchSummary(rule) {
    var parts = [];
    FIELDS.forEach(function (f) {
      var m = rule.match[f];
      if (m.op === 'eq') {
        parts.push(`${t(`field.${f}`)} == "${m.value}"`);
      } else if (m.op === 'regex') {
        parts.push(`${t(`field.${f}`)} ~ /${m.value}/`);
      }
    });
    return parts.length ? parts.join(', ') : t('summary.any');
  }

  function exportRule(row) {
    var rule = { match: {} };
    FIELDS.forEach(function (f) {
      var op = row.find(`.kumo-qc-op[data-field='${f}']`).val();
      rule.match[f] = { op: op, value: op === 'any' ? '' : row.find(`.kumo-qc-value[data-field='${f}']`).val() };
    });
    rule.protocol = row.find('.kumo-qc-protocol').val();
    rule.constructor = row.find('.kumo-qc-constructor').val().trim();
    rule.maildir_path = row.find('.kumo-qc-maildir').val().trim();
    rule.retry_interval = row.find(".kumo-qc-duration[data-prop='retry_interval']").val().trim();
    rule.max_retry_interval = row.find(".kumo-qc-duration[data-prop='max_retry_interval']").val().trim();
    rule.max_age = row.find(".kumo-qc-duration[data-prop='max_age']").val().trim();
    return rule;
  }

  RED.nodes.registerType('kumo-queue-config', {
    category: 'kumomta',
    color: '#FCCB7E',
    defaults: {
      name: { value: '' },
      queue: {
        value: 'queue',
        label: t('label.queue'),
        validate: function (v, opt) {
          var el = $('#node-input-queueType');
          var type = (el.length ? el.val() : this.queueType) || 'msg';
          if ((v || '') === '') {
            return t('errors.queue-empty');
          }
          return type === 'msg' ? RED.utils.validateTypedProperty(v, 'msg', opt) : true;
        },
      },
      queueType: { value: 'msg' },
      rules: {
        value: [],
        validate: function (rules, _opt) {
          var errors = [];
          (rules || []).forEach(function (r, i) {
            ruleProblems(normaliseRule(r)).forEach(function (p) {
              errors.push(t('errors.rule', { index: i + 1, message: p.message }));
            });
          });
          return errors.length ? errors : true;
        },
      },
    },
    inputs: 1,
    outputs: 1,
    outputLabels: function () {
      return t('outputs.other');
    },
    icon: 'kumo-queue-config.svg',
    paletteLabel: function () {
      return t('paletteLabel');
    },
    label: function () {
      // Like link nodes, show where the messages go: the constructors the rules route to.
      var events = [];
      (this.rules || []).forEach(function (rule) {
        if (
          rule.protocol === 'custom_lua' &&
          rule.constructor &&
          typeof rule.constructor === 'string' &&
          events.indexOf(rule.constructor) === -1
        ) {
          events.push(rule.constructor);
        }
      });
      if (this.name) {
        return this.name;
      }
      return events.length
        ? t('label.routes', { events: events.join(', ') })
        : t('label.node', { count: (this.rules || []).length });
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare: function () {
      var byEvent = protocolNodesByEvent();

      $('#node-input-queue').typedInput({
        default: 'msg',
        typeField: $('#node-input-queueType'),
        types: ['msg', 'str', 'env'],
      });

      var datalist = $('#node-input-kumo-constructors');
      Object.keys(byEvent)
        .sort()
        .forEach(function (name) {
          var b = binding(byEvent, name);
          var who = (b.enabled[0] || byEvent[name][0]).node;
          $('<option>').attr('value', name).text(RED.utils.getNodeLabel(who, who.id)).appendTo(datalist);
        });

      function nodeLink(n) {
        var ws = RED.nodes.workspace(n.z) || RED.nodes.subflow(n.z);
        var text = RED.utils.getNodeLabel(n, n.id) + (ws ? ` (${ws.label || ws.name || ws.id})` : '');
        return $('<a href="#"></a>')
          .text(text)
          .on('click', function (e) {
            e.preventDefault();
            RED.view.reveal(n.id);
          });
      }

      function updateRoutes() {
        var list = $('#node-input-kumo-routes').empty();
        $('#node-input-rule-container')
          .editableList('items')
          .each(function (i) {
            var rule = exportRule($(this));
            var li = $('<li>').appendTo(list);
            li.append($('<span>').text(`${t('summary.rule', { index: i + 1, match: matchSummary(rule) })} → `));
            if (rule.protocol === 'custom_lua') {
              li.append($('<code>').text(rule.constructor));
              li.append(' ');
              var b = binding(byEvent, rule.constructor);
              if (b.enabled.length) {
                li.append($('<i class="fa fa-check kumo-bound-ok"></i>'));
                li.append(' ');
                b.enabled.forEach(function (e, k) {
                  if (k) {
                    li.append(', ');
                  }
                  li.append(nodeLink(e.node));
                });
              } else if (rule.constructor !== '') {
                li.append(
                  $('<span class="kumo-bound-missing"></span>')
                    .append('<i class="fa fa-exclamation-triangle"></i> ')
                    .append(
                      $('<span>').text(
                        t(b.disabled ? 'summary.disabled' : 'summary.missing', { name: rule.constructor }),
                      ),
                    ),
                );
              }
            } else {
              li.append($('<span>').text(t('summary.output', { protocol: t(`protocol.${rule.protocol}`) })));
            }
          });
        $('<li>').text(t('summary.default')).appendTo(list);
      }

      function refreshRow(row) {
        var rule = exportRule(row);
        FIELDS.forEach(function (f) {
          row.find(`.kumo-qc-value[data-field='${f}']`).toggle(rule.match[f].op !== 'any');
        });
        row.find('.kumo-qc-constructor, .kumo-qc-bound').toggle(rule.protocol === 'custom_lua');
        row.find('.kumo-qc-maildir').toggle(rule.protocol === 'maildir');
        row.find('.kumo-qc-smtp-note').toggle(rule.protocol === 'smtp');

        var bound = row.find('.kumo-qc-bound').empty().removeAttr('title');
        if (rule.protocol === 'custom_lua' && rule.constructor !== '') {
          var b = binding(byEvent, rule.constructor);
          if (b.enabled.length) {
            bound.append('<i class="fa fa-link kumo-bound-ok"></i>').attr(
              'title',
              t('summary.bound', {
                nodes: b.enabled
                  .map(function (e) {
                    return RED.utils.getNodeLabel(e.node, e.node.id);
                  })
                  .join(', '),
              }),
            );
          } else {
            bound
              .append('<i class="fa fa-exclamation-triangle kumo-bound-missing"></i>')
              .attr('title', t(b.disabled ? 'summary.disabled' : 'summary.missing', { name: rule.constructor }));
          }
        }

        var problems = ruleProblems(rule);
        row.find('input, select').removeClass('input-error');
        problems.forEach(function (p) {
          var sel =
            {
              protocol: '.kumo-qc-protocol',
              constructor: '.kumo-qc-constructor',
              maildir_path: '.kumo-qc-maildir',
            }[p.field] ||
            (FIELDS.indexOf(p.field) !== -1
              ? `.kumo-qc-value[data-field='${p.field}']`
              : `.kumo-qc-duration[data-prop='${p.field}']`);
          row.find(sel).addClass('input-error');
        });
        var errors = row.find('.kumo-qc-errors').empty();
        problems.forEach(function (p) {
          $('<div>').text(p.message).appendTo(errors);
        });
      }

      function renumber() {
        $('#node-input-rule-container')
          .editableList('items')
          .each(function (i) {
            $(this)
              .find('.kumo-qc-index')
              .text(`#${i + 1}`);
          });
        updateRoutes();
      }

      $('#node-input-rule-container')
        .css('min-height', '150px')
        .css('min-width', '450px')
        .editableList({
          addItem: function (container, i, opt) {
            var rule = normaliseRule(opt.r || defaultRule(i === 0));
            container.addClass('kumo-qc-rule');
            $('<span class="kumo-qc-index"></span>')
              .text(`#${i + 1}`)
              .appendTo(container);
            var fields = $('<div class="kumo-qc-fields"></div>').appendTo(container);

            FIELDS.forEach(function (f) {
              var line = $('<div class="kumo-qc-line"></div>').appendTo(fields);
              $('<label></label>')
                .text(t(`field.${f}`))
                .appendTo(line);
              var select = $('<select class="kumo-qc-op"></select>').attr('data-field', f).appendTo(line);
              OPS.forEach(function (op) {
                $('<option></option>')
                  .val(op)
                  .text(t(`op.${op}`))
                  .appendTo(select);
              });
              select.val(rule.match[f].op);
              $('<input type="text" class="kumo-qc-value">')
                .attr('data-field', f)
                .attr('placeholder', t(`placeholder.${f}`))
                .val(rule.match[f].value)
                .appendTo(line);
            });

            var pline = $('<div class="kumo-qc-line"></div>').appendTo(fields);
            $('<label></label>').text(t('label.protocol')).appendTo(pline);
            var protocol = $('<select class="kumo-qc-protocol"></select>').appendTo(pline);
            PROTOCOLS.forEach(function (p) {
              $('<option></option>')
                .val(p)
                .text(t(`protocol.${p}`))
                .appendTo(protocol);
            });
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

            var dline = $('<div class="kumo-qc-durations"></div>').appendTo(fields);
            ['retry_interval', 'max_retry_interval', 'max_age'].forEach(function (p) {
              var cell = $('<div></div>').appendTo(dline);
              $('<label></label>')
                .text(t(`label.${p}`))
                .appendTo(cell);
              $('<input type="text" class="kumo-qc-duration">')
                .attr('data-prop', p)
                .attr('placeholder', t(`placeholder.${p}`))
                .val(rule[p])
                .appendTo(cell);
            });
            $('<div class="kumo-qc-errors"></div>').appendTo(fields);

            container.on('change input', 'input, select', function () {
              refreshRow(container);
              updateRoutes();
            });
            refreshRow(container);
            // editableList adds the row after this callback returns.
            setTimeout(renumber, 0);
          },
          removeItem: renumber,
          sortItems: renumber,
          sortable: true,
          removable: true,
        });

      (this.rules || []).forEach(function (r) {
        $('#node-input-rule-container').editableList('addItem', { r: r });
      });
      updateRoutes();
    },
    oneditsave: function () {
      var node = this;
      node.rules = [];
      $('#node-input-rule-container')
        .editableList('items')
        .each(function () {
          node.rules.push(exportRule($(this)));
        });
    },
    oneditresize: function (size) {
      var rows = $('#dialog-form>div:not(.node-input-rule-container-row)');
      var height = size.height;
      for (var i = 0; i < rows.length; i++) {
        height -= $(rows[i]).outerHeight(true);
      }
      var editorRow = $('#dialog-form>div.node-input-rule-container-row');
      height -= parseInt(editorRow.css('marginTop'), 10) + parseInt(editorRow.css('marginBottom'), 10);
      height += 16;
      $('#node-input-rule-container').editableList('height', Math.max(height, 200));
    },
  });
})();
