'use strict';
// log hook in (kumo-log-hook) in the editor, in Debian's headless Chromium: the palette,
// its label, the edit dialog and its fields, validation shared with the runtime (the
// path by core/log-hook, the limits), the secret as a credential, port labels and help.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed, ROOT, PACK } = require('../../scripts/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');

const RAW_I18N_KEY = /\bkumo-log-hook\.[\w-]+\.[\w-]+/;
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');

describe('log hook in in the editor (headless Chromium)', function () {
  this.timeout(60000);
  let nodeRed;
  let browser;
  let page;
  let editor;
  let hookId;

  before(async function () {
    this.timeout(90000);
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

  afterEach(async function () {
    if (this.currentTest.state === 'failed' && page) {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'log-hook-editor-FAILED.png') }).catch(() => {});
    }
  });

  function expectNoBrowserErrors(when) {
    const errors = editor.takeErrors();
    assert.deepEqual(errors, [], `the browser reported errors ${when}:\n  ${errors.join('\n  ')}`);
  }

  async function label(id) {
    return (await editor.nodeElement(id).locator('.red-ui-flow-node-label').textContent()).replace(/\s+/g, ' ').trim();
  }

  /** Whether Node-RED marks the field invalid, once its validation has run. */
  async function marked(id) {
    return page
      .waitForFunction((el) => document.getElementById(el)?.classList.contains('input-error'), id, { timeout: 3000 })
      .then(
        () => true,
        () => false,
      );
  }

  it('shows log hook in in the kumomta category, with its own icon', async () => {
    const node = page.locator(
      '#red-ui-palette-container-kumomta .red-ui-palette-node[data-palette-type="kumo-log-hook"]',
    );
    await node.waitFor({ state: 'attached' });
    assert.equal(await node.getAttribute('data-palette-label'), 'log hook in');
    const icon = await node.locator('.red-ui-palette-icon-container').getAttribute('data-palette-icon');
    assert.equal(icon, `icons/${PACK.name}/kumo-log-hook.svg`);
    const drawn = await page.evaluate(async (url) => {
      const img = new Image();
      img.src = url;
      return img.decode().then(
        () => img.naturalWidth > 0,
        () => false,
      );
    }, icon);
    assert.ok(drawn, `${icon} is not drawable`);
    expectNoBrowserErrors('while showing the palette');
  });

  it('its dialog: the fields with their defaults, the label, the port labels and the help', async () => {
    hookId = await editor.dragFromPalette('kumo-log-hook', 'log hook in', { x: 200, y: 100 });
    assert.equal(await label(hookId), 'POST /kumomta/log');
    await editor.openNode(hookId);
    const fields = [
      'name',
      'path',
      'queue',
      'secretHeader',
      'secret',
      'maxBody',
      'maxRecords',
      'deadline',
      'bodyTimeout',
    ];
    for (const field of fields)
      assert.equal(await page.locator(`#node-input-${field}`).count(), 1, `no field ${field}`);
    assert.equal(await page.inputValue('#node-input-path'), '/kumomta/log');
    assert.equal(await page.inputValue('#node-input-maxBody'), '5');
    assert.equal(await page.inputValue('#node-input-maxRecords'), '10000');
    assert.equal(await page.inputValue('#node-input-deadline'), '50');
    assert.equal(await page.inputValue('#node-input-secretHeader'), 'X-Kumo-Secret');
    assert.equal(await page.getAttribute('#node-input-secret', 'type'), 'password');
    assert.equal(await editor.field('node-input-queue').typed.inputValue(), 'webhook');
    const body = await page.locator('.red-ui-tray:last-of-type .red-ui-tray-body').textContent();
    assert.doesNotMatch(body, RAW_I18N_KEY, 'the dialog shows a message key');
    assert.match(body, /httpNodeAuth/);

    await page.click('#red-ui-tab-help-link-button');
    await page.waitForFunction(
      () =>
        document.querySelector('.red-ui-sidebar-help-stack .red-ui-help-title')?.textContent.trim() === 'log hook in',
    );
    const help = await page.locator('.red-ui-sidebar-help-stack .red-ui-help').first().textContent();
    assert.doesNotMatch(help, RAW_I18N_KEY);
    assert.match(help, /X-Kumo-Verdict: not-a-log-record/);
    const sections = (await page.locator('.red-ui-sidebar-help-stack .red-ui-help h3').allInnerTexts()).map((h) =>
      h.trim(),
    );
    assert.deepEqual(sections, ['Inputs', 'Outputs', 'Details', 'References']);

    await editor.fill('node-input-path', '/hooks/kumo');
    await editor.closeTray('node-dialog-ok');
    assert.equal(await label(hookId), 'POST /hooks/kumo');
    const ports = [];
    for (const i of [0, 1]) {
      await editor.nodeElement(hookId).locator('.red-ui-flow-port-output').nth(i).hover();
      const tip = page.locator('.red-ui-flow-port-tooltip');
      await tip.waitFor({ state: 'visible' });
      ports.push((await tip.textContent()).trim());
      await page.mouse.move(5, 500);
      await tip.waitFor({ state: 'detached' }).catch(() => {});
    }
    assert.deepEqual(ports, ['log records', 'not log records']);
    expectNoBrowserErrors('while editing log hook in');
  });

  it('marks a bad path and bad limits, as the runtime would refuse them, and the node', async () => {
    await editor.openNode(hookId);
    const bad = {
      path: 'kumomta/log',
      maxBody: '0',
      maxRecords: '1.5',
      deadline: '5000',
      bodyTimeout: '-1',
      secretHeader: 'X Kumo',
    };
    for (const [field, value] of Object.entries(bad)) {
      await editor.fill(`node-input-${field}`, value);
      assert.ok(await marked(`node-input-${field}`), `${field} = ${value} is not marked invalid`);
    }
    for (const pattern of ['/log/:id', '/a//b']) {
      await editor.fill('node-input-path', pattern);
      assert.ok(await marked('node-input-path'), `path ${pattern} is not marked invalid`);
    }
    await editor.closeTray('node-dialog-ok');
    const validity = await editor.nodeValidity(hookId);
    assert.ok(validity.triangle, 'no red triangle on the node');
    assert.ok(
      validity.errors.some((e) => /Path: path \/a\/\/b must start with \//.test(e)),
      `the problems do not name the path: ${JSON.stringify(validity.errors)}`,
    );
    // and back to valid
    await editor.openNode(hookId);
    const good = {
      path: '/kumomta/log',
      maxBody: '0.5',
      maxRecords: '100',
      deadline: '45',
      bodyTimeout: '5',
      secretHeader: 'X-Kumo-Secret',
    };
    for (const [field, value] of Object.entries(good)) await editor.fill(`node-input-${field}`, value);
    await editor.closeTray('node-dialog-ok');
    assert.deepEqual((await editor.nodeValidity(hookId)).errors, []);
    expectNoBrowserErrors('while validating log hook in');
  });
});
