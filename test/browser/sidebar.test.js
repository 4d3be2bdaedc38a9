'use strict';
// The editor's kumomta sidebar tab, live, in Debian's headless Chromium against a real
// Node-RED and the real broker: inject → queue config ⇒ custom protocol → amqp publish,
// read back by amqp consume → amqp ack, and a log hook in feeding the same queue config.
// The tab shows the broker connected, the counts reach what was sent, a row's chart draws
// the rate, and a click on a row reveals and selects its node. The screenshot goes to
// test-results/screenshots/sidebar.png. Needs AMQP_URL.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed } = require('../helpers/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');
const { BROKER_URL, CREDENTIALS, SideChannel, uniqueName } = require('../helpers/amqp');
const { editorSettings } = require('../../scripts/start');

const ROOT = path.resolve(__dirname, '..', '..');
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');
const HOOK_PATH = '/sidebar-test/log';
const BURSTS = 4;
const PER_BURST = 5;
const INJECTED = BURSTS * PER_BURST;
const RECORDS = 3;

function record(i) {
  return {
    type: 'Delivery',
    id: `${String(i).padStart(4, '0')}d98076abbbc11ed940250ebf67f93bd`.slice(0, 32),
    sender: 'noreply@example.com',
    recipient: `user${i}@example.com`,
    queue: 'sidebar',
    site: '',
    size: 10,
    response: { code: 250, enhanced_code: null, content: 'OK', command: null },
    timestamp: 1678069691,
    created: 1678069690,
    num_attempts: 0,
  };
}

