'use strict';
// amqp consume and amqp ack in the editor, in Debian's headless Chromium: the
// palette, the edit dialogs (fields, validation shared with the runtime, the
// declaration rows shown only when declaring), labels, port labels and help;
// then examples/consume-log-events from Import > Examples, pointed at the test
// RabbitMQ, deployed, "connected", and its inject button putting a bounced
// recipient into the suppression list. Needs AMQP_URL (set by `npm test`).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const amqp = require('amqplib');
const { chromium } = require('playwright-core');

const { startNodeRed, ROOT, PACK } = require('../../scripts/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');
const { AMQP_URL, BROKER_URL, CREDENTIALS, requireBroker } = require('../helpers/amqp');

const RAW_I18N_KEY = /\b(?:amqp-consume|amqp-ack)\.[\w-]+\.[\w-]+/;
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');

describe('amqp consume and amqp ack in the editor (headless Chromium)', function () {
  this.timeout(60000);
  let nodeRed;
  let browser;
  let page;
  let editor;
  let consumeId;
  let ackId;

  before(async function () {
    this.timeout(90000);
    requireBroker();
    nodeRed = await startNodeRed({
      modules: [PACK],
      ready: /Server now running at/,
      settings: { credentialSecret: 'kumo-browser-test', editorTheme: { tours: false, palette: { catalogues: [] } } },
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    editor = new Editor(page, watchErrors(page));
    await editor.open(`${nodeRed.url}/`);
  });

  after(async function () {
    this.timeout(30000);
    if (browser) await browser.close();
    if (nodeRed) await nodeRed.stop();
  });

  beforeEach(async () => {
    if (editor) await editor.reset();
  });

  afterEach(async function () {
    if (this.currentTest.state === 'failed' && page) {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'consume-editor-FAILED.png') }).catch(() => {});
    }
  });

  function expectNoBrowserErrors(when) {
    const errors = editor.takeErrors();
    assert.deepEqual(errors, [], `the browser reported errors ${when}:\n  ${errors.join('\n  ')}`);
  }

  async function visible(id) {
    return page.evaluate((elId) => {
      const el = document.getElementById(elId);
      if (!el) return false;
      const typed = el.nextElementSibling?.classList.contains('red-ui-typedInput-container')
        ? el.nextElementSibling
        : null;
      const shown = typed || el;
      return shown.getClientRects().length > 0 && getComputedStyle(shown).visibility !== 'hidden';
    }, id);
  }

  async function helpSections(label) {
    await page.click('#red-ui-tab-help-link-button');
    await page.waitForFunction(
      (want) => document.querySelector('.red-ui-sidebar-help-stack .red-ui-help-title')?.textContent.trim() === want,
      label,
    );
    const text = await page.locator('.red-ui-sidebar-help-stack .red-ui-help').first().textContent();
    assert.doesNotMatch(text, RAW_I18N_KEY, `the ${label} help shows a message key`);
    return (await page.locator('.red-ui-sidebar-help-stack .red-ui-help h3').allInnerTexts()).map((h) => h.trim());
  }

  async function label(id) {
    return (await editor.nodeElement(id).locator('.red-ui-flow-node-label').textContent()).replace(/\s+/g, ' ').trim();
  }

  it('shows amqp consume and amqp ack in the kumomta category, each with its own icon', async () => {
    for (const [type, name] of [
      ['amqp-consume', 'amqp consume'],
      ['amqp-ack', 'amqp ack'],
    ]) {
      const node = page.locator(`#red-ui-palette-container-kumomta .red-ui-palette-node[data-palette-type="${type}"]`);
      await node.waitFor({ state: 'attached' });
      assert.equal(await node.getAttribute('data-palette-label'), name);
      const icon = await node.locator('.red-ui-palette-icon-container').getAttribute('data-palette-icon');
      assert.equal(icon, `icons/${PACK.name}/${type}.svg`);
      const drawn = await page.evaluate(async (url) => {
        const img = new Image();
        img.src = url;
        return img.decode().then(
          () => img.naturalWidth > 0,
          () => false,
        );
      }, icon);
      assert.ok(drawn, `${icon} is not drawable`);
    }
    expectNoBrowserErrors('while showing the palette');
  });

  /** Whether any label of the open dialog runs onto a second line (a cut-off or wrapped label). */
  async function wrappedLabels() {
    return page.evaluate(() =>
      [...document.querySelectorAll('.red-ui-tray:last-of-type .red-ui-tray-body .form-row > label')]
        .filter((l) => l.getClientRects().length > 0 && l.textContent.trim())
        .filter((l) => {
          const line = Number.parseFloat(getComputedStyle(l).lineHeight) || 20;
          return l.getBoundingClientRect().height > line * 1.5 || l.scrollWidth > l.clientWidth + 1;
        })
        .map((l) => l.textContent.trim()),
    );
  }

  it('amqp consume: its dialog, the declaration rows only when declaring, its label, port and help', async () => {
    consumeId = await editor.dragFromPalette('amqp-consume', 'amqp consume', { x: 200, y: 100 });
    assert.equal(await label(consumeId), 'consume logging');
    await editor.openNode(consumeId);
    for (const field of ['name', 'broker', 'queue', 'declare', 'prefetch', 'ackMode', 'output']) {
      assert.ok(await visible(`node-input-${field}`), `no visible field ${field}`);
    }
    const declared = [
      'durable',
      'queueType',
      'deadLetterExchange',
      'deadLetterRoutingKey',
      'messageTtl',
      'queueArguments',
      'exchange',
      'exchangeType',
      'routingKey',
    ];
    for (const field of declared) assert.ok(await visible(`node-input-${field}`), `declaring, but ${field} is hidden`);
    assert.equal(await page.inputValue('#node-input-prefetch'), '100');
    assert.equal(await page.inputValue('#node-input-ackMode'), 'manual');
    assert.match(
      await page.locator('#node-input-consume-tip').textContent(),
      /unacknowledged until it reaches an amqp ack node/,
    );
    await page.locator('#node-input-ackMode').selectOption('auto');
    assert.match(await page.locator('#node-input-consume-tip').textContent(), /acknowledged as it leaves this node/);
    await page.locator('#node-input-declare').uncheck();
    for (const field of declared)
      assert.equal(await visible(`node-input-${field}`), false, `not declaring, but ${field} shows`);
    assert.equal(await visible('node-input-declaration'), false, 'not declaring, but the section shows');
    const body = await page.locator('.red-ui-tray:last-of-type .red-ui-tray-body').textContent();
    assert.doesNotMatch(body, RAW_I18N_KEY, 'the dialog shows a message key');
    assert.deepEqual(await helpSections('amqp consume'), ['Outputs', 'Details', 'Example', 'References']);
    await editor.closeTray('node-dialog-cancel');

    await editor.nodeElement(consumeId).locator('.red-ui-flow-port-output').first().hover();
    const tip = page.locator('.red-ui-flow-port-tooltip');
    await tip.waitFor({ state: 'visible' });
    assert.equal((await tip.textContent()).trim(), 'message');
    await page.mouse.move(5, 500);
    expectNoBrowserErrors('while editing amqp consume');
  });

  it('amqp consume: the queue declaration is one section, hidden while not declaring, its fields keeping their values', async () => {
    await editor.openNode(consumeId);
    const section = page.locator('#node-input-declaration');
    const declared = ['durable', 'queueType', 'messageTtl', 'queueArguments', 'deadLetterExchange'];
    declared.push('deadLetterRoutingKey', 'exchange', 'exchangeType', 'routingKey');
    for (const field of declared) {
      assert.equal(await section.locator(`#node-input-${field}`).count(), 1, `${field} is outside the section`);
    }
    for (const field of ['name', 'broker', 'queue', 'declare', 'prefetch', 'ackMode', 'unackedTimeout', 'output'])
      assert.equal(await section.locator(`#node-input-${field}`).count(), 0, `${field} is inside the section`);
    // The dead-letter routing key says what it is: a routing key, under the heading Dead letters.
    const heading = async (id) =>
      page.evaluate((fieldId) => {
        let row = document.getElementById(fieldId).closest('.form-row');
        while (row && !row.querySelector('b')) row = row.previousElementSibling;
        return row ? row.querySelector('b').textContent.trim() : null;
      }, id);
    assert.equal(
      (await page.locator('label[for="node-input-deadLetterRoutingKey"]').textContent()).trim(),
      'Routing key',
    );
    assert.equal(await heading('node-input-deadLetterRoutingKey'), 'Dead letters');
    assert.equal(await heading('node-input-deadLetterExchange'), 'Dead letters');
    assert.equal(await heading('node-input-routingKey'), 'Binding');
    assert.deepEqual(await wrappedLabels(), [], 'labels that wrap or are cut off');

    const values = {
      deadLetterExchange: 'logs.dlx',
      deadLetterRoutingKey: 'logs.failed',
      messageTtl: '60000',
      exchange: 'logs.topic',
      routingKey: 'log.#',
    };
    for (const [field, value] of Object.entries(values)) await editor.fill(`node-input-${field}`, value);
    await page.locator('#node-input-queueType').selectOption('quorum');
    await page.locator('#node-input-exchangeType').selectOption('topic');
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'consume-dialog-declaring.png') });
    const kept = async (when) => {
      for (const [field, value] of Object.entries(values))
        assert.equal(await page.inputValue(`#node-input-${field}`), value, `${field} ${when}`);
      assert.equal(await page.inputValue('#node-input-queueType'), 'quorum', `queueType ${when}`);
      assert.equal(await page.inputValue('#node-input-exchangeType'), 'topic', `exchangeType ${when}`);
    };

    await page.locator('#node-input-declare').uncheck();
    await section.waitFor({ state: 'hidden' });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'consume-dialog-not-declaring.png') });
    assert.deepEqual(await wrappedLabels(), [], 'labels that wrap or are cut off');
    await page.locator('#node-input-declare').check();
    await section.waitFor({ state: 'visible' });
    await kept('after hiding and showing the section');

    // Saved while not declaring, every setting stays as it was (declaring again needs nothing retyped).
    await page.locator('#node-input-declare').uncheck();
    await editor.closeTray('node-dialog-ok');
    const saved = await page.evaluate(
      ({ id, fields }) => Object.fromEntries(fields.map((f) => [f, RED.nodes.node(id)[f]])),
      { id: consumeId, fields: ['declare', 'queueType', 'exchangeType', ...Object.keys(values)] },
    );
    assert.equal(saved.declare, false);
    for (const [field, value] of Object.entries(values)) assert.equal(String(saved[field]), value, field);
    assert.equal(saved.queueType, 'quorum');
    assert.equal(saved.exchangeType, 'topic');
    await editor.openNode(consumeId);
    assert.equal(await page.locator('#node-input-declare').isChecked(), false);
    assert.equal(await visible('node-input-declaration'), false, 'reopened not declaring, but the section shows');
    await page.locator('#node-input-declare').check();
    await kept('after saving while not declaring');

    // Back to the defaults for the next test.
    for (const field of Object.keys(values)) await editor.fill(`node-input-${field}`, '');
    await page.locator('#node-input-queueType').selectOption('classic');
    await page.locator('#node-input-exchangeType').selectOption('');
    await editor.closeTray('node-dialog-ok');
    expectNoBrowserErrors('while declaring and not declaring');
  });

  it('amqp consume: marks a prefetch of 0, a non-durable quorum queue, a TTL that is not a number, and the node', async () => {
    await editor.openNode(consumeId);
    await editor.fill('node-input-prefetch', '0');
    await editor.fill('node-input-messageTtl', 'soon');
    await page.locator('#node-input-queueType').selectOption('quorum');
    await page.locator('#node-input-durable').uncheck();
    await page.locator('#node-input-durable').dispatchEvent('change');
    for (const field of ['prefetch', 'messageTtl', 'queueType']) {
      const marked = await page
        .waitForFunction(
          (id) => document.getElementById(id)?.classList.contains('input-error'),
          `node-input-${field}`,
          {
            timeout: 5000,
          },
        )
        .then(
          () => true,
          () => false,
        );
      assert.ok(marked, `${field} is not marked invalid`);
    }
    await editor.closeTray('node-dialog-ok');
    const validity = await editor.nodeValidity(consumeId);
    assert.ok(validity.triangle, 'no red triangle on the node');
    for (const problem of [/Prefetch/, /Message TTL/, /quorum queue must be durable/]) {
      assert.ok(
        validity.errors.some((e) => problem.test(e)),
        `the node's problems do not mention ${problem}: ${JSON.stringify(validity.errors)}`,
      );
    }
    // and back to valid
    await editor.openNode(consumeId);
    await editor.fill('node-input-prefetch', '100');
    await editor.fill('node-input-messageTtl', '');
    await page.locator('#node-input-durable').check();
    await page.locator('#node-input-durable').dispatchEvent('change');
    await editor.closeTray('node-dialog-ok');
    assert.deepEqual(
      (await editor.nodeValidity(consumeId)).errors.filter((e) => !/Broker/.test(e)),
      [],
    );
    expectNoBrowserErrors('while validating amqp consume');
  });

  it('amqp ack: its action on the label, the msg.ack tip, its port and help', async () => {
    ackId = await editor.dragFromPalette('amqp-ack', 'amqp ack', { x: 500, y: 100 });
    assert.equal(await label(ackId), 'ack');
    await editor.openNode(ackId);
    assert.ok(await visible('node-input-action'));
    assert.match(await page.locator('.red-ui-tray:last-of-type .form-tips').textContent(), /msg\.ack/);
    assert.deepEqual(await helpSections('amqp ack'), ['Inputs', 'Outputs', 'Details', 'References']);
    await page.locator('#node-input-action').selectOption('reject');
    await editor.closeTray('node-dialog-ok');
    assert.equal(await label(ackId), 'dead-letter');
    await editor.nodeElement(ackId).locator('.red-ui-flow-port-output').first().hover();
    const tip = page.locator('.red-ui-flow-port-tooltip');
    await tip.waitFor({ state: 'visible' });
    assert.equal((await tip.textContent()).trim(), 'settled');
    await page.mouse.move(5, 500);
    expectNoBrowserErrors('while editing amqp ack');
    // Clear Flow 1: the consume node has no broker, which would hold up the example's deploy.
    await page.locator('#red-ui-workspace-chart').click({ position: { x: 900, y: 700 } });
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    await page.waitForFunction(() => RED.nodes.filterNodes({ z: RED.workspaces.active() }).length === 0);
  });

  it('consume-log-events from Import > Examples: deploys, shows "connected", and its inject puts the bounced recipient in the suppression list', async () => {
    const flow = await editor.importExample(PACK.name, 'consume-log-events');
    const queue = `kumomta.logs-browser-${process.pid}`;
    const consumers = await page.evaluate(
      (z) => RED.nodes.filterNodes({ z, type: 'amqp-consume' }).map((n) => ({ id: n.id, queue: n.queue })),
      flow,
    );
    assert.deepEqual(consumers.map((c) => c.queue).sort(), ['kumomta.logs', 'kumomta.logs.failed']);
    const main = consumers.find((c) => c.queue === 'kumomta.logs').id;
    // Point its broker at the test RabbitMQ as a user would: the pencil next to Broker.
    await editor.openNode(main);
    await page.click('#node-input-btn-broker-edit');
    await page.waitForSelector('#node-config-input-url', { state: 'visible' });
    await editor.trayOpened();
    await editor.fill('node-config-input-url', BROKER_URL);
    await editor.fill('node-config-input-username', CREDENTIALS.username);
    await editor.fill('node-config-input-password', CREDENTIALS.password);
    await editor.closeTray('node-config-dialog-ok');
    // A queue of this run's own: the shared test broker's `kumomta.logs` may hold other suites' records.
    await editor.fill('node-input-queue', queue);
    await editor.closeTray('node-dialog-ok');
    const publisher = await page.evaluate((z) => RED.nodes.filterNodes({ z, type: 'amqp-publish' })[0].id, flow);
    await editor.openNode(publisher);
    await editor.fill('node-input-routingKey', queue);
    await editor.closeTray('node-dialog-ok');
    await editor.deploy();
    for (const c of consumers) {
      const ok = await editor.waitForStatus(c.id, /^connected$/, 'green', 20000);
      assert.ok(ok, `consume ${c.queue} shows "${(await editor.status(c.id)).text}" instead of "connected"`);
    }
    const inject = await page.evaluate(
      (z) => RED.nodes.filterNodes({ z, type: 'inject' }).find((n) => n.name === 'a Bounce record').id,
      flow,
    );
    await page.click('#red-ui-tab-debug-link-button');
    await page.click('#red-ui-sidebar-debug-clear');
    await editor.nodeElement(inject).locator('.red-ui-flow-node-button').click();
    await page.waitForFunction(
      () => document.querySelectorAll('.red-ui-debug-content-list .red-ui-debug-msg').length >= 1,
    );
    const file = path.join(nodeRed.userDir, 'suppression-list.txt');
    const deadline = Date.now() + 10000;
    while (
      !(fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('gone@example.com')) &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 100)); // a file has no event to await here
    assert.ok(fs.existsSync(file), `no ${file}`);
    assert.ok(fs.readFileSync(file, 'utf8').split('\n').includes('gone@example.com'));
    const errors = await page
      .locator('.red-ui-debug-content-list .red-ui-debug-msg.red-ui-debug-msg-level-20')
      .allTextContents();
    assert.deepEqual(errors, [], 'errors in the Debug sidebar');
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'consume-log-events.png') });
    expectNoBrowserErrors('while deploying consume-log-events');
    // The run's queue goes with it.
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await connection.close();
  });
});
