(function () {
  var NS = '@kumo-flows/node-red-kumo-amqp/amqp-broker';
  function t(key, opts) {
    return RED._(`${NS}:amqp-broker.${key}`, opts);
  }

  // host: a name, an IPv4 address or a bracketed IPv6 address; the vhost is one
  // path segment (RabbitMQ's URI spec: a '/' inside it must be written %2F).
  var URL_RE =
    /^amqps?:\/\/(?:[^@/?#\s]*@)?(?:\[[0-9a-fA-F:.]+\]|[^@/?#\s:[\]]+)(?::(\d{1,5}))?(?:\/[^\s/?#]*)?(?:\?[^\s#]*)?$/i;

  function splitUrls(v) {
    return String(v == null ? '' : v)
      .split(',')
      .map(function (u) {
        return u.trim();
      });
  }
  // Userinfo never leaves this function: labels and messages show the URL without it.
  function stripUserinfo(u) {
    return u.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1');
  }
  function hasUserinfo(u) {
    return /^[a-z][a-z0-9+.-]*:\/\/[^@/?#]*@/i.test(u);
  }
  function anyTls(v) {
    return splitUrls(v).some(function (u) {
      return /^amqps:\/\//i.test(u);
    });
  }

  function validateUrls(v, _opt) {
    var urls = splitUrls(v);
    if (urls.length === 1 && urls[0] === '') {
      return t('errors.url-required');
    }
    for (var i = 0; i < urls.length; i++) {
      var u = urls[i];
      if (u === '') {
        return t('errors.url-empty-item');
      }
      if (!/^amqps?:\/\//i.test(u)) {
        return t('errors.url-scheme', { url: stripUserinfo(u) });
      }
      var m = URL_RE.exec(u);
      if (!m) {
        return t('errors.url-invalid', { url: stripUserinfo(u) });
      }
      if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) {
        return t('errors.url-port', { url: stripUserinfo(u) });
      }
    }
    return true;
  }

  RED.nodes.registerType('amqp-broker', {
    category: 'config',
    defaults: {
      name: { value: '' },
      url: { value: 'amqp://localhost', required: true, label: t('label.url'), validate: validateUrls },
      tls: { type: 'tls-config', required: false, label: t('label.tls') },
      heartbeat: {
        value: 60,
        label: t('label.heartbeat'),
        validate: function (v, _opt) {
          return /^\s*\d+\s*$/.test(String(v)) ? true : t('errors.heartbeat');
        },
      },
      connectionName: { value: '' },
    },
    credentials: {
      username: { type: 'text' },
      password: { type: 'password' },
    },
    paletteLabel: function () {
      return t('paletteLabel');
    },
    icon: 'amqp-broker.svg',
    label: function () {
      if (this.name) {
        return this.name;
      }
      return (
        splitUrls(this.url)
          .filter(function (u) {
            return u;
          })
          .map(stripUserinfo)
          .join(', ') || t('paletteLabel')
      );
    },
    oneditprepare: function () {
      function refresh() {
        var v = $('#node-config-input-url').val();
        $('#node-config-row-tls').toggle(anyTls(v));
        var withUserinfo = splitUrls(v).some(hasUserinfo);
        if (withUserinfo) {
          // A stored password shows as a placeholder value, so a non-empty field means "set".
          var haveCredentials =
            $('#node-config-input-username').val() !== '' || $('#node-config-input-password').val() !== '';
          $('#node-config-url-userinfo-text').text(t(haveCredentials ? 'tip.userinfo-ignored' : 'tip.userinfo-stored'));
        }
        $('#node-config-row-url-userinfo').toggle(withUserinfo);
      }
      $('#node-config-input-url, #node-config-input-username, #node-config-input-password').on('input change', refresh);
      refresh();
    },
    oneditsave: function () {
      // As the MQTT broker does with its TLS checkbox: a tls-config is only kept when it can be used.
      if (!anyTls($('#node-config-input-url').val())) {
        $('#node-config-input-tls').val('_ADD_');
      }
    },
  });
})();