describe('the kumomta sidebar tab, live in the editor', function () {
  this.timeout(120000);

  let nodeRed;
  let browser;
  let page;
  let editor;
  let side;
  let queue;

  const row = (id) => `#red-ui-sidebar .kumo-sidebar-row[data-id="${id}"]`;

  /** Waits until the sidebar row of node `id` shows `count` for `key`; fails naming what it shows. */
  async function waitForCount(id, key, count, timeout = 15000) {
    const selector = `${row(id)} [data-count="${key}"] .kumo-sidebar-count-value`;
    try {
      await page.waitForFunction(
        ({ selector, text }) => document.querySelector(selector)?.textContent === text,
        { selector, text: count.toLocaleString('en-US') },
        { timeout },
      );
    } catch (err) {
      const shown = await page.evaluate((s) => document.querySelector(s)?.textContent ?? '(no such count)', selector);
      throw new Error(`the ${id} row's ${key} shows ${shown}, not ${count}: ${err.message}`);
    }
  }

  before(async function () {
    side = await SideChannel.open();
    queue = await side.queue(uniqueName('kumo-sidebar'));
    const event = uniqueName('make.sidebar');
    const flows = [
      { id: 'tab', type: 'tab', label: 'sidebar' },
      { id: 'other', type: 'tab', label: 'another flow' },
      { id: 'brk', type: 'amqp-broker', name: 'local RabbitMQ', url: BROKER_URL, heartbeat: '60' },
      {
        id: 'inj',
        type: 'inject',
        z: 'tab',
        name: 'a message for queue sidebar',
        props: [{ p: 'payload' }, { p: 'queue', v: 'sidebar', vt: 'str' }],
        payload: 'hello',
        payloadType: 'str',
        x: 160,
        y: 80,
        wires: [['qc']],
      },
      {
        id: 'hook',
        type: 'kumo-log-hook',
        z: 'tab',
        name: 'kumomta logs',
        path: HOOK_PATH,
        queue: 'sidebar',
        queueType: 'str',
        x: 160,
        y: 140,
        wires: [['qc'], []],
      },
      {
        id: 'qc',
        type: 'kumo-queue-config',
        z: 'tab',
        queue: 'queue',
        queueType: 'msg',
        rules: [
          {
            match: { domain: { op: 'eq', value: 'sidebar' } },
            protocol: 'custom_lua',
            constructor: event,
            retry_interval: '20 minutes',
            max_retry_interval: '',
            max_age: '7 days',
          },
        ],
        x: 400,
        y: 110,
        wires: [[]],
      },
      {
        id: 'cp',
        type: 'kumo-custom-protocol',
        z: 'tab',
        name: 'to RabbitMQ',
        eventName: event,
        spool: false,
        x: 160,
        y: 240,
        wires: [['pub'], []],
      },
      {
        id: 'pub',
        type: 'amqp-publish',
        z: 'tab',
        name: 'publish',
        broker: 'brk',
        routingKey: queue,
        routingKeyType: 'str',
        waitForConfirm: true,
        x: 400,
        y: 240,
        wires: [[], []],
      },
      {
        id: 'con',
        type: 'amqp-consume',
        z: 'tab',
        name: 'read back',
        broker: 'brk',
        queue,
        declare: false,
        x: 160,
        y: 320,
        wires: [['ack']],
      },
      { id: 'ack', type: 'amqp-ack', z: 'tab', name: 'ack', x: 400, y: 320, wires: [[]] },
    ];
    nodeRed = await startNodeRed(flows, {
      credentials: { brk: CREDENTIALS },
      settings: {
        ...editorSettings(),
        credentialSecret: false,
        // This machine reaches no Flow Library catalogue: without this the editor reports a failed request.
        editorTheme: { ...editorSettings().editorTheme, palette: { catalogues: [] } },
      },
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    editor = new Editor(page, watchErrors(page));
    await editor.open(`${nodeRed.url}/`);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async function () {
    this.timeout(30000);
    if (browser) await browser.close();
    if (nodeRed) await nodeRed.stop();
    if (side) {
      await side.channel.deleteQueue(queue);
      await side.close();
    }
  });

  it('has one kumomta tab, and it shows the broker connected, with since when', async function () {
    await page.evaluate(() => RED.sidebar.show('kumomta'));
    await page.waitForSelector(`${row('brk')}[data-state="connected"]`, { state: 'visible' });
    const shown = await page.evaluate(
      (selector) => ({
        tabs: document.querySelectorAll('.kumo-sidebar').length,
        text: document.querySelector(selector).textContent,
        dot: getComputedStyle(document.querySelector(`${selector} .kumo-sidebar-dot`)).backgroundColor,
        green: getComputedStyle(document.body).getPropertyValue('--red-ui-node-status-colors-green').trim(),
      }),
      row('brk'),
    );
    assert.equal(shown.tabs, 1, 'eight node types load the script; one tab');
    assert.match(shown.text, /local RabbitMQ\s*connected for \d+ s/);
    assert.match(shown.text, new RegExp(BROKER_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    // The dot takes the colour of a green node status.
    const probe = await page.evaluate((colour) => {
      const el = document.createElement('span');
      el.style.color = colour;
      document.body.appendChild(el);
      const rgb = getComputedStyle(el).color;
      el.remove();
      return rgb;
    }, shown.green);
    assert.equal(shown.dot, probe);
  });

  it('counts what was sent: records in, messages delivered, consumed and acknowledged, with a chart of the rate', async function () {
    const answer = await fetch(`${nodeRed.url}${HOOK_PATH}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([0, 1, 2].map(record)),
    });
    assert.equal(answer.status, 200, await answer.text());
    await waitForCount('hook', 'records', RECORDS);
    await waitForCount('hook', 'answer-200', 1);
    await waitForCount('cp', 'delivered', RECORDS);
    // In bursts a snapshot or more apart, so the chart has a shape.
    for (let burst = 1; burst <= BURSTS; burst++) {
      for (let i = 0; i < PER_BURST; i++) {
        const res = await fetch(`${nodeRed.url}/inject/inj`, { method: 'POST' });
        assert.equal(res.status, 200);
      }
      await waitForCount('cp', 'delivered', RECORDS + burst * PER_BURST);
    }
    const total = RECORDS + INJECTED;
    await waitForCount('cp', 'accepted', total);
    await waitForCount('cp', 'bounced', 0);
    await waitForCount('cp', 'queued', 0);
    await waitForCount('con', 'delivered', total);
    await waitForCount('ack', 'acked', total);
    await waitForCount('con', 'unacked', 0);

    const chart = await page.evaluate((selector) => {
      const line = document.querySelector(`${selector} .kumo-sidebar-chart-line`);
      const box = document.querySelector(`${selector} .kumo-sidebar-chart`).getBoundingClientRect();
      const points = (line.getAttribute('points') || '')
        .trim()
        .split(' ')
        .filter(Boolean)
        .map((p) => p.split(',').map(Number));
      return {
        points,
        width: box.width,
        height: box.height,
        rate: document.querySelector(`${selector} .kumo-sidebar-rate`).textContent,
      };
    }, row('cp'));
    assert.ok(chart.width >= 60 && chart.height >= 14, `chart box ${chart.width}×${chart.height}`);
    assert.ok(chart.points.length >= 2, `chart points: ${JSON.stringify(chart.points)}`);
    const ys = chart.points.map(([, y]) => y);
    assert.ok(Math.min(...ys) < Math.max(...ys), `a flat chart after ${INJECTED} messages: ${JSON.stringify(ys)}`);
    assert.match(chart.rate, /^\d+(\.\d)?\/s$/);
    assert.deepEqual(editor.takeErrors(), []);
  });

  it('reveals and selects the node of a clicked row', async function () {
    await page.evaluate(() => RED.workspaces.show('other'));
    await page.waitForFunction(() => RED.workspaces.active() === 'other');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sidebar.png'), clip: await sidebarClip() });
    await page.click(row('cp'));
    await page.waitForFunction(() => RED.workspaces.active() === 'tab');
    const selected = await page.evaluate(() => RED.view.selection().nodes?.map((n) => n.id));
    assert.deepEqual(selected, ['cp']);
    assert.deepEqual(editor.takeErrors(), []);
  });

  async function sidebarClip() {
    const box = await page.locator('#red-ui-sidebar').boundingBox();
    return { x: box.x, y: box.y, width: box.width, height: box.height };
  }
});
