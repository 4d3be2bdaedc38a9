'use strict';
// examples/kumomta-webhook-to-amqp.json end to end over HTTP: KumoMTA's log
// hook posts one JSON record per request (send) or an array of them
// (send_batch); the answer is 200 only once the broker confirmed every record,
// a 5xx otherwise, and 422 with X-Kumo-Verdict only for a body that can never
// be a log record.

const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { SideChannel, uniqueName, AMQP_URL } = require('../helpers/amqp');
const { startNodeRed, freePort } = require('../helpers/node-red-process');

const EXAMPLE = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../examples/kumomta-webhook-to-amqp.json'), 'utf8'),
);

/**
 * The example as shipped, in a tab, pointed at the test broker and a queue of the test's own.
 * `change(node)` may return a node's replacement (null drops it), for a test that needs a
 * smaller limit or a broker that is down.
 */
function exampleFlow(queue, { declare = true, url = AMQP_URL, change = (n) => n } = {}) {
  const tab = { id: 'tab', type: 'tab', label: 'webhook' };
  return [
    tab,
    ...EXAMPLE.map((n) => {
      if (n.type === 'amqp-broker') return { ...n, url }; // userinfo in the URL: accepted when the credentials are empty
      if (n.type === 'amqp-publish') return { ...n, z: tab.id, routingKey: queue, declareQueue: declare ? queue : '' };
      return { ...n, z: tab.id };
    })
      .map(change)
      .filter(Boolean),
  ];
}

// Real-shaped KumoMTA log records (reference/log_record.md) of several types.
function record(type, i, padTo) {
  const base = {
    type,
    id: `${String(i).padStart(4, '0')}d98076abbbc11ed940250ebf67f93bd`.slice(0, 32),
    sender: 'noreply@example.com',
    recipient: `user${i}@example.com`,
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: {
      code: type === 'Bounce' ? 550 : 250,
      enhanced_code: null,
      content: type === 'Bounce' ? '5.1.1 user unknown — ünïcödé ✉' : 'OK',
      command: '.\r\n',
    },
    peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
    timestamp: 1678069691 + i,
    created: 1678069690,
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: { subject: 'Grüße aus Köln 🎉', tenant: 'tenant_y' },
    headers: { Subject: 'Grüße aus Köln 🎉' },
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
  };
  let text = JSON.stringify(base);
  if (padTo > text.length) {
    base.meta.padding = 'x'.repeat(padTo - text.length - ',"padding":""'.length);
    text = JSON.stringify(base);
  }
  return text;
}

let nodeRed = null;

async function load(flows) {
  nodeRed = await startNodeRed(flows);
}

async function post(body, timeoutMs) {
  const response = await fetch(`${nodeRed.url}/kumomta/log`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    verdict: response.headers.get('x-kumo-verdict'),
    text: await response.text(),
  };
}

/** How many answers had each status, e.g. { 503: 180, 500: 20 }. */
function tally(answers) {
  const counts = {};
  for (const a of answers) counts[a.status] = (counts[a.status] || 0) + 1;
  return counts;
}

