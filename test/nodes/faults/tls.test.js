'use strict';
// amqps:// with a Node-RED tls-config node. The broker's
// certificate comes from a CA the test makes with openssl, and the broker
// requires a client certificate from the same CA (verify_peer,
// fail_if_no_peer_cert). A wrong CA, or no client certificate, is a clear
// error that says what to fix.

const assert = require('node:assert/strict');
const {
  startFaultBroker,
  loadFlow,
  brokerNode,
  publishFlow,
  Side,
  statusWatch,
  brokers,
  helper,
} = require('./support/faults');

describe('faults: TLS with a tls-config node', function () {
  this.timeout(60000);
  let fb;
  let side;

  before(async function () {
    fb = await startFaultBroker();
    side = await Side.open(fb.url);
  });
  after(async () => {
    if (side) await side.close();
  });
  afterEach(() => helper.unload());

  async function start(tls, queue = 'faults-tls') {
    await loadFlow(
      [
        {
          id: 'tls',
          type: 'tls-config',
          name: 'test CA',
          cert: tls.cert || '',
          key: tls.key || '',
          ca: tls.ca || '',
          verifyservercert: true,
        },
        ...publishFlow(brokerNode('broker', fb.tlsUrl, { tls: 'tls', connectionName: 'kumo-faults tls' }), {
          routingKey: queue,
          confirmTimeout: 5,
        }),
      ],
      { broker: { username: 'guest', password: 'guest' } },
    );
    const errors = [];
    const delivered = [];
    helper.getNode('errors').on('input', (m) => errors.push(m.error.message));
    helper.getNode('delivered').on('input', (m) => delivered.push(m));
    return { pub: helper.getNode('pub'), statuses: statusWatch(helper.getNode('statuses')), errors, delivered };
  }

  const firstError = (n) =>
    new Promise((resolve) => {
      const check = () => (n.errors.length ? resolve(n.errors[0]) : setImmediate(check));
      check();
    });

  it('publishes over amqps:// with the CA and a client certificate, and the broker sees that certificate', async () => {
    const queue = await side.queue('faults-tls');
    await side.channel.purgeQueue(queue);
    const { certs } = fb;
    const n = await start({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    await n.statuses.until((s) => s.fill === 'green');
    n.pub.receive({ payload: 'over TLS' });
    await n.statuses.until(() => n.delivered.length === 1);
    assert.equal(n.delivered[0].amqp.status, 'Ack');
    const [stored] = await side.drain(queue);
    assert.equal(stored.content.toString(), 'over TLS');
    const { stdout } = await brokers.ctl(fb.instance, [
      'list_connections',
      'client_properties',
      'ssl',
      'ssl_protocol',
      'peer_cert_subject',
      '--silent',
    ]);
    const line = stdout.split('\n').find((l) => l.includes('"kumo-faults tls"'));
    assert.ok(line, 'the TLS connection is listed');
    assert.match(line, /\ttrue\t/, 'the connection is TLS');
    assert.match(line, /CN=kumo-amqp client/, 'the broker saw our client certificate');
    assert.deepEqual(n.errors, []);
  });

  it('a CA that did not sign the broker\'s certificate is a clear "certificate verify failed" error', async () => {
    const { certs } = fb;
    const n = await start({ ca: certs.otherCa, cert: certs.clientCert, key: certs.clientKey });
    const red = await n.statuses.until((s) => s.fill === 'red');
    assert.match(red.text, /certificate/);
    n.pub.receive({ payload: 'never sent' });
    const message = await firstError(n);
    assert.match(message, /TLS: certificate verify failed/);
    assert.match(message, /self-signed certificate in certificate chain|unable to verify/);
    assert.match(message, /check the CA certificate of the TLS configuration/);
    assert.equal(n.delivered.length, 0);
  });

  it('no client certificate: the error says the broker requires one', async () => {
    const n = await start({ ca: fb.certs.ca });
    n.pub.receive({ payload: 'never sent' });
    const message = await firstError(n);
    assert.match(message, /requires a client certificate/);
    assert.equal(n.delivered.length, 0);
  });
});
