'use strict';
// ConfirmPublisher driven at its edges, against the real broker through a TCP
// proxy: a stalled socket makes a confirm late or missing for sure, a dropped
// one loses the connection with messages unconfirmed.

const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const { ConfirmPublisher, PublishError, publishErrorCode } = require('../../../nodes/lib/core/amqp/confirm-publisher');
const { ERROR_CODES, KumoError } = require('../../../nodes/lib/core/text/errors');
const { BROKER_URL, SideChannel, uniqueName, requireBroker } = require('../../helpers/amqp');
const { TcpProxy } = require('../../helpers/tcp-proxy');
const { brokerTarget, connectionTo: connectTo, next, ready } = require('./support/broker');

const connectionTo = (url) => connectTo(url, 'state-machines confirm-publisher');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/**
 * Publishes one message; `settled` resolves with its first outcome, and
 * `calls` counts every outcome it gets (there must only ever be one).
 */
function publish(publisher, request) {
  const outcome = { calls: 0 };
  outcome.settled = new Promise((resolve) => {
    publisher.publish(request, (err, result, returned) => {
      outcome.calls++;
      resolve({ err, result, returned });
    });
  });
  return outcome;
}

function message(routingKey, body = 'hello', extra = {}) {
  return {
    exchange: '',
    routingKey,
    content: Buffer.from(body),
    options: { persistent: false },
    mandatory: false,
    ...extra,
  };
}

/**
 * Publishes a 1 MiB message whose headers cannot be encoded; returns a WeakRef
 * to its body. A function of its own, so no test frame keeps the body.
 */
function publishUnencodable(publisher, i, callback) {
  const content = Buffer.alloc(1024 * 1024, i);
  publisher.publish(
    {
      exchange: '',
      routingKey: 'unused',
      content,
      options: { headers: { big: 'x'.repeat(200000) } },
      mandatory: false,
    },
    callback,
  );
  return new WeakRef(content);
}

