// @ts-check
'use strict';
// A connection's socket writes: what is published in one turn leaves in a few
// writev calls, not one write per message, and backpressure still holds.

const assert = require('node:assert/strict');
const amqp = require('amqplib');
const { AMQP_URL, requireBroker, uniqueName } = require('../../helpers/amqp');
const { BROKER_URL } = require('../../helpers/amqp');
const { batchSocketWrites } = require('../../../nodes/lib/core/amqp/socket-writes');
const { connectionTo, next } = require('./support/broker');

const MESSAGES = 200;
const BODY = Buffer.alloc(1024, 'x');

/**
 * Counts the socket's calls into its own write machinery (one per system call) while `work` runs.
 * @param {any} model an amqplib ChannelModel
 * @param {() => Promise<void>} work
 */
async function socketCalls(model, work) {
  const socket = model.connection.stream;
  const calls = { write: 0, writev: 0 };
  const write = socket._write;
  const writev = socket._writev;
  socket._write = function (/** @type {unknown[]} */ ...args) {
    calls.write++;
    return write.apply(this, args);
  };
  socket._writev = function (/** @type {unknown[]} */ ...args) {
    calls.writev++;
    return writev.apply(this, args);
  };
  try {
    await work();
  } finally {
    socket._write = write;
    socket._writev = writev;
  }
  return calls;
}

/**
 * Publishes MESSAGES persistent messages in one turn on a fresh confirm channel and waits for every confirm.
 * @param {any} model
 */
async function publishInOneTurn(model) {
  const channel = await model.createConfirmChannel();
  const queue = uniqueName('socket-writes');
  await channel.assertQueue(queue, { durable: false, exclusive: true });
  try {
    return await socketCalls(model, async () => {
      for (let i = 0; i < MESSAGES; i++) channel.publish('', queue, BODY, { persistent: true });
      await channel.waitForConfirms();
    });
  } finally {
    await channel.close();
  }
}

describe('state machines: a connection batches its socket writes', function () {
  this.timeout(20000);
  before(function () {
    requireBroker();
  });

  it('amqplib alone makes a write per message (what the batching takes away)', async function () {
    const model = await amqp.connect(AMQP_URL);
    try {
      const calls = await publishInOneTurn(model);
      assert.ok(calls.write + calls.writev >= MESSAGES, `${JSON.stringify(calls)} for ${MESSAGES} messages`);
    } finally {
      await model.close();
    }
  });

  it(`${MESSAGES} messages published in one turn leave in a few writev calls, and every one is confirmed`, async function () {
    const connection = connectionTo(BROKER_URL, 'state-machines socket-writes');
    const user = {};
    try {
      const connected = next(connection, 'connected');
      connection.register(user);
      const model = await connected;
      const calls = await publishInOneTurn(model);
      assert.ok(calls.writev >= 1, `no writev: ${JSON.stringify(calls)}`);
      // The socket's buffer takes 16 KiB before write() says wait: about 15 messages of 1 KiB per call.
      assert.ok(calls.write + calls.writev <= MESSAGES / 5, `${JSON.stringify(calls)} for ${MESSAGES} messages`);
    } finally {
      await connection.deregister(user);
      await connection.close();
    }
  });

  it('a connection whose internals are not as expected is left as it is', function () {
    assert.equal(batchSocketWrites(/** @type {any} */ ({})), false);
    assert.equal(batchSocketWrites(/** @type {any} */ ({ connection: { muxer: { out: {} } } })), false);
  });
});
