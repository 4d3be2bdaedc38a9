(function () {
  var NS = '@kumo-flows/node-red-kumo-amqp/amqp-publish';
  function t(key, opts) {
    return RED._(`${NS}:amqp-publish.${key}`, opts);
  }

  function utf8Length(s) {
    return new TextEncoder().encode(String(s)).length;
  }
  // While the dialog is open, a validator must look at the field being edited, not the saved value.
  function current(node, prop) {
    var el = $(`#node-input-${prop}`);
    return el.length ? el.val() : node[prop];
  }
  function isWholeNumber(v, min) {
    return /^\s*\d+\s*$/.test(String(v)) && Number(v) >= min;
  }

  RED.nodes.registerType('amqp-publish', {
    category: 'kumomta',
    color: '#F0963F',
    defaults: {
      name: { value: '' },
      broker: { value: '', type: 'amqp-broker', required: true, label: t('label.broker') },
      exchange: {
        value: '',
        validate: function (v, _opt) {
          return utf8Length(v || '') <= 255 ? true : t('errors.exchange-long');
        },
      },
      routingKey: {
        value: 'logging',
        label: t('label.routingKey'),
        validate: function (v, opt) {
          var type = current(this, 'routingKeyType') || 'str';
          if (type !== 'str') {
            return RED.utils.validateTypedProperty(v, type, opt);
          }
          if ((v || '') === '' && (current(this, 'exchange') || '') === '') {
            // Legal AMQP, but the default exchange routes by queue name and no queue is called ''.
            return t('errors.routing-key-empty');
          }
          return utf8Length(v || '') <= 255 ? true : t('errors.routing-key-long');
        },
      },
      routingKeyType: { value: 'str' },
      persistent: { value: true },
      mandatory: { value: false },
      returnedAs: {
        value: 'transient',
        validate: function (v, _opt) {
          return ['transient', 'permanent', 'delivered'].indexOf(v) !== -1 ? true : t('errors.returned-as');
        },
      },
      nackedAs: {
        value: 'permanent',
        validate: function (v, _opt) {
          // Flows saved before the option existed have none: KumoMTA's 500.
          return v === undefined || ['permanent', 'transient'].indexOf(v) !== -1 ? true : t('errors.nacked-as');
        },
      },
      waitForConfirm: { value: true },
      confirmTimeout: {
        value: 30,
        label: t('label.confirmTimeout'),
        validate: function (v, _opt) {
          var n = Number(v);
          return String(v).trim() !== '' && Number.isFinite(n) && n > 0 ? true : t('errors.confirm-timeout');
        },
      },
      maxWaiting: {
        value: 10000,
        label: t('label.maxWaiting'),
        validate: function (v, _opt) {
          return isWholeNumber(v, 1) ? true : t('errors.max-waiting');
        },
      },
      declareQueue: {
        value: '',
        validate: function (v, _opt) {
          if (!v) {
            return true;
          }
          if (/^amq\./.test(v)) {
            return t('errors.queue-reserved');
          }
          return utf8Length(v) <= 255 ? true : t('errors.queue-long');
        },
      },
    },
    inputs: 1,
    outputs: 2,
    outputLabels: function (i) {
      return t(i === 0 ? 'outputs.delivered' : 'outputs.rejected');
    },
    icon: 'amqp-publish.svg',
    paletteLabel: function () {
      return t('paletteLabel');
    },
    label: function () {
      if (this.name) {
        return this.name;
      }
      var key = this.routingKey || '';
      var target;
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
      if (this.exchange) {
        target = `${this.exchange} / ${target}`;
      }
      return t('label.node', { target: target });
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare: function () {
      $('#node-input-routingKey').typedInput({
        default: 'str',
        typeField: $('#node-input-routingKeyType'),
        types: ['str', 'msg', 'env', 'jsonata'],
      });

      function refresh() {
        $('#node-input-row-returnedAs').toggle($('#node-input-mandatory').is(':checked'));
        $('#node-input-row-confirmTimeout, #node-input-row-nackedAs').toggle(
          $('#node-input-waitForConfirm').is(':checked'),
        );

        var exchange = $('#node-input-exchange').val();
        var queue = $('#node-input-declareQueue').val();
        var keyType = $('#node-input-routingKey').typedInput('type');
        var key = $('#node-input-routingKey').typedInput('value');
        var tip = '';
        if (exchange === '' && keyType === 'str' && key !== '') {
          if (queue === '') {
            tip = t('tip.no-queue', { key: key });
          } else if (queue !== key) {
            tip = t('tip.queue-mismatch', { key: key, queue: queue });
          }
        } else if (exchange !== '' && queue !== '') {
          tip = t('tip.queue-bound', { exchange: exchange, queue: queue });
        }
        $('#node-input-queue-tip').text(tip);
        $('#node-input-row-queue-tip').toggle(tip !== '');
      }
      $('#node-input-mandatory, #node-input-waitForConfirm').on('change', refresh);
      $('#node-input-exchange, #node-input-declareQueue').on('input change', refresh);
      $('#node-input-routingKey').on('change', refresh);
      $('#node-input-exchange').on('change', function () {
        // The routing key's validity depends on the exchange.
        $('#node-input-routingKey').trigger('change');
      });
      refresh();
    },
  });
})();
