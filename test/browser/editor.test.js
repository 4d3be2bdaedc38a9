'use strict';
// The editor, as a Node-RED user meets this pack, in Debian's headless
// Chromium: install the `npm pack` tarball through Manage palette, find the kumomta
// nodes, open every edit dialog and its help, see validation, import every example
// from Import > Examples, point it at the test RabbitMQ, Deploy, see "connected",
// try it (click its inject buttons, POST a log record to its log hook; no error in the
// Debug sidebar), change a property and redeploy; every example must have been tried. A screenshot per example goes to test-results/screenshots/ (git-ignored;
// <example>-FAILED.png when it failed). Needs AMQP_URL (set by `npm test`).

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed, ROOT } = require('./support/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');
const { BROKER_URL, CREDENTIALS, requireBroker } = require('../helpers/amqp');

const PACK = require(path.join(ROOT, 'package.json')).name;
const { deliveryRecord } = require('../helpers/log-records');
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');
const CORE_MESSAGES = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'src', 'core', 'text', 'messages.en-US.json'), 'utf8'),
);
const CONNECT_TIMEOUT_MS = 20000;

// What a user must find in the palette: type, palette label, the edit dialog's fields
// (ids without the node-input- prefix), port labels, and the help sections.
const FLOW_SECTIONS = ['Inputs', 'Outputs', 'Details', 'References'];
const FLOW_NODES = [
  {
    type: 'amqp-publish',
    label: 'amqp publish',
    fields: [
      'name',
      'broker',
      'exchange',
      'routingKey',
      'declareQueue',
      'persistent',
      'mandatory',
      'waitForConfirm',
      'nackedAs',
      'confirmTimeout',
      'maxWaiting',
    ],
    outputs: ['delivered', 'rejected'],
    nodeLabel: /logging/,
  },
  {
    type: 'kumo-queue-config',
    label: 'queue config',
    fields: ['name', 'queue', 'rule-container'],
    nodeLabel: /\b0 rules\b/,
  },
  {
    type: 'kumo-custom-protocol',
    label: 'custom protocol',
    fields: ['name', 'eventName', 'timeout', 'maxInFlight'],
    outputs: ['send', 'log records'],
    nodeLabel: /make\.amqp/,
  },
  {
    type: 'kumo-reject',
    label: 'reject',
    fields: ['name', 'code', 'message'],
    nodeLabel: /\b451\b/,
  },
];
const BROKER_NODE = {
  type: 'amqp-broker',
  label: 'amqp broker',
  fields: ['name', 'url', 'username', 'password', 'heartbeat', 'connectionName'],
  sections: ['Details', 'References'],
};
// An untranslated message shows its key, e.g. "amqp-publish.label.broker".
const RAW_I18N_KEY =
  /\b(?:amqp-broker|amqp-publish|kumo-queue-config|kumo-custom-protocol|kumo-reject|common)\.[\w-]+\.[\w-]+/;

// What KumoMTA's log hook posts: one log record, for an example fed over HTTP.
const LOG_RECORD = deliveryRecord();

