'use strict';
// How log hook in learns each record's final outcome from the pack (core/kumo/record-answers.ts):
// a key on the record's msg, settled once by whoever ends the record, and the request's answer
// once every record is settled, at its deadline, or when the node closes.

const assert = require('node:assert/strict');
const {
  RecordsRequest,
  answerRecord,
  awaitsAnswer,
  finalOutcome,
  refusedOutcome,
  RECORD_KEY,
  RETRY_AFTER_SEC,
} = require('../../nodes/lib/core/kumo/record-answers');
const { render } = require('../../nodes/lib/core/text/messages');

/** A request of `n` records: their msgs (with keys) and a promise of its answer. */
function request(n) {
  let answers = 0;
  let resolve;
  const answered = new Promise((r) => {
    resolve = r;
  });
  const req = new RecordsRequest((answer) => {
    answers++;
    resolve(answer);
  });
  const msgs = Array.from({ length: n }, () => ({ [RECORD_KEY]: req.addRecord() }));
  req.check();
  return { req, msgs, answered, answers: () => answers };
}

describe('record answers: 200 once every record of the request is confirmed', function () {
  it('answers a single record with its disposition, and a batch with a count', async function () {
    const one = request(1);
    assert.equal(answerRecord(one.msgs[0], { kind: 'confirmed', disposition: '250 {"status":"Ack"}' }), true);
    const answer = await one.answered;
    assert.equal(answer.status, 200);
    assert.equal(answer.retryAfterSec, null);
    assert.equal(answer.body, '250 {"status":"Ack"}');

    const many = request(3);
    for (const msg of many.msgs) answerRecord(msg, { kind: 'confirmed', disposition: '250 x' });
    const batch = await many.answered;
    assert.equal(batch.status, 200);
    assert.equal(render(batch.body), '250 3 records confirmed');
    assert.deepEqual(batch.counts, { records: 3, confirmed: 3, bounced: 0, expired: 0, refused: 0, unsettled: 0 });
  });

  it('waits for the last record', function () {
    const r = request(2);
    answerRecord(r.msgs[0], { kind: 'confirmed', disposition: '250 x' });
    assert.equal(r.answers(), 0);
    assert.equal(awaitsAnswer(r.msgs[1]), true);
    answerRecord(r.msgs[1], { kind: 'confirmed', disposition: '250 x' });
    assert.equal(r.answers(), 1);
  });
});

describe('record answers: what is not confirmed', function () {
  it('a Bounce (the broker refused it) is 500, whatever else the request had', async function () {
    const r = request(3);
    answerRecord(r.msgs[0], finalOutcome('Expiration', { code: 551, content: 'exceeds max_age' }));
    answerRecord(r.msgs[1], finalOutcome('Bounce', { code: 500, content: '{"status":"Nack"}' }));
    answerRecord(r.msgs[2], finalOutcome('Delivery', { code: 200, content: '250 ok' }));
    const answer = await r.answered;
    assert.equal(answer.status, 500);
    assert.equal(answer.retryAfterSec, null);
    assert.match(render(answer.body), /^2 of 3 records not confirmed; the first: \{"status":"Nack"\}/);
    assert.deepEqual(answer.counts, { records: 3, confirmed: 1, bounced: 1, expired: 1, refused: 0, unsettled: 0 });
  });

  it('an Expiration, or a record the pack could not take now, is 503 with Retry-After', async function () {
    const expired = request(1);
    answerRecord(expired.msgs[0], finalOutcome('Expiration', { code: 551, content: 'exceeds max_age=30s' }));
    const a = await expired.answered;
    assert.equal(a.status, 503);
    assert.equal(a.retryAfterSec, RETRY_AFTER_SEC);
    assert.equal(a.body, 'exceeds max_age=30s');
    for (const code of ['KUMO_OVERLOADED', 'KUMO_CLOSING', 'KUMO_NOT_BOUND', 'KUMO_BROKER_UNAVAILABLE']) {
      const r = request(1);
      answerRecord(r.msgs[0], refusedOutcome(code, `refused: ${code}`));
      const answer = await r.answered;
      assert.equal(answer.status, 503, code);
      assert.equal(answer.body, `refused: ${code}`);
    }
  });

  it('a record routed nowhere, or bad for the pack, is 500', async function () {
    for (const code of ['KUMO_NOT_CONFIGURED', 'KUMO_BAD_INPUT', undefined, null]) {
      const r = request(1);
      answerRecord(r.msgs[0], refusedOutcome(code, 'no route'));
      assert.equal((await r.answered).status, 500, String(code));
    }
  });
});

describe('record answers: the deadline, closing, and keys whose request is gone', function () {
  it('at the deadline the records still open answer 503, and later outcomes are ignored', async function () {
    const r = request(3);
    answerRecord(r.msgs[0], { kind: 'confirmed', disposition: '250 x' });
    r.req.expire(50);
    const answer = await r.answered;
    assert.equal(answer.status, 503);
    assert.equal(answer.retryAfterSec, RETRY_AFTER_SEC);
    assert.match(render(answer.body), /2 records not settled within 50 s/);
    assert.equal(answer.counts.unsettled, 2);
    assert.equal(answerRecord(r.msgs[1], { kind: 'confirmed', disposition: '250 x' }), false);
    assert.equal(awaitsAnswer(r.msgs[2]), false);
    assert.equal(r.answers(), 1, 'answered once');
  });

  it('closing answers 503 at once and forgets every key', async function () {
    const r = request(4);
    assert.deepEqual(
      r.msgs.map((msg) => awaitsAnswer(msg)),
      [true, true, true, true],
    );
    r.req.close();
    assert.equal((await r.answered).status, 503);
    assert.deepEqual(
      r.msgs.map((msg) => awaitsAnswer(msg)),
      [false, false, false, false],
    );
  });

  it('a msg without a key, with a key of no request (restored after a restart), or settled twice is not taken', function () {
    assert.equal(answerRecord({}, { kind: 'confirmed', disposition: '' }), false);
    assert.equal(answerRecord(null, { kind: 'confirmed', disposition: '' }), false);
    assert.equal(answerRecord({ [RECORD_KEY]: 'restored-key' }, { kind: 'confirmed', disposition: '' }), false);
    assert.equal(answerRecord({ [RECORD_KEY]: 42 }, { kind: 'confirmed', disposition: '' }), false);
    const r = request(2);
    assert.equal(answerRecord(r.msgs[0], { kind: 'confirmed', disposition: '250 x' }), true);
    assert.equal(answerRecord(r.msgs[0], { kind: 'bounced', content: 'late' }), false, 'the first outcome stands');
    // A copy of the msg (Node-RED clones at a fork) carries the same key.
    assert.equal(answerRecord({ ...r.msgs[1] }, { kind: 'confirmed', disposition: '250 x' }), true);
    assert.equal(r.answers(), 1);
  });

  it('an empty request is answered when checked', async function () {
    const r = request(0);
    const answer = await r.answered;
    assert.equal(answer.status, 200);
  });
});
