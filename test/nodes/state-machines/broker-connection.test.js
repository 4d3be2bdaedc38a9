'use strict';
// BrokerConnection driven at its edges, against the real broker through a TCP
// proxy that can hold a dial, stall a socket or drop it.

const assert = require('node:assert/strict');
const { BROKER_URL, CREDENTIALS, requireBroker } = require('../../helpers/amqp');
const { TcpProxy } = require('../../helpers/tcp-proxy');
const { BrokerConnection, retryInSeconds } = require('../../../nodes/lib/core/amqp/broker-connection');
const { parseBrokerUrls } = require('../../../nodes/lib/core/amqp/broker-url');
const { FAST_BACKOFF, brokerTarget, connectionTo: connectTo, next } = require('./support/broker');

const connectionTo = (url) => connectTo(url, 'state-machines broker-connection');

/** Resolves once the connection is connected with a usable connection (now or later). */
function connected(connection) {
  if (connection.connected && connection.channelModel) return Promise.resolve(connection.channelModel);
  return next(connection, 'connected');
}

/** Proves the connection works: a channel opens and closes on it. */
async function usable(model) {
  const channel = await model.createChannel();
  await channel.close();
}

describe('state machines: BrokerConnection at its edges', function () {
  this.timeout(30000);
  let proxy;
  let connection;

  before(function () {
    requireBroker();
  });
  beforeEach(async function () {
    proxy = await TcpProxy.start(brokerTarget());
  });
  afterEach(async function () {
    if (connection) await connection.close();
    connection = null;
    await proxy.close();
  });

  describe('a close during a dial', function () {
    it("a user who registers while the close waits gets a connection of its own that works, and the first dial's connection is closed", async function () {
      connection = connectionTo(proxy.url(BROKER_URL));
      proxy.hold();
      const first = {};
      const dialing = next(proxy, 'accepted');
      connection.register(first);
      await dialing;
      // The last user leaves while the dial hangs, and a new one arrives before it ends.
      const closing = connection.deregister(first);
      const second = {};
      connection.register(second);
      assert.equal(connection.status.state, 'connecting');
      proxy.release();
      await closing;
      if (connection.status.state === 'connected')
        assert.ok(connection.channelModel, 'the state says connected, but there is no connection');
      const model = await connected(connection);
      assert.equal(connection.status.state, 'connected');
      assert.equal(connection.channelModel, model, 'the connection the second user was told about is the one it has');
      await usable(model);
      // The first dial's connection was discarded: only the second user's is open.
      assert.equal(proxy.accepted, 2, 'the second user got a dial of its own');
      while (proxy.connections > 1) await next(proxy, 'closed');
      assert.equal(proxy.connections, 1);
      // And it stays usable: nothing closes it behind the user's back.
      await usable(connection.channelModel);
      assert.equal(connection.status.state, 'connected');
    });

    it("with nobody left, the close returns without waiting for the dial, and the dial's connection is closed when it completes", async function () {
      // A dial the proxy holds ends only with release() or the connect timeout, 15 s here.
      connection = new BrokerConnection({
        endpoints: parseBrokerUrls(proxy.url(BROKER_URL), 5),
        credentials: CREDENTIALS,
        secrets: [CREDENTIALS.password],
        connectionName: 'state-machines broker-connection held dial',
        connectTimeoutMs: 15000,
        backoff: FAST_BACKOFF,
      });
      proxy.hold();
      const user = {};
      const dialing = next(proxy, 'accepted');
      connection.register(user);
      await dialing;
      let announced = false;
      connection.on('connected', () => {
        announced = true;
      });
      const started = Date.now();
      await connection.deregister(user);
      // A close that waited for the dial would take the 15 s connect timeout; it takes a few ms, and 5 s gives a
      // loaded runner room and is far from the timeout.
      assert.ok(Date.now() - started < 5000, `the close waited ${Date.now() - started} ms for a dial nobody needs`);
      assert.equal(connection.status.state, 'closed');
      const forwarding = next(proxy, 'forwarding');
      proxy.release();
      await forwarding;
      await proxy.idle(); // the dial completed, saw it was too late, and closed its connection
      assert.equal(announced, false, 'a closed connection announced a connection');
      assert.equal(connection.status.state, 'closed');
      assert.equal(connection.channelModel, null);
    });
  });

  describe('a dropped socket', function () {
    it("says disconnected with the socket's error, reconnects by itself, and the new connection works", async function () {
      connection = connectionTo(proxy.url(BROKER_URL));
      connection.register({});
      const before = await connected(connection);
      const lost = next(connection, 'disconnected');
      proxy.drop();
      const reason = await lost;
      assert.ok(reason.length > 0);
      assert.notEqual(connection.status.state, 'connected');
      const after = await next(connection, 'connected');
      assert.notEqual(after, before);
      await usable(after);
    });
  });

  describe('the next dial\'s time, for a status that says "retrying in N s"', function () {
    // No jitter: the first reconnect comes exactly RETRY_MS after the loss.
    const RETRY_MS = 2000;
    const slowConnectionTo = (url) =>
      new BrokerConnection({
        endpoints: parseBrokerUrls(url, 5),
        credentials: CREDENTIALS,
        secrets: [CREDENTIALS.password],
        connectionName: 'state-machines broker-connection retry time',
        connectTimeoutMs: 5000,
        backoff: { initialDelayMs: RETRY_MS, maxDelayMs: 10 * RETRY_MS, jitter: 0 },
      });

    it("a lost connection's status says when it dials again; dialling and connected again, no time", async function () {
      connection = slowConnectionTo(proxy.url(BROKER_URL));
      connection.register({});
      await connected(connection);
      assert.equal(connection.status.retryAt, null);
      const lost = next(connection, 'status', (status) => status.state === 'disconnected');
      const droppedAt = Date.now();
      proxy.drop();
      const status = await lost;
      const seenAt = Date.now();
      assert.ok(
        status.retryAt >= droppedAt + RETRY_MS && status.retryAt <= seenAt + RETRY_MS,
        `retryAt is ${status.retryAt - droppedAt} ms after the drop, not ${RETRY_MS}`,
      );
      assert.equal(retryInSeconds(status, seenAt), Math.ceil((status.retryAt - seenAt) / 1000));
      assert.equal(retryInSeconds(status, status.retryAt - 1500), 2);
      assert.equal(retryInSeconds(status, status.retryAt), null, 'due now: "retrying", not "retrying in 0 s"');
      const dialling = await next(connection, 'status', (s) => s.state === 'connecting');
      // Timers run on a monotonic clock, Date.now on the wall clock: a millisecond apart at most.
      assert.ok(Date.now() >= status.retryAt - 1, 'dialled before the time the status gave');
      assert.equal(dialling.retryAt, null, 'a dial under way has no next time');
      await next(connection, 'connected');
      assert.equal(connection.status.retryAt, null);
    });

    it('an unreachable broker: every failed dial gives the next time; a close clears it', async function () {
      const gone = await TcpProxy.start(brokerTarget());
      const url = gone.url(BROKER_URL);
      await gone.close(); // a port nothing listens on
      connection = slowConnectionTo(url);
      const failedAt = Date.now();
      connection.register({});
      const status = await next(connection, 'status', (s) => s.state === 'disconnected');
      assert.ok(status.error, 'no reason for the failed dial');
      assert.ok(status.retryAt >= failedAt + RETRY_MS, 'no time, or one before the backoff');
      assert.equal(retryInSeconds(status), 2);
      await connection.close();
      assert.equal(connection.status.state, 'closed');
      assert.equal(connection.status.retryAt, null);
    });
  });

  describe('a stalled socket', function () {
    it('does not hold up a close: the handshake that never ends is abandoned within a second or so', async function () {
      connection = connectionTo(proxy.url(BROKER_URL));
      connection.register({});
      await connected(connection);
      proxy.stall();
      const started = Date.now();
      await connection.close();
      const elapsed = Date.now() - started;
      // The handshake is abandoned after 1 s; a close that waited for it would end only with the heartbeat's timeout
      // (two missed 5 s heartbeats, 10 to 15 s). 5 s gives a loaded runner room and is half the nearest.
      assert.ok(elapsed < 5000, `close took ${elapsed} ms on a stalled socket`);
      await proxy.idle(); // its socket was destroyed, not left to the heartbeat
    });
  });

  describe('closeWhenIdle (the broker node closing on a redeploy)', function () {
    it('with the broker unreachable, closes at once: no confirm can come', async function () {
      const gone = await TcpProxy.start(brokerTarget());
      const url = gone.url(BROKER_URL);
      await gone.close(); // a port nothing listens on
      connection = connectionTo(url);
      connection.register({});
      await next(connection, 'status', (status) => status.state === 'disconnected');
      const started = Date.now();
      await connection.closeWhenIdle(15000);
      const elapsed = Date.now() - started;
      // A close that waited for confirms that cannot come would take its 15 s; it takes a few ms, and 5 s gives a
      // loaded runner room while staying far from the wait.
      assert.ok(elapsed < 5000, `closeWhenIdle waited ${elapsed} ms with the broker down`);
      assert.equal(connection.status.state, 'closed');
    });

    it('with the broker there, waits for its users to leave, then closes', async function () {
      connection = connectionTo(proxy.url(BROKER_URL));
      const user = {};
      connection.register(user);
      await connected(connection);
      let closed = false;
      const closing = connection.closeWhenIdle(10000).then(() => {
        closed = true;
      });
      await new Promise(setImmediate);
      assert.equal(closed, false, 'closed with a user still registered');
      await connection.deregister(user);
      await closing;
      assert.equal(connection.status.state, 'closed');
    });

    it('stops waiting when the connection is lost while its users are still there', async function () {
      connection = connectionTo(proxy.url(BROKER_URL));
      connection.register({});
      await connected(connection);
      const started = Date.now();
      const closing = connection.closeWhenIdle(15000);
      proxy.drop();
      await closing;
      // One that kept waiting for its users would take its 15 s; 5 s gives a loaded runner room and is far from it.
      assert.ok(
        Date.now() - started < 5000,
        `closeWhenIdle waited ${Date.now() - started} ms after the connection was lost`,
      );
      assert.equal(connection.status.state, 'closed');
    });
  });
});