// Every example the pack ships, as found now: each one must import, deploy and connect.
const EXAMPLES = fs
  .readdirSync(path.join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('the editor in headless Chromium: installing and using the pack as a user does', function () {
  this.timeout(90000);

  let tmp;
  let tarball;
  let nodeRed;
  let browser;
  let page;
  let editor;
  const placed = {}; // type -> id of the node dragged onto Flow 1

  before(async function () {
    this.timeout(120000);
    requireBroker();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-browser-pack-'));
    // The tarball a user would upload: whatever `npm pack` puts in it, and nothing else.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    tarball = path.join(tmp, packed[0].filename);
    nodeRed = await startNodeRed();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    editor = new Editor(page, watchErrors(page));
    await editor.open(nodeRed.url);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async function () {
    this.timeout(30000);
    if (browser) await browser.close();
    if (nodeRed) {
      await nodeRed.stop();
      fs.rmSync(nodeRed.userDir, { recursive: true, force: true });
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(async function () {
    // A failed test may leave a tray open; its shade would block every click of the next one.
    if (editor) await editor.reset();
  });

  function expectNoBrowserErrors(when) {
    const errors = editor.takeErrors();
    assert.deepEqual(errors, [], `the browser reported errors ${when}:\n  ${errors.join('\n  ')}`);
  }

  async function failWithRuntimeLog(err) {
    // The runtime's own words are the user's next clue (e.g. npm's output for a failed install).
    err.message += `\n--- Node-RED log (tail) ---\n${nodeRed.logTail(25)}`;
    throw err;
  }

  it('installs from Menu > Manage palette > Install > upload of the npm pack tarball', async function () {
    const note = await editor.installTarball(tarball).catch(failWithRuntimeLog);
    assert.equal(
      note.kind,
      'success',
      `uploading ${path.basename(tarball)} showed "${note.text}" instead of "Nodes added to palette"`,
    );
    assert.match(note.text, /Nodes? added to palette/);
    for (const { type } of [BROKER_NODE, ...FLOW_NODES]) {
      assert.ok(note.text.includes(type), `"Nodes added to palette" does not list ${type}; it says:\n${note.text}`);
    }
    expectNoBrowserErrors('while installing the pack');
  });

  it('shows the kumomta palette category with amqp publish, queue config, custom protocol and reject, each with its own icon', async function () {
    // After an install Node-RED's editor fetches the new node definitions and its icon list side by
    // side; a definition that arrives before the list keeps Node-RED's default icon until the editor
    // is loaded again (its palette never redraws an icon). The user's next visit, which this reload
    // is, shows what the pack ships.
    await editor.open(nodeRed.url);
    await editor.closeNotifications();
    const category = page.locator('#red-ui-palette-container-kumomta');
    await category.waitFor({ state: 'visible' }).catch(() => {
      throw new Error('the palette has no "kumomta" category');
    });
    assert.equal((await page.locator('#red-ui-palette-header-kumomta').textContent()).trim(), 'kumomta');
    const shown = await category.locator('.red-ui-palette-node').evaluateAll((els) =>
      els.map((el) => ({
        type: el.getAttribute('data-palette-type'),
        label: el.getAttribute('data-palette-label'),
        icon: (el.querySelector('.red-ui-palette-icon-container') || { getAttribute: () => '' }).getAttribute(
          'data-palette-icon',
        ),
      })),
    );
    const missing = FLOW_NODES.filter((n) => !shown.some((s) => s.type === n.type && s.label === n.label));
    assert.deepEqual(
      missing.map((n) => n.label),
      [],
      `the kumomta category shows ${shown.map((s) => `"${s.label}"`).join(', ') || 'nothing'}; missing:`,
    );

    // Each icon must be the pack's own SVG, served (no 404) and drawable; no two alike.
    const icons = shown.filter((s) => FLOW_NODES.some((n) => n.type === s.type)).map((s) => s.icon);
    icons.push(`icons/${PACK}/amqp-broker.svg`);
    const loaded = await page.evaluate(
      async (urls) =>
        Promise.all(
          urls.map(async (url) => {
            const res = await fetch(url);
            const img = new Image();
            img.src = url;
            const drawn = await img.decode().then(
              () => img.naturalWidth > 0,
              () => false,
            );
            return { url, status: res.status, type: res.headers.get('content-type') || '', drawn };
          }),
        ),
      icons,
    );
    for (const icon of loaded) {
      assert.ok(
        icon.url.startsWith(`icons/${PACK}/`),
        `a kumomta palette node uses ${icon.url}, not an icon of the pack`,
      );
      assert.ok(
        icon.status === 200 && /svg/.test(icon.type) && icon.drawn,
        `icon ${icon.url}: HTTP ${icon.status} ${icon.type}, ${icon.drawn ? 'drawn' : 'not drawable'}`,
      );
    }
    assert.equal(new Set(icons).size, icons.length, `two kumomta nodes share an icon: ${icons.join(', ')}`);
    expectNoBrowserErrors('while showing the palette');
  });

  describe('every node, dropped on the workspace and double-clicked', function () {
    FLOW_NODES.forEach((spec, i) => {
      it(`${spec.label}: its edit dialog shows ${spec.fields.join(', ')}; its ports and help are labelled`, async function () {
        const id = await editor.dragFromPalette(spec.type, spec.label, { x: 200 + (i % 2) * 300, y: 100 + i * 90 });
        placed[spec.type] = id;

        const label = await editor.nodeElement(id).locator('.red-ui-flow-node-label').textContent();
        assert.doesNotMatch(
          label,
          RAW_I18N_KEY,
          `the ${spec.label} node on the workspace is labelled with a message key: "${label}"`,
        );
        if (spec.nodeLabel) assert.match(label, spec.nodeLabel, `a new ${spec.label} node is labelled "${label}"`);

        await editor.openNode(id);
        await expectFields('node-input', spec);
        await expectHelp(spec.label, FLOW_SECTIONS);
        await editor.closeTray('node-dialog-cancel');

        for (const [port, expected] of (spec.outputs || []).entries()) {
          await editor.nodeElement(id).locator('.red-ui-flow-port-output').nth(port).hover();
          const tip = page.locator('.red-ui-flow-port-tooltip');
          await tip.waitFor({ state: 'visible' });
          assert.equal(
            (await tip.textContent()).trim(),
            expected,
            `hovering output ${port + 1} of ${spec.label} shows "${await tip.textContent()}"`,
          );
          await page.mouse.move(5, 500);
          await tip.waitFor({ state: 'detached' });
        }
        expectNoBrowserErrors(`while editing a ${spec.label} node`);
      });
    });

    it(`amqp broker: its config dialog opens from the + next to Broker and shows ${BROKER_NODE.fields.join(', ')} and its help`, async function () {
      await editor.openNode(placedNode('amqp-publish'));
      await page.click('#node-input-btn-broker-add');
      await page.waitForSelector('#node-config-dialog-ok', { state: 'visible' });
      await editor.trayOpened();
      await expectFields('node-config-input', BROKER_NODE);
      assert.equal(
        await page.inputValue('#node-config-input-url'),
        'amqp://localhost',
        'a new amqp broker does not default to amqp://localhost',
      );
      await expectHelp(BROKER_NODE.label, BROKER_NODE.sections);
      await editor.closeTray('node-config-dialog-cancel');
      await editor.closeTray('node-dialog-cancel');
      expectNoBrowserErrors('while editing an amqp broker');
    });
  });

  describe('validation a user sees in the edit dialog and on the node', function () {
    it('amqp broker: a password typed into the URL moves into the credential fields on Done, out of the URL', async function () {
      await editor.openNode(placedNode('amqp-publish'));
      await page.click('#node-input-btn-broker-add');
      await page.waitForSelector('#node-config-dialog-ok', { state: 'visible' });
      await editor.trayOpened();
      await page.fill('#node-config-input-url', 'amqp://alice:s%40cret@rabbit.example:5672/kumo');
      await page.waitForSelector('#node-config-row-url-userinfo', { state: 'visible' });
      await page.fill('#node-config-input-name', 'moved credentials');
      await editor.closeTray('node-config-dialog-ok');
      // The publish dialog now selects the new broker config node.
      const broker = await page.evaluate(() => {
        const node = RED.nodes.node($('#node-input-broker').val());
        return node && { id: node.id, name: node.name, url: node.url, credentials: node.credentials };
      });
      assert.ok(broker && broker.name === 'moved credentials', 'the new broker node was not saved');
      // Not left behind as an unused config node for the deploys that follow.
      await page.evaluate((id) => {
        RED.nodes.remove(id);
        RED.nodes.dirty(true);
      }, broker.id);
      assert.equal(broker.url, 'amqp://rabbit.example:5672/kumo');
      assert.equal(broker.credentials.username, 'alice');
      assert.equal(broker.credentials.password, 's@cret');
      await editor.closeTray('node-dialog-cancel');
      expectNoBrowserErrors('while moving credentials out of the URL');
    });

    it('amqp publish: an empty routing key (default exchange) marks the field and puts the red triangle on the node', async function () {
      const id = placedNode('amqp-publish');
      await editor.openNode(id);
      await editor.fill('node-input-exchange', '');
      await editor.fill('node-input-routingKey', '');
      await expectFieldInvalid('node-input-routingKey', 'an empty Routing key');
      await editor.closeTray('node-dialog-ok');
      await expectNodeInvalid(id, /Routing key/, 'amqp publish with an empty routing key');
      // and back: with a key again, the field is no longer marked
      await editor.openNode(id);
      await editor.fill('node-input-routingKey', 'logging');
      assert.equal(
        await editor.fieldInvalid('node-input-routingKey'),
        false,
        'Routing key "logging" is still marked invalid',
      );
      await editor.closeTray('node-dialog-ok');
      expectNoBrowserErrors('while validating amqp publish');
    });

    it('custom protocol: the event name get_queue_config (a KumoMTA event) is refused', async function () {
      const id = placedNode('kumo-custom-protocol');
      await editor.openNode(id);
      await editor.fill('node-input-eventName', 'get_queue_config');
      await expectFieldInvalid('node-input-eventName', 'Event name get_queue_config');
      await editor.closeTray('node-dialog-ok');
      await expectNodeInvalid(id, /get_queue_config/, 'custom protocol with event name get_queue_config');
      expectNoBrowserErrors('while validating custom protocol');
    });

    it('queue config: a rule with the regular expression "(" and the duration "soon" marks both inputs and the node', async function () {
      const id = placedNode('kumo-queue-config');
      await editor.openNode(id);
      await page.locator('.red-ui-editableList:has(#node-input-rule-container) .red-ui-editableList-addButton').click();
      const row = page.locator('#node-input-rule-container > li').last();
      await row.waitFor({ state: 'visible' });
      await row.locator(".kumo-qc-op[data-field='domain']").selectOption('regex');
      const regex = row.locator(".kumo-qc-value[data-field='domain']");
      await regex.fill('(');
      const duration = row.locator(".kumo-qc-duration[data-prop='retry_interval']");
      await duration.fill('soon');
      for (const [what, input] of [
        ['the regular expression "("', regex],
        ['the duration "soon"', duration],
      ]) {
        const marked = await page
          .waitForFunction((el) => el.classList.contains('input-error'), await input.elementHandle(), { timeout: 5000 })
          .then(
            () => true,
            () => false,
          );
        assert.ok(marked, `${what} is not marked as an error in the rule row`);
      }
      const rowErrors = await row.locator('.kumo-qc-errors').textContent();
      assert.ok(
        rowErrors.trim() !== '',
        'the rule row shows no message for a bad regular expression and a bad duration',
      );
      assert.doesNotMatch(rowErrors, RAW_I18N_KEY, `the rule row's message is a message key: ${rowErrors}`);
      // The core's words reach the editor through RED._, from the node's catalogue (under "kumo").
      const hint = await page.evaluate(() =>
        window.RED._('@kumo-flows/node-red-kumo-amqp/kumo-queue-config:kumo.duration.unit-hint'),
      );
      assert.equal(hint, CORE_MESSAGES.duration['unit-hint']);
      assert.ok(rowErrors.includes(hint), `the duration's message gives the hint: ${rowErrors}`);
      await editor.closeTray('node-dialog-ok');
      await expectNodeInvalid(id, [/"soon"/, /regular expression/], 'queue config with a bad rule');
      expectNoBrowserErrors('while validating queue config');
    });

    it("queue config: a custom_lua rule's batch size 0 and a min batch size above it are marked; good ones are saved KumoMTA-shaped", async function () {
      const id = placedNode('kumo-queue-config');
      await editor.openNode(id);
      await page.locator('.red-ui-editableList:has(#node-input-rule-container) .red-ui-editableList-addButton').click();
      const row = page.locator('#node-input-rule-container > li').last();
      await row.waitFor({ state: 'visible' });
      const size = row.locator(".kumo-qc-batch[data-prop='batch_size']");
      const min = row.locator(".kumo-qc-batch[data-prop='min_batch_size']");
      const latency = row.locator(".kumo-qc-batch[data-prop='max_batch_latency']");
      await size.waitFor({ state: 'visible' });
      const markedSoon = async (input) =>
        page
          .waitForFunction((el) => el.classList.contains('input-error'), await input.elementHandle(), { timeout: 5000 })
          .then(
            () => true,
            () => false,
          );
      await size.fill('0');
      assert.ok(await markedSoon(size), 'batch size 0 is not marked');
      assert.match(await row.locator('.kumo-qc-errors').textContent(), /batch_size must be a whole number, 1 or more/);
      await size.fill('10');
      await min.fill('20');
      assert.ok(await markedSoon(min), 'a min batch size above the batch size is not marked');
      assert.match(
        await row.locator('.kumo-qc-errors').textContent(),
        /min_batch_size \(20\) must not be more than batch_size \(10\)/,
      );
      await min.fill('5');
      await latency.fill('250ms');
      await page.waitForFunction((el) => !el.classList.contains('input-error'), await min.elementHandle(), {
        timeout: 5000,
      });
      await editor.closeTray('node-dialog-ok');
      const rules = await page.evaluate((nodeId) => RED.nodes.node(nodeId).rules, id);
      const saved = rules[rules.length - 1];
      assert.deepEqual(
        {
          batch_size: saved.batch_size,
          min_batch_size: saved.min_batch_size,
          max_batch_latency: saved.max_batch_latency,
        },
        { batch_size: '10', min_batch_size: '5', max_batch_latency: '250ms' },
      );
      expectNoBrowserErrors('while editing batch settings');
    });

    after(async function () {
      // The nodes dropped on Flow 1 are invalid on purpose: clear them so they do not block the examples' deploys.
      if (!editor) return;
      await page.locator('#red-ui-workspace-chart').click({ position: { x: 900, y: 700 } });
      await page.keyboard.press('Control+a');
      await page.keyboard.press('Delete');
      await page.waitForFunction(() => RED.nodes.filterNodes({ z: RED.workspaces.active() }).length === 0);
    });
  });

  describe('every example, from Import > Examples', function () {
    it('the pack ships the examples the spec names', function () {
      for (const name of ['amqp-log-events.json', 'kumomta-webhook-to-amqp.json']) {
        assert.ok(
          EXAMPLES.includes(name),
          `examples/${name} is missing (examples/ has ${EXAMPLES.join(', ') || 'nothing'})`,
        );
      }
    });

    // The examples whose inputs were tried: one that was skipped, for whatever reason, fails the count below.
    const tried = new Set();

    for (const file of EXAMPLES) {
      const name = file.replace(/\.json$/, '');
      it(`${name}: imports into a new flow, deploys against the test RabbitMQ, shows "connected", takes its inputs without error, redeploys after a change`, async function () {
        let flow;
        let failure = null;
        fs.rmSync(path.join(SCREENSHOTS, `${name}-FAILED.png`), { force: true });
        try {
          flow = await editor.importExample(PACK, name);
          // As the editor draws them (labels included): no two nodes may cover each other.
          const overlaps = await page.evaluate((z) => {
            const boxes = RED.nodes.filterNodes({ z }).map((n) => ({
              label: RED.utils.getNodeLabel(n, n.type),
              left: n.x - n.w / 2,
              right: n.x + n.w / 2,
              top: n.y - n.h / 2,
              bottom: n.y + n.h / 2,
            }));
            // A node not drawn yet has no size: that must fail, not pass unmeasured.
            const found = boxes.filter((b) => !Number.isFinite(b.left + b.top)).map((b) => `"${b.label}" (not drawn)`);
            for (let i = 0; i < boxes.length; i++) {
              for (let j = i + 1; j < boxes.length; j++) {
                const a = boxes[i];
                const b = boxes[j];
                if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
                  found.push(`"${a.label}" and "${b.label}"`);
                }
              }
            }
            return found;
          }, flow);
          assert.deepEqual(overlaps, [], `example ${name}: nodes drawn over each other`);
          const publishers = await page.evaluate(
            (z) =>
              RED.nodes
                .filterNodes({ z, type: 'amqp-publish' })
                .map((n) => ({ id: n.id, broker: n.broker, label: RED.utils.getNodeLabel(n, n.type) })),
            flow,
          );
          assert.ok(publishers.length > 0, `example ${name} has no amqp publish node`);

          // The examples say amqp://localhost; the test broker listens elsewhere. Fix each broker as a user
          // would: the pencil next to Broker in an amqp publish node that uses it.
          const fixed = new Set();
          for (const p of publishers) {
            if (fixed.has(p.broker)) continue;
            fixed.add(p.broker);
            await editor.openNode(p.id);
            await page.click('#node-input-btn-broker-edit');
            await page.waitForSelector('#node-config-input-url', { state: 'visible' });
            await editor.trayOpened();
            await editor.fill('node-config-input-url', BROKER_URL);
            await editor.fill('node-config-input-username', CREDENTIALS.username);
            await editor.fill('node-config-input-password', CREDENTIALS.password);
            await editor.closeTray('node-config-dialog-ok');
            await editor.closeTray('node-dialog-ok');
          }

          await editor.deploy();
          await expectConnected(publishers, `after deploying example ${name}`);

          // The user tries it as it can be tried: each inject button once, and a KumoMTA log record POSTed to each
          // log hook's path (as KumoMTA's log hook would). Then the Debug sidebar shows what came of it, no error.
          const inputs = await page.evaluate(
            (z) =>
              RED.nodes
                .filterNodes({ z })
                .filter((n) => n.type === 'inject' || n.type === 'kumo-log-hook')
                .map((n) => ({ id: n.id, type: n.type, path: n.path })),
            flow,
          );
          assert.ok(inputs.length > 0, `example ${name} has no inject node and no log hook: the user cannot try it`);
          await page.click('#red-ui-tab-debug-link-button');
          await page.click('#red-ui-sidebar-debug-clear');
          for (const input of inputs) {
            if (input.type === 'inject') {
              await editor.nodeElement(input.id).locator('.red-ui-flow-node-button').click();
              continue;
            }
            const res = await fetch(`${nodeRed.url.replace(/\/$/, '')}${input.path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(LOG_RECORD),
            });
            const answer = await res.text();
            assert.equal(res.status, 200, `example ${name}: POST ${input.path} answered ${res.status} ${answer}`);
            assert.match(answer, /^250 /, `example ${name}: POST ${input.path} answered ${answer}`);
          }
          const seen = await page
            .waitForFunction(
              (n) => document.querySelectorAll('.red-ui-debug-content-list .red-ui-debug-msg').length >= n,
              inputs.length,
              { timeout: 15000 },
            )
            .then(
              () => true,
              () => false,
            );
          const debug = await page.locator('.red-ui-debug-content-list .red-ui-debug-msg').evaluateAll((els) =>
            els.map((el) => ({
              error: el.classList.contains('red-ui-debug-msg-level-20'),
              text: el.textContent.replace(/\s+/g, ' ').slice(0, 300),
            })),
          );
          assert.ok(
            seen,
            `after trying the ${inputs.length} inputs of example ${name}, the Debug sidebar shows only ${debug.length} messages`,
          );
          const errors = debug.filter((m) => m.error).map((m) => m.text);
          assert.deepEqual(errors, [], `example ${name} put errors in the Debug sidebar:`);
          await expectConnected(publishers, `after trying example ${name}`);
          tried.add(name);

          // A user edits something and deploys again: the node reconnects and says so.
          const first = publishers[0];
          const renamed = `${first.label} (edited)`;
          await editor.openNode(first.id);
          await editor.fill('node-input-name', renamed);
          await editor.closeTray('node-dialog-ok');
          const shownLabel = await editor.nodeElement(first.id).locator('.red-ui-flow-node-label').textContent();
          assert.equal(
            shownLabel.replace(/\s+/g, ' ').trim(),
            renamed,
            'the renamed amqp publish node does not show its new name',
          );
          await editor.deploy();
          await expectConnected(
            publishers,
            `after changing the name of "${first.label}" and deploying again in example ${name}`,
          );

          // The screenshot shows the flow with its statuses and, in the Debug sidebar, what it has sent so far.
          await page.click('#red-ui-tab-debug-link-button');
          await editor.closeNotifications();
          await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
          expectNoBrowserErrors(`while importing and deploying example ${name}`);
        } catch (err) {
          failure = err;
          await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-FAILED.png`) }).catch(() => {});
        }
        // Leave the editor as the next example needs it; a cleanup problem must not hide the real failure.
        try {
          await editor.reset();
          if (flow) await removeExample(flow);
        } catch (err) {
          if (!failure) throw err;
          failure.message += `\n(and removing the example afterwards failed: ${err.message.split('\n')[0]})`;
        }
        if (failure) throw failure;
      });
    }

    it('every example was tried, each through its inputs', function () {
      const names = EXAMPLES.map((f) => f.replace(/\.json$/, ''));
      assert.deepEqual(
        names.filter((n) => !tried.has(n)),
        [],
        `${tried.size} of ${names.length} examples were tried; not tried:`,
      );
    });
  });

  // --- helpers that need the page ---------------------------------------------------------

  function placedNode(type) {
    const id = placed[type];
    assert.ok(id, `no ${type} node could be placed on the workspace (is it in the palette?)`);
    return id;
  }

  async function expectFields(prefix, spec) {
    for (const field of spec.fields) {
      const id = `${prefix}-${field}`;
      const visible = await page.evaluate((elId) => {
        const el = document.getElementById(elId);
        if (!el) return 'missing';
        // A typedInput or an editableList hides the element it wraps: the user sees the widget.
        const next = el.nextElementSibling;
        const typed = next?.classList.contains('red-ui-typedInput-container') ? next : null;
        const shown = typed || el.closest('.red-ui-editableList') || el;
        return shown.getClientRects().length > 0 && getComputedStyle(shown).visibility !== 'hidden'
          ? 'visible'
          : 'hidden';
      }, id);
      assert.equal(visible, 'visible', `the ${spec.label} dialog has no visible field #${id}`);
    }
    const texts = await page
      .locator('.red-ui-tray:last-of-type .red-ui-tray-body')
      .evaluate((body) =>
        [
          body.textContent,
          ...[...body.querySelectorAll('[placeholder], [title]')].map(
            (el) => `${el.getAttribute('placeholder') || ''} ${el.getAttribute('title') || ''}`,
          ),
        ].join('\n'),
      );
    assert.doesNotMatch(texts, RAW_I18N_KEY, `the ${spec.label} dialog shows an untranslated message key`);
    const emptyLabels = await page
      .locator('.red-ui-tray:last-of-type .red-ui-tray-body label[for]')
      .evaluateAll((els) =>
        els.filter((l) => l.getClientRects().length && l.textContent.trim() === '').map((l) => l.getAttribute('for')),
      );
    assert.deepEqual(emptyLabels, [], `the ${spec.label} dialog has fields whose label is empty:`);
  }

  async function expectHelp(label, sections) {
    await page.click('#red-ui-tab-help-link-button');
    const title = page.locator('.red-ui-sidebar-help-stack .red-ui-help-title');
    await page
      .waitForFunction((want) => {
        const t = document.querySelector('.red-ui-sidebar-help-stack .red-ui-help-title');
        return t && t.textContent.trim() === want;
      }, label)
      .catch(async () => {
        throw new Error(
          `the Help sidebar shows "${await title.textContent().catch(() => '(nothing)')}" instead of the ${label} help`,
        );
      });
    const headings = await page.locator('.red-ui-sidebar-help-stack .red-ui-help h3').allInnerTexts();
    const missing = sections.filter((s) => !headings.some((h) => h.trim() === s));
    assert.deepEqual(
      missing,
      [],
      `the ${label} help has the sections ${headings.map((h) => h.trim()).join(', ')}; missing:`,
    );
    const text = await page.locator('.red-ui-sidebar-help-stack .red-ui-help').first().textContent();
    assert.doesNotMatch(text, RAW_I18N_KEY, `the ${label} help shows a message key`);
  }

  async function expectFieldInvalid(id, what) {
    const marked = await page
      .waitForFunction(
        (fieldId) => {
          const el = document.getElementById(fieldId);
          const typed = el?.nextElementSibling?.classList.contains('red-ui-typedInput-container')
            ? el.nextElementSibling
            : null;
          return !!el && (el.classList.contains('input-error') || !!typed?.classList.contains('input-error'));
        },
        id,
        { timeout: 5000 },
      )
      .then(
        () => true,
        () => false,
      );
    if (!marked) {
      // Say what the dialog held, so a failure here can be told from a race in the test.
      const state = await page.evaluate(
        (_fieldId) =>
          [...document.querySelectorAll('#dialog-form input[id^="node-"]')]
            .filter((el) => el.type !== 'checkbox')
            .map((el) => `${el.id}=${JSON.stringify(el.value)}`)
            .join(' '),
        id,
      );
      assert.fail(`${what} is not marked invalid in the edit dialog (fields: ${state})`);
    }
  }

  async function expectNodeInvalid(id, problems, what) {
    const validity = await editor.nodeValidity(id);
    assert.ok(validity.triangle, `${what}: the node shows no red triangle`);
    for (const problem of [].concat(problems)) {
      assert.ok(
        validity.errors.some((e) => problem.test(e)),
        `${what}: the node's problems do not mention ${problem}: ${JSON.stringify(validity.errors)}`,
      );
    }
    assert.doesNotMatch(validity.errors.join('\n'), RAW_I18N_KEY, `${what}: a problem is shown as a message key`);
  }

  async function expectConnected(publishers, when) {
    for (const p of publishers) {
      const ok = await editor.waitForStatus(p.id, /\bconnected\b/, 'green', CONNECT_TIMEOUT_MS);
      if (!ok) {
        const s = await editor.status(p.id);
        await failWithRuntimeLog(
          new Error(
            `${when}, amqp publish "${p.label}" shows "${s.text}" (${s.fill || 'no'} ${s.shape || 'status'}) instead of a green "connected" within ${CONNECT_TIMEOUT_MS / 1000} s (broker ${BROKER_URL})`,
          ),
        );
      }
    }
  }

  /** Deletes the example's brokers (from the amqp publish dialog) and its flow (Menu > Flows > Delete), so the next example imports cleanly. */
  async function removeExample(flow) {
    await page.keyboard.press('Escape').catch(() => {});
    const publishers = await page.evaluate(
      (z) => RED.nodes.filterNodes({ z, type: 'amqp-publish' }).map((n) => ({ id: n.id, broker: n.broker })),
      flow,
    );
    const done = new Set();
    for (const p of publishers) {
      if (!p.broker || done.has(p.broker)) continue;
      done.add(p.broker);
      await editor.openNode(p.id);
      await page.click('#node-input-btn-broker-edit');
      await page.waitForSelector('#node-config-dialog-ok', { state: 'visible' });
      await editor.trayOpened();
      await editor.closeTray('node-config-dialog-ok', 'Delete');
      await editor.closeTray('node-dialog-cancel');
    }
    await page
      .locator(`#red-ui-workspace-tabs li.red-ui-tab[id="red-ui-tab-${flow}"] a`)
      .first()
      .click()
      .catch(() => {});
    await editor.menu('menu-item-workspace', 'menu-item-workspace-delete');
    await page.waitForFunction((z) => !RED.nodes.workspace(z), flow);
  }
});
