'use strict';
// Nothing a client sends takes Node-RED down: hostile bodies against the shipped
// webhook example (log hook in → queue config ⇒ custom protocol → amqp publish) in a
// real Node-RED process. After each one the process is alive, answers the next good
// request 200, and logged a bounded number of lines for the hostile request.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { SideChannel, uniqueName, AMQP_URL } = require('../../helpers/amqp');
const { startNodeRed } = require('../../helpers/node-red-process');

const EXAMPLE = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../../examples/kumomta-webhook-to-amqp.json'), 'utf8'),
);
// Lines of Node-RED's log one hostile request may cause: the log hook's one summary line.
const MAX_LINES = 2;

function exampleFlow(queue) {
  const tab = { id: 'tab', type: 'tab', label: 'webhook' };
  return [
    tab,
    ...EXAMPLE.map((n) => {
      if (n.type === 'amqp-broker') return { ...n, url: AMQP_URL };
      if (n.type === 'amqp-publish') return { ...n, z: tab.id, routingKey: queue, declareQueue: queue };
      return { ...n, z: tab.id };
    }),
  ];
}

const good = (i) => JSON.stringify({ type: 'Delivery', id: `good-${i}`, recipient: 'a@example.com', size: 10 });
const deep = (levels) => `{"type":"Delivery","x":${'['.repeat(levels)}${']'.repeat(levels)}}`;

