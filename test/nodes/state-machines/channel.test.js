'use strict';
// ChannelKeeper driven at its edges, against the real broker through a TCP
// proxy: the broker closing a channel, a socket that drops, a close that comes
// while a channel is being opened, a close the stalled socket never answers.

const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { ChannelKeeper } = require('../../../nodes/lib/core/amqp/channel');
const { BROKER_URL, SideChannel, uniqueName, requireBroker } = require('../../helpers/amqp');
const { TcpProxy } = require('../../helpers/tcp-proxy');
const { brokerTarget, connectionTo: connectTo, next } = require('./support/broker');

const connectionTo = (url) => connectTo(url, 'state-machines channel');

const REOPEN = { initialDelayMs: 100, maxDelayMs: 1000 };
// A timer fires no earlier than its delay, measured from the event loop's
// cached clock, which may lag Date.now() by a few milliseconds.
const TIMER_SLACK_MS = 10;
// The keeper waits this long for a CloseOk (broker-connection.ts's CLOSE_HANDSHAKE_MS).
const CLOSE_HANDSHAKE_MS = 1000;

describe('state machines: ChannelKeeper at its edges', function () {
  this.timeout(30000);
  let side;
  let proxy;
  let connection;
  /** Users of the connection a test adds, so a keeper's close does not close it. */
  let others;
  let keepers;
  let faults;
  let queue;

  before(async function () {
    requireBroker();
    side = await SideChannel.open();
  });
  after(async function () {
    if (side) await side.close();
  });
  beforeEach(async function () {
    proxy = await TcpProxy.start(brokerTarget());
    connection = connectionTo(proxy.url(BROKER_URL));
    others = [];
    keepers = [];
    faults = [];
    queue = await side.queue(uniqueName('state-machines-channel'));
  });
  afterEach(async function () {
    proxy.unstall();
    for (const keeper of keepers) await keeper.close();
    await connection.close();
    await proxy.close();
    assert.deepEqual(
      faults.map((err) => err.message),
      [],
      'a callback of the keeper or its user threw',
    );
  });

  /**
   * A started keeper whose user reports `opened` (channel, previous) and `lost`
   * (the loss) as events of `user`; `prepare` sets each channel up.
   */
  function keeperWith({ confirm = false, prepare = async () => undefined } = {}) {
    const user = new EventEmitter();
    const keeper = new ChannelKeeper(
      connection,
      { confirm, backoff: REOPEN },
      {
        prepare,
        opened: (channel, previous) => user.emit('opened', channel, previous),
        lost: (loss) => user.emit('lost', loss),
      },
      () => (err) => faults.push(err),
    );
    keepers.push(keeper);
    const firstOpen = next(user, 'opened');
    keeper.start();
    return { keeper, user, firstOpen };
  }

  /** Resolves with the arguments of the next `opened` its user reports: [channel, previous]. */
  function nextOpened(user) {
    return new Promise((resolve) => user.once('opened', (...args) => resolve(args)));
  }

  /** Keeps the connection up whatever the keeper does. */
  function anotherUser() {
    const other = {};
    others.push(other);
    connection.register(other);
  }

  describe('a channel the broker closes (404 on a passive declare)', function () {
    it('is reported as the channel lost, with the broker’s words, and reopened after the backoff, which grows while it keeps failing', async function () {
      const { keeper, user, firstOpen } = keeperWith();
      let channel = await firstOpen;
      const missing = uniqueName('state-machines-missing');
      const gaps = [];
      for (const wait of [REOPEN.initialDelayMs, REOPEN.initialDelayMs * 2]) {
        const lost = next(user, 'lost');
        const reopened = nextOpened(user);
        await assert.rejects(channel.checkQueue(missing), /404/);
        const loss = await lost;
        const lostAt = Date.now();
        assert.equal(loss.cause, 'channel');
        assert.equal(loss.channel, channel);
        assert.match(loss.error, /NOT_FOUND - no queue/);
        assert.equal(keeper.channel, null);
        assert.equal(keeper.error, loss.error);
        const [fresh, previous] = await reopened;
        const gap = Date.now() - lostAt;
        gaps.push(gap);
        assert.ok(gap >= wait - TIMER_SLACK_MS, `reopened ${gap} ms after the loss, before the backoff's ${wait} ms`);
        assert.notEqual(fresh, channel);
        assert.equal(previous, null);
        assert.equal(keeper.channel, fresh);
        assert.equal(keeper.error, null);
        assert.equal((await fresh.checkQueue(queue)).queue, queue, 'the reopened channel works');
        channel = fresh;
      }
      console.log(`      [figures] channel reopened ${gaps.join(' ms, then ')} ms after the broker closed it`);
    });

    it('is reopened after the backoff when its setup is refused, without a channel handed over meanwhile', async function () {
      const missing = uniqueName('state-machines-later');
      let refusals = 0;
      const { keeper, user, firstOpen } = keeperWith({
        // The queue does not exist yet: the broker closes each channel set up before it does.
        prepare: async (channel) => {
          try {
            await channel.checkQueue(missing);
          } catch (err) {
            refusals++;
            throw err;
          }
        },
      });
      const losses = [];
      await new Promise((resolve) =>
        user.on('lost', (loss) => {
          losses.push({ ...loss, at: Date.now() });
          if (losses.length === 2) resolve();
        }),
      );
      assert.equal(keeper.channel, null);
      for (const loss of losses.slice(0, 2)) {
        assert.equal(loss.cause, 'channel');
        assert.equal(loss.channel, null, 'an open that failed has no channel to report');
        assert.match(loss.error, /404/);
      }
      const gap = losses[1].at - losses[0].at;
      assert.ok(gap >= REOPEN.initialDelayMs - TIMER_SLACK_MS, `the second setup failed ${gap} ms after the first`);
      await side.queue(missing);
      const opened = await firstOpen;
      assert.equal(keeper.channel, opened);
      assert.ok(refusals >= 2, `${refusals} refusals`);
    });
  });

  describe('a dropped socket', function () {
    it('is reported as a lost connection, not a closed channel, and the channel opens again on the next connection', async function () {
      const { keeper, user, firstOpen } = keeperWith({ confirm: true });
      const first = await firstOpen;
      proxy.stall(); // the message is written and stays unconfirmed
      // Asked in the confirm callback itself, as a publisher asks: before the connection has said it is gone.
      const diagnosed = new Promise((resolve) =>
        first.publish('', queue, Buffer.from('x'), {}, (err) =>
          keeper.diagnose(first, (cause) => resolve({ err, cause })),
        ),
      );
      const lost = next(user, 'lost');
      const reopened = nextOpened(user);
      proxy.drop();
      const { err, cause } = await diagnosed;
      assert.match(err.message, /channel closed/);
      assert.equal(cause, 'connection');
      const loss = await lost;
      assert.equal(loss.cause, 'connection');
      assert.equal(loss.channel, first);
      assert.equal(keeper.channel, null);
      const [second, previous] = await reopened;
      assert.notEqual(second, first);
      assert.equal(previous, null);
      assert.equal(connection.status.state, 'connected');
      assert.equal(proxy.accepted, 2, 'the channel opened on a new connection');
      await new Promise((resolve, reject) =>
        second.publish('', queue, Buffer.from('y'), {}, (e) => (e ? reject(e) : resolve())),
      );
    });

    it('where the broker closed the channel instead, a failed confirm is the channel’s', async function () {
      const { keeper, firstOpen } = keeperWith({ confirm: true });
      const channel = await firstOpen;
      const missing = uniqueName('state-machines-no-exchange');
      const diagnosed = new Promise((resolve) =>
        channel.publish(missing, 'k', Buffer.from('x'), {}, (err) =>
          keeper.diagnose(channel, (cause) => resolve({ err, cause })),
        ),
      );
      const { err, cause } = await diagnosed;
      assert.match(err.message, /channel closed/);
      assert.equal(cause, 'channel');
      assert.match(keeper.error, /404/);
      assert.equal(connection.status.state, 'connected');
    });
  });

  describe('a close during an open', function () {
    it('closes the channel being set up instead of handing it over, and opens none after', async function () {
      anotherUser();
      let release;
      const held = new Promise((resolve) => {
        release = resolve;
      });
      let setUp;
      const settingUp = new Promise((resolve) => {
        setUp = resolve;
      });
      const { keeper, user } = keeperWith({
        prepare: async (channel) => {
          setUp(channel);
          await held;
        },
      });
      const handed = [];
      user.on('opened', (channel) => handed.push(channel));
      user.on('lost', (loss) => handed.push(loss));
      const channel = await settingUp;
      const channelClosed = next(channel, 'close');
      await keeper.close();
      release();
      await channelClosed; // closed by the keeper: the connection stays up for the other user
      assert.equal(connection.status.state, 'connected');
      assert.deepEqual(handed, []);
      assert.equal(keeper.channel, null);
    });

    it('opens nothing when the close comes while the connection is still dialling', async function () {
      proxy.hold();
      const dialling = next(proxy, 'accepted');
      anotherUser();
      let prepared = 0;
      const { keeper, user } = keeperWith({
        prepare: async () => {
          prepared++;
        },
      });
      let opened = 0;
      user.on('opened', () => opened++);
      await dialling;
      await keeper.close();
      const up = next(connection, 'connected');
      proxy.release();
      const model = await up;
      // A channel of our own, opened after the connection said it is up: had the
      // keeper opened one on 'connected', its setup would have run before ours is open.
      const probe = await model.createChannel();
      await probe.checkQueue(queue);
      await probe.close();
      assert.equal(prepared, 0);
      assert.equal(opened, 0);
      assert.equal(keeper.channel, null);
    });
  });

  describe('a close the stalled socket never answers', function () {
    it('waits for the CloseOk at most the handshake limit, then lets go', async function () {
      anotherUser();
      const { keeper, firstOpen } = keeperWith();
      await firstOpen;
      proxy.stall();
      const started = Date.now();
      await keeper.close();
      const elapsed = Date.now() - started;
      // At least the limit (no CloseOk came), and not much more: 4 s is room for a busy runner, far from "never".
      assert.ok(
        elapsed >= CLOSE_HANDSHAKE_MS - TIMER_SLACK_MS && elapsed < CLOSE_HANDSHAKE_MS + 4000,
        `close took ${elapsed} ms`,
      );
      assert.equal(keeper.channel, null);
    });
  });
});