describe('state machines: ConfirmPublisher at its edges', function () {
  this.timeout(30000);
  let side;
  let proxy;
  let connection;
  let publisher;
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
    queue = await side.queue(uniqueName('state-machines-publisher'));
  });
  afterEach(async function () {
    proxy.unstall();
    if (publisher) await publisher.close(0);
    publisher = null;
    await connection.close();
    await proxy.close();
  });

  function publisherWith(settings = {}) {
    publisher = new ConfirmPublisher(connection, {
      confirm: true,
      confirmTimeoutMs: 10000,
      maxWaiting: 1000,
      declare: null,
      ...settings,
    });
    return publisher;
  }

  describe('error codes a flow can branch on', function () {
    it('gives every PublishError an own `code`: overloaded, closing, bad input, or broker unavailable', function () {
      const expected = {
        overloaded: ERROR_CODES.overloaded,
        closing: ERROR_CODES.closing,
        invalid: ERROR_CODES.badInput,
        'not-connected': ERROR_CODES.brokerUnavailable,
        'channel-closed': ERROR_CODES.brokerUnavailable,
        'connection-lost': ERROR_CODES.brokerUnavailable,
        timeout: ERROR_CODES.brokerUnavailable,
      };
      for (const [kind, code] of Object.entries(expected)) {
        const err = new PublishError(kind, 'words');
        assert.ok(
          Object.hasOwn(err, 'code'),
          `${kind}: code is not an own property (Node-RED copies own properties to msg.error)`,
        );
        assert.equal(err.code, code, kind);
        assert.equal(publishErrorCode(kind), code, kind);
        assert.ok(err instanceof KumoError && err instanceof Error);
        assert.equal(err.kind, kind);
        assert.equal(err.message, 'words');
      }
    });

    it('refuses with the overloaded code past maxWaiting, and with the closing code once closing', async function () {
      const p = publisherWith({ maxWaiting: 1 });
      await ready(p);
      proxy.stall(); // the first message stays waiting for its confirm
      const first = publish(p, message(queue));
      const refused = await publish(p, message(queue)).settled;
      assert.equal(refused.err.code, ERROR_CODES.overloaded);
      const closing = p.close(200);
      const late = await publish(p, message(queue)).settled;
      assert.equal(late.err.code, ERROR_CODES.closing);
      await closing;
      assert.equal((await first.settled).err.code, ERROR_CODES.closing);
    });

    it('fails a message that cannot be encoded with the bad-input code', async function () {
      const p = publisherWith();
      await ready(p);
      const { err } = await publish(p, message(queue, 'x', { options: { headers: { big: 'x'.repeat(200000) } } }))
        .settled;
      assert.equal(err.kind, 'invalid');
      assert.equal(err.code, ERROR_CODES.badInput);
    });
  });

  describe('a missing confirm (stalled socket), then a late one', function () {
    it('times the message out with a clear error, and the confirm that arrives after it is not a second outcome', async function () {
      const p = publisherWith({ confirmTimeoutMs: 300 });
      await ready(p);
      proxy.stall();
      const stuck = publish(p, message(queue, 'late'));
      const { err, result } = await stuck.settled;
      assert.equal(result, null);
      assert.equal(err.kind, 'timeout');
      assert.equal(err.code, ERROR_CODES.brokerUnavailable);
      assert.match(err.message, /no publisher confirm within 0\.3 s; the message may or may not have been delivered/);
      assert.equal(p.outstanding, 0);
      // The bytes move again: the broker stores the message and confirms it, late.
      proxy.unstall();
      const after = await publish(p, message(queue, 'after')).settled;
      assert.equal(after.result.status, 'Ack');
      // Confirms come in order on a channel: the late one was handled before this Ack.
      assert.equal(stuck.calls, 1, 'the late confirm settled the message a second time');
      assert.equal(
        await side.count(queue),
        2,
        'the timed-out message was in fact delivered (the error said it may have been)',
      );
    });

    it('settles a timed-out message once even when its channel then dies with the connection', async function () {
      const p = publisherWith({ confirmTimeoutMs: 300 });
      await ready(p);
      proxy.stall();
      const stuck = publish(p, message(queue));
      assert.equal((await stuck.settled).err.kind, 'timeout');
      const reconnected = next(connection, 'connected');
      proxy.drop(); // amqplib now fails the pending confirm: the message is settled already
      await reconnected;
      await ready(p);
      assert.equal((await publish(p, message(queue)).settled).result.status, 'Ack');
      assert.equal(stuck.calls, 1);
    });
  });

  describe('a dropped socket with messages unconfirmed', function () {
    it('fails each with "connection lost ... may or may not have been delivered" (not "channel closed"), and publishes again after the reconnect', async function () {
      const p = publisherWith();
      await ready(p);
      proxy.stall(); // written, and unconfirmed for sure
      const inFlight = Array.from({ length: 5 }, (_, i) => publish(p, message(queue, `m${i}`)));
      proxy.drop();
      for (const outcome of inFlight) {
        const { err } = await outcome.settled;
        assert.equal(err.kind, 'connection-lost', err.message);
        assert.equal(err.code, ERROR_CODES.brokerUnavailable);
        assert.match(
          err.message,
          /^connection to the broker lost before it confirmed the message \(.+\); it may or may not have been delivered$/,
        );
        assert.doesNotMatch(err.message, /channel closed/);
      }
      await ready(p);
      assert.equal((await publish(p, message(queue)).settled).result.status, 'Ack');
      for (const outcome of inFlight) assert.equal(outcome.calls, 1);
    });
  });

  describe('memory: what is settled is let go', function () {
    it('drops settled messages and their bodies while an earlier one still waits for its confirm', async function () {
      const p = publisherWith({ confirmTimeoutMs: 20000 });
      await ready(p);
      proxy.stall();
      const stuck = publish(p, message(queue, 'stuck'));
      // Later messages settle at once (their headers cannot be encoded): the
      // stuck one must not keep them, or their 1 MiB bodies, until its timeout.
      // Only the kinds are kept here: an error's stack would hold the test's own closures.
      const kinds = [];
      const bodies = Array.from({ length: 20 }, (_, i) => publishUnencodable(p, i, (err) => kinds.push(err?.kind)));
      assert.deepEqual(kinds, Array(20).fill('invalid'));
      assert.equal(p.outstanding, 1);
      await new Promise(setImmediate); // WeakRef targets live until the current job ends
      gc();
      const kept = bodies.filter((ref) => ref.deref() !== undefined).length;
      assert.equal(kept, 0, `${kept} bodies of settled messages are still referenced behind the unconfirmed one`);
      proxy.unstall();
      assert.equal((await stuck.settled).result.status, 'Ack');
    });
  });

  describe('a channel the broker keeps closing (missing exchange)', function () {
    it('reopens it with a delay that grows while it keeps failing, and from the start again after a publish succeeds', async function () {
      this.timeout(30000);
      const exchange = uniqueName('state-machines-missing');
      const p = publisherWith();
      await ready(p);
      /** Publishes to the missing exchange, sees the channel closed for it (404), and times its reopening. */
      async function failAndReopen() {
        const { err } = await publish(p, message('k', 'x', { exchange })).settled;
        assert.match(err.message, /404/);
        const failedAt = performance.now();
        await ready(p);
        return performance.now() - failedAt;
      }
      // 50 ms doubling: the six reopens wait 50, 100, 200, 400, 800 and 1600 ms.
      const schedule = [50, 100, 200, 400, 800, 1600];
      const gaps = [];
      for (const _ of schedule) gaps.push(await failAndReopen());
      // A timer never fires before its delay (less the few ms the event loop's cached time may lag), so each
      // reopen waited at least its step, less the most a jitter may take off it (none today; 0.2, as the broker
      // connection's, at most): a delay that did not grow (a fixed 50 ms) fails from the second on.
      const JITTER = 0.2;
      gaps.forEach((gap, i) => {
        assert.ok(
          gap >= schedule[i] * (1 - JITTER) - 5,
          `reopen ${i + 1} came ${gap.toFixed(0)} ms after the failure, before its step of ${schedule[i]} ms`,
        );
      });
      // It grew from a short first delay: the first reopen is quicker than a quarter of the sixth
      // (50 ms against at least 1280 ms; a delay that stayed put, or started near its cap, is not).
      assert.ok(
        gaps[0] < gaps[5] / 4,
        `the first reopen took ${gaps[0].toFixed(0)} ms, the sixth ${gaps[5].toFixed(0)} ms: the delay did not grow from a short start`,
      );

      // The exchange appears; the next channel publishes, and the Ack resets the backoff.
      await side.exchange(exchange);
      await side.channel.bindQueue(queue, exchange, 'k');
      const ok = await publish(p, message('k', 'ok', { exchange })).settled;
      assert.equal(ok.result.status, 'Ack');
      await side.channel.deleteExchange(exchange);
      // From the start again: 50 ms, where a backoff the Ack did not reset would wait its next step, 3200 ms.
      // Measured against the sixth reopen above (its step 1600 ms), so a slow runner slows both.
      const reopenedAfter = await failAndReopen();
      assert.ok(
        reopenedAfter < gaps[5] / 2,
        `after a successful publish the channel was reopened ${reopenedAfter.toFixed(0)} ms after a failure (the sixth reopen before it took ${gaps[5].toFixed(0)} ms)`,
      );
      console.log(
        `      [figures] channel backoff against a missing exchange: reopened after ${gaps.map((g) => g.toFixed(0)).join(', ')} ms; ${reopenedAfter.toFixed(0)} ms after the first failure that followed an Ack`,
      );
    });
  });

  describe('close', function () {
    it('with the broker down, fails waiting messages at once as closing instead of waiting its grace', async function () {
      const p = publisherWith({ confirmTimeoutMs: 30000 });
      await ready(p);
      const lost = next(connection, 'disconnected');
      await proxy.close(); // the broker is gone, and stays gone
      await lost;
      const waiting = Array.from({ length: 50 }, (_, i) => publish(p, message(queue, `w${i}`)).settled);
      assert.equal(p.outstanding, 50);
      const started = Date.now();
      await p.close(15000);
      const elapsed = Date.now() - started;
      // No confirm can come without the connection: a close that waited anyway would take its 15 s grace.
      // It takes a few ms; 5 s gives a loaded runner room and is far from the grace.
      assert.ok(elapsed < 5000, `close took ${elapsed} ms with the broker down`);
      for (const { err } of await Promise.all(waiting)) {
        assert.equal(err.kind, 'closing');
        assert.equal(err.code, ERROR_CODES.closing);
        assert.match(err.message, /closing; message not published/);
      }
      publisher = null;
      proxy = await TcpProxy.start(brokerTarget()); // for afterEach
    });

    it('waits its grace only for messages written on a live connection, then fails them as maybe delivered', async function () {
      const p = publisherWith({ confirmTimeoutMs: 30000 });
      await ready(p);
      proxy.stall();
      const written = publish(p, message(queue));
      const started = Date.now();
      await p.close(300);
      const elapsed = Date.now() - started;
      // At least the 300 ms grace (a timer never fires early; 10 ms for the wall clock against the timers' clock), then
      // close handshakes the stalled socket never answers, each abandoned after 1 s. A close that waited for one would
      // end only with the heartbeat's timeout (two missed 5 s heartbeats, 10 to 15 s) or the 30 s confirm timeout;
      // 5 s gives a loaded runner room and is half the nearest.
      assert.ok(
        elapsed >= 290 && elapsed < 5000,
        `close took ${elapsed} ms (grace 300 ms, then a close handshake the stalled socket never answers)`,
      );
      const { err } = await written.settled;
      assert.equal(err.kind, 'closing');
      assert.match(
        err.message,
        /closed before the broker confirmed the message; it may or may not have been delivered/,
      );
      publisher = null;
    });
  });
});
