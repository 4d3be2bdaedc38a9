'use strict';
// A queue config rule's regular expression in the editor, in Debian's headless
// Chromium: a pattern that can backtrack catastrophically is marked invalid while
// the user types it, in the words compileRules refuses it with at deploy (the
// core's check, bundled into the editor's script); an everyday pattern is not.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed, ROOT, PACK } = require('../../scripts/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');

const CORE_MESSAGES = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'src', 'core', 'text', 'messages.en-US.json'), 'utf8'),
);
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');
const CATASTROPHIC = '^([a-z0-9]+-?)+$';

/** The English the editor should show, filled in as the core's catalogue says. */
function english(key, vars) {
  const [group, name] = key.split('.');
  return CORE_MESSAGES[group][name].replace(/__(\w+?)__/g, (_, v) => String(vars[v]));
}

describe('queue config in the editor: a regular expression that could block Node-RED (headless Chromium)', function () {
  this.timeout(60000);
  let nodeRed;
  let browser;
  let page;
  let editor;
  let nodeId;

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
    nodeId = await editor.dragFromPalette('kumo-queue-config', 'queue config', { x: 250, y: 120 });
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
      await page.screenshot({ path: path.join(SCREENSHOTS, 'queue-config-regex-FAILED.png') }).catch(() => {});
    }
  });

  function expectNoBrowserErrors(when) {
    const errors = editor.takeErrors();
    assert.deepEqual(errors, [], `the browser reported errors ${when}:\n  ${errors.join('\n  ')}`);
  }

  /** Opens the node, adds a rule whose tenant is a regular expression, and returns its row and input. */
  async function ruleWithTenantRegex() {
    await editor.openNode(nodeId);
    await page.locator('.red-ui-editableList:has(#node-input-rule-container) .red-ui-editableList-addButton').click();
    const row = page.locator('#node-input-rule-container > li').last();
    await row.waitFor({ state: 'visible' });
    await row.locator(".kumo-qc-op[data-field='tenant']").selectOption('regex');
    return { row, input: row.locator(".kumo-qc-value[data-field='tenant']") };
  }

  /** Waits until the input is marked (or unmarked) and returns the row's messages. */
  async function marked(row, input, wanted) {
    const handle = await input.elementHandle();
    await page
      .waitForFunction(([el, want]) => el.classList.contains('input-error') === want, [handle, wanted], {
        timeout: 5000,
      })
      .catch(async () => {
        const now = await input.evaluate((el) => el.className);
        throw new Error(`the tenant input ${wanted ? 'is not' : 'is still'} marked invalid (class "${now}")`);
      });
    return (await row.locator('.kumo-qc-errors').textContent()).trim();
  }

  it('marks ^([a-z0-9]+-?)+$ invalid as it is typed, saying why, and the node after Done', async function () {
    const { row, input } = await ruleWithTenantRegex();
    // Typed key by key, as a user does: every prefix is checked on the way.
    await input.pressSequentially(CATASTROPHIC);
    const said = await marked(row, input, true);
    const expected = english('queue-config.regex-nested-repetition', {
      field: 'tenant',
      pattern: JSON.stringify(CATASTROPHIC),
    });
    assert.ok(said.includes(expected), `the rule row says:\n  ${said}\nnot:\n  ${expected}`);

    await editor.closeTray('node-dialog-ok');
    const validity = await editor.nodeValidity(nodeId);
    assert.ok(validity.triangle, 'the queue config node shows no red triangle');
    assert.ok(
      validity.errors.some((e) => e.includes('repeats something that itself repeats')),
      `the node's problems do not say why: ${JSON.stringify(validity.errors)}`,
    );
    expectNoBrowserErrors('while checking a catastrophic regular expression');
  });

  it('accepts the everyday patterns of the examples and docs, unmarking the input', async function () {
    const { row, input } = await ruleWithTenantRegex();
    await input.fill('(a|aa)+');
    await input.dispatchEvent('change');
    const said = await marked(row, input, true);
    assert.match(said, /repeats alternatives that can begin with the same character/);
    for (const pattern of ['^amqp$', 'example\\.com$', '^(gmail|yahoo)\\.com$']) {
      await input.fill(pattern);
      await input.dispatchEvent('change');
      const now = await marked(row, input, false);
      assert.doesNotMatch(now, /regular expression/, `${pattern} is refused: ${now}`);
    }
    await editor.closeTray('node-dialog-cancel');
    expectNoBrowserErrors('while checking everyday regular expressions');
  });
});