describe('hostile bodies against the webhook example (a real Node-RED process)', function () {
  this.timeout(120000);
  let side;
  let nodeRed;
  let queue;
  let goodCount = 0;

  before(async function () {
    this.timeout(90000);
    side = await SideChannel.open();
    queue = uniqueName('hostile');
    side.queues.push(queue);
    nodeRed = await startNodeRed(exampleFlow(queue));
  });
  after(async () => {
    if (nodeRed) await nodeRed.stop();
    if (side) await side.close();
  });

  async function post(body, timeoutMs = 30000) {
    const response = await fetch(`${nodeRed.url}/kumomta/log`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, text: await response.text(), verdict: response.headers.get('x-kumo-verdict') };
  }

  /**
   * A POST of `size` bytes whose answer comes before its body is sent (a 413): the body goes out
   * 64 KiB at a time, each chunk only while no answer has come (with its length declared, none
   * at all), and the answer is read as soon as it arrives. The node discards what follows an early answer for a moment and then closes the
   * connection, so a client that went on sending could meet that close before it read the answer.
   * `declared`: with a Content-Length of `size` (the node answers on the headers alone);
   * otherwise chunked, so the node counts the bytes as they come.
   */
  function postTooLarge(size, { declared }, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const headers = { 'content-type': 'application/json' };
      if (declared) headers['content-length'] = size;
      const req = http.request(`${nodeRed.url}/kumomta/log`, { method: 'POST', headers, timeout: timeoutMs });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode,
            text: Buffer.concat(chunks).toString('utf8'),
            verdict: res.headers['x-kumo-verdict'] ?? null,
          });
          req.destroy(); // the rest of the body is never sent
        });
      });
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const sendMore = () => {
        while (!answered && sent < size) {
          const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
          sent += piece.length;
          if (!req.write(piece)) {
            req.once('drain', sendMore);
            return;
          }
        }
        if (!answered) req.end();
      };
      req.flushHeaders();
      // With the length declared, nothing of the body goes out before the answer (on the headers alone).
      if (!declared) sendMore();
    });
  }

  /** Runs the hostile request, then checks Node-RED is alive, well and logged little. */
  async function survives(hostile) {
    const mark = nodeRed.log.length;
    const answer = await hostile();
    assert.equal(nodeRed.process.exitCode, null, `Node-RED exited:\n${nodeRed.logTail()}`);
    const next = await post(good(++goodCount));
    assert.equal(next.status, 200, `the next good request was answered ${next.status}: ${next.text}`);
    const lines = nodeRed.log.slice(mark).split('\n').filter(Boolean);
    assert.ok(
      lines.length <= MAX_LINES,
      `${lines.length} log lines for one request:\n${lines.slice(0, 10).join('\n')}`,
    );
    return answer;
  }

  for (const levels of [5000, 20000]) {
    it(`a record nested ${levels} deep, alone: 422 (not a log record)`, async () => {
      const answer = await survives(() => post(deep(levels)));
      assert.equal(answer.status, 422);
      assert.equal(answer.verdict, 'not-a-log-record');
      assert.match(answer.text, /nested deeper than 64 levels/);
    });

    it(`a record nested ${levels} deep inside a batch: the others are published, 200`, async () => {
      await side.drain(queue);
      const before = goodCount;
      const answer = await survives(() => post(`[${deep(levels)},${good('batch')},${deep(levels)}]`));
      assert.equal(answer.status, 200, answer.text);
      assert.match(answer.text, /^250 \{"status":"Ack"/, "the one record's disposition");
      const stored = (await side.drain(queue)).map((m) => JSON.parse(m.content.toString()).id);
      assert.deepEqual(stored.sort(), ['good-batch', `good-${before + 1}`].sort());
    });
  }

  it('prototype keys, as a record and as an element, are plain data published as they came', async () => {
    const proto = '{"type":"Delivery","__proto__":{"type":1,"polluted":true},"constructor":1,"id":"proto"}';
    assert.equal((await survives(() => post(proto))).status, 200);
    assert.equal((await survives(() => post(`[${proto},${proto}]`))).status, 200);
    const stored = (await side.drain(queue)).map((m) => m.content.toString()).filter((c) => c.includes('proto'));
    assert.deepEqual(stored, [proto, proto, proto]);
  });

  for (const declared of [true, false])
    it(`a body over the limit (6 MiB, ${declared ? 'its Content-Length said' : 'chunked'}): 413`, async () => {
      const answer = await survives(() => postTooLarge(6 * 1024 * 1024, { declared }));
      assert.equal(answer.status, 413);
      assert.match(answer.text, /over 5242880 bytes/);
    });

  it('a client that goes on sending after its 413 is not cut off: the connection lingers until it is quiet', async () => {
    const answer = await survives(
      () =>
        new Promise((resolve, reject) => {
          const socket = net.connect(nodeRed.port, '127.0.0.1');
          const chunk = `10000\r\n${' '.repeat(0x10000)}\r\n`;
          let received = '';
          let answeredAt = 0;
          let stoppedAt = 0;
          let pump = null;
          socket.on('connect', () => {
            socket.write(
              'POST /kumomta/log HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
            );
            // 64 KiB every 10 ms, going on for 1.5 s after the answer came (a client busy
            // elsewhere that has not yet read it): each write must still find the connection open.
            pump = setInterval(() => {
              if (answeredAt && Date.now() - answeredAt > 1500) {
                clearInterval(pump);
                stoppedAt = Date.now();
                return;
              }
              socket.write(chunk);
            }, 10);
          });
          socket.on('data', (data) => {
            received += data.toString();
            if (!answeredAt && received.includes('\r\n\r\n')) answeredAt = Date.now();
          });
          socket.on('error', (err) => {
            clearInterval(pump);
            reject(
              new Error(
                `the connection failed while the client was sending (${err.code}); received: ${received.slice(0, 200)}`,
              ),
            );
          });
          socket.on('close', () => {
            clearInterval(pump);
            resolve({
              status: Number(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1]),
              text: received,
              stoppedAt,
              closedAt: Date.now(),
            });
          });
          setTimeout(() => socket.destroy(new Error(`not closed in 30 s: ${received.slice(0, 200)}`)), 30000).unref();
        }),
    );
    assert.equal(answer.status, 413, answer.text);
    assert.match(answer.text, /over 5242880 bytes/);
    assert.ok(answer.stoppedAt > 0, 'the node closed the connection while the client was still sending');
    const afterQuiet = answer.closedAt - answer.stoppedAt;
    assert.ok(afterQuiet >= 1000 && afterQuiet < 8000, `closed ${afterQuiet} ms after the client went quiet`);
  });

  it('300 000 tiny records {"type":"x"}: 413, none published', async () => {
    const body = `[${Array.from({ length: 300000 }, () => '{"type":"x"}').join(',')}]`;
    await side.drain(queue);
    const answer = await survives(() => post(body));
    assert.equal(answer.status, 413);
    assert.match(answer.text, /more than 10000 records/);
    const stored = await side.drain(queue);
    assert.deepEqual(
      stored.map((m) => JSON.parse(m.content.toString()).type),
      ['Delivery'],
      'only the next good request was published',
    );
  });

  it('a slow client (headers and a few bytes, then a trickle): 408 within the body timeout, and its connection closed', async () => {
    const answer = await survives(
      () =>
        new Promise((resolve, reject) => {
          const started = Date.now();
          const socket = net.connect(nodeRed.port, '127.0.0.1');
          let received = '';
          let trickle = null;
          socket.on('connect', () => {
            socket.write(
              'POST /kumomta/log HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{"ty',
            );
            trickle = setInterval(() => socket.write('p'), 300);
          });
          socket.on('data', (chunk) => {
            received += chunk.toString();
          });
          socket.on('error', () => {}); // a reset after the answer is fine
          socket.on('close', () => {
            clearInterval(trickle);
            resolve({
              status: Number(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1]),
              text: received,
              ms: Date.now() - started,
            });
          });
          setTimeout(() => reject(new Error(`no answer in 30 s: ${received}`)), 30000).unref();
        }),
    );
    assert.equal(answer.status, 408, answer.text);
    assert.match(answer.text, /text\/plain/);
    assert.match(answer.text, /not received within 10 s/);
    assert.ok(answer.ms >= 9500 && answer.ms < 15000, `answered and closed after ${answer.ms} ms`);
  });
});