describe('the webhook example (POST /kumomta/log → AMQP)', function () {
  let side;
  this.timeout(60000);
  beforeEach(async () => {
    side = await SideChannel.open();
  });
  afterEach(async () => {
    if (nodeRed) await nodeRed.stop();
    nodeRed = null;
    await side.close();
  });

  it('answers 200 only after the confirm, and each record arrives once, byte for byte', async function () {
    this.timeout(60000);
    const queue = uniqueName('webhook');
    side.queues.push(queue);
    await load(exampleFlow(queue));
    const types = [
      'Reception',
      'Delivery',
      'TransientFailure',
      'Bounce',
      'Expiration',
      'AdminBounce',
      'OOB',
      'Feedback',
    ];
    const sizes = [1024, 4096, 16384, 65536];
    const bodies = [];
    for (const [i, type] of types.entries()) {
      for (const [j, size] of sizes.entries()) bodies.push(record(type, i * 10 + j, size));
    }
    for (const body of bodies) {
      const answer = await post(body);
      assert.equal(answer.status, 200, `answered ${answer.status}: ${answer.text}`);
      // 200 means confirmed: a confirmed persistent message is already in the queue.
      assert.match(answer.text, /^250 \{"status":"Ack"/);
    }
    const stored = await side.drain(queue);
    assert.equal(stored.length, bodies.length, 'each record arrives exactly once');
    const received = stored.map((m) => m.content.toString('utf8'));
    assert.deepEqual(received, bodies, 'records differ from what KumoMTA posted');
    assert.ok(stored.every((m) => m.properties.deliveryMode === 2));
  });

  it('answers concurrent requests, each after its own confirm', async function () {
    this.timeout(60000);
    const queue = uniqueName('webhook-concurrent');
    side.queues.push(queue);
    await load(exampleFlow(queue));
    const bodies = Array.from({ length: 64 }, (_, i) => record('Delivery', i, 1024));
    const answers = await Promise.all(bodies.map((body) => post(body)));
    assert.deepEqual(
      answers.map((a) => a.status),
      bodies.map(() => 200),
    );
    const received = (await side.drain(queue)).map((m) => m.content.toString());
    assert.deepEqual(received.sort(), bodies.slice().sort());
  });

  it('answers 422 with X-Kumo-Verdict: not-a-log-record only to a body that can never be a log record, and publishes nothing', async function () {
    const queue = uniqueName('webhook-bad');
    side.queues.push(queue);
    await load(exampleFlow(queue));
    const cases = [
      ['not json at all', /^not JSON/],
      ['', /^not JSON/],
      ['[1, 2, 3]', /^not a KumoMTA log record/],
      ['[]', /^not a KumoMTA log record/],
      ['[7, "x", null, {"type": 1}]', /^not a KumoMTA log record/],
      ['{"no": "type field"}', /^not a KumoMTA log record/],
      ['{"type": 42}', /^not a KumoMTA log record/],
    ];
    for (const [body, expected] of cases) {
      const answer = await post(body);
      assert.equal(answer.status, 422, `${JSON.stringify(body)} answered ${answer.status}`);
      assert.equal(answer.verdict, 'not-a-log-record');
      assert.match(answer.text, expected);
    }
    // A good record still goes through after the bad ones.
    assert.equal((await post(record('Delivery', 1, 1024))).status, 200);
    assert.equal(await side.count(queue), 1);
  });

  it('answers 500 when the broker refuses the record (Nack → Bounce), so KumoMTA retries it', async function () {
    const queue = await side.queue(uniqueName('webhook-full'), {
      arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' },
    });
    await load(exampleFlow(queue, { declare: false }));
    const answer = await post(record('Delivery', 1, 1024));
    assert.equal(answer.status, 500);
    assert.match(answer.text, /"status":"Nack"/);
    assert.equal(await side.count(queue), 0);
  });

  it('answers 503 with Retry-After, never 4xx, when the pack cannot take a record now (broker down, max queued reached)', async function () {
    // Nothing listens on this port: the broker is down for the whole test.
    const downUrl = `amqp://127.0.0.1:${await freePort()}`;
    const queue = uniqueName('webhook-overload');
    await load(
      exampleFlow(queue, {
        url: downUrl,
        change: (n) => {
          if (n.type === 'kumo-custom-protocol') return { ...n, maxQueued: 20 };
          if (n.type === 'amqp-publish') return { ...n, confirmTimeout: '2' };
          // Short retries, so the 20 accepted records expire within seconds.
          if (n.type === 'kumo-queue-config')
            return {
              ...n,
              rules: n.rules.map((r) => ({ ...r, retry_interval: '1s', max_retry_interval: '1s', max_age: '3s' })),
            };
          return n;
        },
      }),
    );
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(record('Delivery', i, 512))));
    const counts = tally(answers);
    assert.deepEqual(counts, { 503: 200 }, `answers: ${JSON.stringify(counts)}`);
    assert.ok(answers.every((a) => a.retryAfter === '5' && a.verdict === null));
    // 180 refused at once; the 20 accepted expired (the broker never came): a 503 too, which the policy retries.
    assert.equal(answers.filter((a) => /not keeping up/.test(a.text)).length, 180);
    assert.equal(answers.filter((a) => /exceeds max_age/.test(a.text)).length, 20);
  });

  it('answers 503 while no custom protocol is bound to the constructor (a redeploy in progress)', async function () {
    const queue = uniqueName('webhook-unbound');
    await load(exampleFlow(queue, { change: (n) => (n.type === 'kumo-custom-protocol' ? null : n) }));
    const answer = await post(record('Delivery', 1, 512));
    assert.equal(answer.status, 503);
    assert.equal(answer.retryAfter, '5');
    assert.match(answer.text, /make\.webhook/);
  });

  it('takes KumoMTA batches: each record of an array is its own message, JSON-equal, and 200 comes once all are confirmed', async function () {
    this.timeout(60000);
    const queue = uniqueName('webhook-batches');
    side.queues.push(queue);
    await load(exampleFlow(queue));
    const requests = Array.from({ length: 20 }, (_, r) =>
      Array.from({ length: 50 }, (_, i) => JSON.parse(record(i % 3 ? 'Delivery' : 'Bounce', r * 50 + i, 600))),
    );
    const answers = await Promise.all(requests.map((records) => post(JSON.stringify(records))));
    assert.deepEqual(tally(answers), { 200: 20 }, JSON.stringify(answers.find((a) => a.status !== 200)));
    assert.ok(answers.every((a) => a.text === '250 50 records confirmed'));
    const drained = await side.drain(queue);
    // The example's rule batches up to 100 per ready queue: each element keeps its own record's content type.
    assert.ok(drained.every((m) => m.properties.contentType === 'application/json'));
    const received = drained.map((m) => JSON.parse(m.content.toString('utf8')));
    assert.equal(received.length, 1000, 'each record exactly once');
    const key = (r) => r.id;
    assert.deepEqual(
      received.sort((a, b) => key(a).localeCompare(key(b))),
      requests.flat().sort((a, b) => key(a).localeCompare(key(b))),
    );
  });

  it('answers 500 to an array when one of its records is refused by the broker (the others are published)', async function () {
    const queue = await side.queue(uniqueName('webhook-batch-full'), {
      arguments: { 'x-max-length': 3, 'x-overflow': 'reject-publish' },
    });
    await load(exampleFlow(queue, { declare: false }));
    const answer = await post(JSON.stringify([1, 2, 3, 4].map((i) => JSON.parse(record('Delivery', i, 300)))));
    assert.equal(answer.status, 500);
    assert.match(answer.text, /"status":"Nack"/);
    assert.equal(await side.count(queue), 3);
  });

  it('with the KumoMTA policy the README gives, a redeploy mid-stream bounces nothing and loses nothing', async function () {
    this.timeout(90000);
    const queue = uniqueName('webhook-policy');
    side.queues.push(queue);
    const flows = exampleFlow(queue);
    await load(flows);
    // The policy as a client: 2xx delivered; 422 with the verdict header bounced; anything
    // else (a 404 while the flow is being deployed, a 5xx, a refused connection) tried again.
    const outcome = { bounced: 0, retried: 0, notFound: 0 };
    // Requests under way now, and those each redeploy found under way when it started: the overlap to prove.
    const inFlight = new Set();
    const overlapping = [];
    let delivered = 0;
    const progress = []; // [records delivered, resolve]: a redeploy waits for the stream to reach a point
    async function attempt(body) {
      const request = {};
      inFlight.add(request);
      try {
        // KumoMTA's HTTP client gives up after 60 s; a request open across the redeploy is never answered.
        return await post(body, 5000);
      } catch {
        return null; // refused, reset or timed out: KumoMTA retries it as a transient failure
      } finally {
        inFlight.delete(request);
        request.settled = true;
      }
    }
    async function deliver(body) {
      for (;;) {
        const answer = await attempt(body);
        if (answer && answer.status >= 200 && answer.status < 300) {
          delivered++;
          for (const [count, resolve] of progress) if (delivered >= count) resolve();
          return;
        }
        if (answer && answer.status === 422 && answer.verdict === 'not-a-log-record') {
          outcome.bounced++;
          return;
        }
        outcome.retried++;
        // KumoMTA's log_hooks:new_json, or a policy bouncing every 4xx, would have lost these.
        if (answer && answer.status === 404) outcome.notFound++;
        await new Promise((resolve) => setTimeout(resolve, 100)); // KumoMTA's retry interval, shortened
      }
    }
    const reached = (count) => new Promise((resolve) => progress.push([count, resolve]));
    const bodies = Array.from({ length: 300 }, (_, i) => record('Delivery', i, 400));
    let next = 0;
    const clients = Array.from({ length: 8 }, async () => {
      while (next < bodies.length) await deliver(bodies[next++]);
    });
    const redeploys = (async () => {
      // Each redeploy once the stream has delivered another 50 records, so at least 150 are still to come.
      for (let i = 0; i < 3; i++) {
        await reached(50 * (i + 1));
        const underWay = [...inFlight];
        const res = await fetch(`${nodeRed.url}/flows`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
          body: JSON.stringify(flows),
        });
        assert.ok(res.ok, `deploy answered ${res.status}`);
        // Still unanswered once the deploy answered: requests the flow was replaced under.
        overlapping.push({ underWay: underWay.length, across: underWay.filter((r) => !r.settled).length });
      }
    })();
    await Promise.all([...clients, redeploys]);
    // Without requests under way as a redeploy started, the test would prove nothing about a redeploy mid-stream.
    overlapping.forEach(({ underWay }, i) => {
      assert.ok(underWay >= 1, `redeploy ${i + 1} started with no request under way: it overlapped no traffic`);
    });
    assert.equal(outcome.bounced, 0, 'a record was bounced');
    const ids = new Set((await side.drain(queue)).map((m) => JSON.parse(m.content.toString()).id));
    const missing = bodies.map((b) => JSON.parse(b).id).filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], `${missing.length} records never reached the queue`);
    console.log(
      `      [figures] 300 records, 3 redeploys mid-stream (requests under way as each started: ${overlapping.map((o) => o.underWay).join(', ')}; still unanswered when it answered: ${overlapping.map((o) => o.across).join(', ')}): 0 bounced, 0 lost, ${outcome.retried} answers retried (${outcome.notFound} of them 404 during a deploy)`,
    );
  });
});
