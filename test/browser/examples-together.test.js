'use strict';
// Every example at once, as `npm start` loads them (scripts/start.js exampleFlows: a tab each, the
// shared broker config node once), in Debian's headless Chromium, as a newcomer meets them: one
// broker, every pack node valid as shipped and after open + Done (nothing changed by it), no red
// status and every status short, and trying one example (its injects; a log record posted to its log
// hook) prints nothing on another example's tab, every example tried. A custom protocol fresh from the palette takes a free event name. Screenshots of each
// example and each dialog go to test-results/screenshots/together-*.png. Needs AMQP_URL.
// Then what a newcomer does next: reads the palette (the spec's labels, each on one line, in a
// flow's order), drags every pack node onto a flow and presses Done on it, imports an example
// again on top and deploys, and disables a flow (its nodes keep no stale status).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed } = require('../helpers/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');
const { BROKER_URL, CREDENTIALS, SideChannel } = require('../helpers/amqp');
const { exampleFlows, editorSettings } = require('../../scripts/start');
const { deliveryRecord } = require('../helpers/log-records');
const pkg = require('../../package.json');

const ROOT = path.resolve(__dirname, '..', '..');
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');
const PACK_TYPES = /^(amqp-|kumo-)/;
// What a status under a node may take: about the width of two nodes side by side.
const STATUS_MAX = 40;
// After an inject's own flow has printed, how long another tab is watched for anything it prints.
const QUIET_MS = 1500;
// What KumoMTA's log hook posts: one log record, for an example fed over HTTP.
const LOG_RECORD = deliveryRecord({ id: '2d98076abbbc11ed940250ebf67f93bd' });
// The palette labels of SPEC.md §1 (the contract), in package.json's order: a flow's, log hook in first.
const PALETTE = [
  ['kumo-log-hook', 'log hook in'],
  ['kumo-queue-config', 'queue config'],
  ['kumo-custom-protocol', 'custom protocol'],
  ['amqp-publish', 'amqp publish'],
  ['kumo-reject', 'reject'],
  ['amqp-consume', 'amqp consume'],
  ['amqp-ack', 'amqp ack'],
];

describe('every example together, as npm start loads them', function () {
  this.timeout(120000);

  let nodeRed;
  let browser;
  let page;
  let editor;
  let side;
  const flows = exampleFlows(BROKER_URL);
  const tabs = flows.filter((n) => n.type === 'tab');
  const brokers = flows.filter((n) => n.type === 'amqp-broker');

  before(async function () {
    this.timeout(120000);
    // The examples' own queues, declared afresh by the examples (a queue left with other arguments would be refused).
    side = await SideChannel.open();
    for (const q of ['logging', 'kumomta.logs', 'kumomta.logs.failed', 'tenant.acme', 'campaign.newsletter'])
      await side.channel.deleteQueue(q);
    await side.channel.deleteExchange('kumomta.logs.dlx');
    nodeRed = await startNodeRed(flows, {
      credentials: Object.fromEntries(brokers.map((b) => [b.id, CREDENTIALS])),
      settings: {
        ...editorSettings(),
        credentialSecret: false,
        // This machine reaches no Flow Library catalogue: without this the editor reports a failed request.
        editorTheme: { ...editorSettings().editorTheme, palette: { catalogues: [] } },
      },
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    editor = new Editor(page, watchErrors(page));
    await editor.open(`${nodeRed.url}/`);
    // What the debug nodes send, with the flow each one is on: the sidebar shows only a summary.
    await page.evaluate(() => {
      window.kumoDebug = [];
      RED.comms.subscribe('debug', (_topic, msg) =>
        window.kumoDebug.push({ z: msg.z, id: msg.id, name: msg.name || msg.id, msg: msg.msg }),
      );
      // The revision of each deploy once the runtime has stopped and started its flows: the statuses
      // sent meanwhile came over the same socket before it.
      window.kumoDeployed = [];
      RED.comms.subscribe('notification/runtime-deploy', (_topic, msg) => window.kumoDeployed.push(msg.revision));
    });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async function () {
    this.timeout(30000);
    if (browser) await browser.close();
    if (nodeRed) await nodeRed.stop();
    if (side) await side.close();
  });

  beforeEach(async function () {
    if (editor) await editor.reset();
  });

  async function showTab(id) {
    // Not a click on the tab: two clicks there in quick succession open the flow's own edit tray.
    await page.evaluate((z) => RED.workspaces.show(z), id);
    await page.waitForFunction((z) => RED.workspaces.active() === z, id);
  }

  const packNodes = (z) =>
    page.evaluate(
      ({ z, source }) =>
        RED.nodes
          .filterNodes({ z })
          .filter((n) => new RegExp(source).test(n.type))
          .map((n) => ({ id: n.id, type: n.type, label: RED.utils.getNodeLabel(n, n.type) })),
      { z, source: PACK_TYPES.source },
    );

  it('has one broker config node, "local RabbitMQ", used by every amqp node of every example', async function () {
    assert.equal(brokers.length, 1, 'npm start loads more than one broker config node');
    const seen = await page.evaluate(() => {
      const configs = [];
      RED.nodes.eachConfig((n) => {
        if (n.type === 'amqp-broker') configs.push({ id: n.id, name: n.name, users: n.users.length });
      });
      const refs = [];
      RED.nodes.eachNode((n) => {
        if (n.broker !== undefined) refs.push(n.broker);
      });
      return { configs, refs };
    });
    assert.deepEqual(
      seen.configs.map((c) => c.name),
      ['local RabbitMQ'],
    );
    assert.ok(seen.refs.length >= 5, `only ${seen.refs.length} nodes use a broker`);
    assert.deepEqual([...new Set(seen.refs)], [seen.configs[0].id]);
    assert.equal(seen.configs[0].users, seen.refs.length);
  });

  it("the palette lists the pack's nodes in a flow's order, each by the spec's label on one line", async function () {
    assert.deepEqual(
      Object.keys(pkg['node-red'].nodes).filter((type) => type !== 'amqp-broker'),
      PALETTE.map(([type]) => type),
      "package.json's order of the nodes, which the palette follows",
    );
    const category = page.locator('#red-ui-palette-container-kumomta');
    await category.scrollIntoViewIfNeeded();
    const shown = await page.evaluate(() => {
      // A core node whose label is one short word: the height of a palette node of one line.
      const oneLine = document.querySelector('.red-ui-palette-node[data-palette-type="inject"]');
      return [...document.querySelectorAll('#red-ui-palette-container-kumomta .red-ui-palette-node')].map((el) => {
        const label = el.querySelector('.red-ui-palette-label');
        return {
          type: el.getAttribute('data-palette-type'),
          label: el.getAttribute('data-palette-label'),
          // Node-RED puts a <br> where it would break the label; the height below says whether it does.
          text: label.textContent.replace(/\s+/g, ' ').trim(),
          height: label.getBoundingClientRect().height,
          lineHeight: Number.parseFloat(getComputedStyle(label).lineHeight),
          clipped: label.scrollWidth > label.clientWidth,
          nodeHeight: el.getBoundingClientRect().height,
          oneLineNodeHeight: oneLine.getBoundingClientRect().height,
        };
      });
    });
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'together-palette.png'),
      clip: await category.boundingBox(),
    });
    assert.deepEqual(
      shown.map((n) => [n.type, n.label, n.text]),
      PALETTE.map(([type, label]) => [type, label, label]),
    );
    const wrapped = shown.filter((n) => n.height !== n.lineHeight || n.clipped || n.nodeHeight !== n.oneLineNodeHeight);
    assert.deepEqual(
      wrapped.map(
        (n) => `${n.label}: ${n.height} px high (a line: ${n.lineHeight}), ${n.clipped ? 'cut off' : 'whole'}`,
      ),
      [],
      'palette labels that do not fit on one line',
    );
  });

  it('every pack node is valid as shipped, and no two custom protocols claim one event name', async function () {
    const problems = await page.evaluate((source) => {
      const out = [];
      RED.nodes.eachNode((n) => {
        if (new RegExp(source).test(n.type) && !n.valid)
          out.push(`${RED.utils.getNodeLabel(n, n.type)}: ${(n.validationErrors || []).join('; ')}`);
      });
      return out;
    }, PACK_TYPES.source);
    assert.deepEqual(problems, []);
    const events = flows.filter((n) => n.type === 'kumo-custom-protocol').map((n) => n.eventName);
    assert.equal(new Set(events).size, events.length, `event names: ${events.join(', ')}`);
  });

  it('every status is green or blue once connected, none red, each short', async function () {
    const nodes = (await Promise.all(tabs.map((t) => packNodes(t.id)))).flat();
    const amqp = nodes.filter((n) => n.type === 'amqp-publish' || n.type === 'amqp-consume');
    for (const tab of tabs) {
      await showTab(tab.id);
      for (const n of amqp.filter((a) => flows.find((f) => f.id === a.id).z === tab.id)) {
        const ok = await editor.waitForStatus(n.id, /^connected$/, 'green', 20000);
        const s = await editor.status(n.id);
        assert.ok(ok, `${n.type} "${n.label}" shows "${s.text}" (${s.fill}) instead of a green "connected"`);
      }
      const statuses = await page.evaluate(
        (z) =>
          RED.nodes
            .filterNodes({ z })
            .filter((n) => n.status?.text)
            .map((n) => ({ label: RED.utils.getNodeLabel(n, n.type), text: n.status.text, fill: n.status.fill })),
        tab.id,
      );
      const red = statuses.filter((s) => s.fill === 'red');
      assert.deepEqual(red, [], `red statuses on ${tab.label}`);
      const long = statuses.filter((s) => s.text.length > STATUS_MAX);
      assert.deepEqual(long, [], `statuses longer than ${STATUS_MAX} characters on ${tab.label}`);
      await editor.closeNotifications();
      await page.screenshot({ path: path.join(SCREENSHOTS, `together-${tab.label}.png`) });
    }
  });

  it('every pack node stays valid and unchanged through open + Done (a screenshot of each dialog)', async function () {
    const shot = new Set();
    for (const tab of tabs) {
      await showTab(tab.id);
      for (const n of await packNodes(tab.id)) {
        const settings = (id) =>
          page.evaluate((nodeId) => {
            const node = RED.nodes.node(nodeId);
            return Object.fromEntries(Object.keys(node._def.defaults).map((k) => [k, JSON.stringify(node[k])]));
          }, id);
        const before = await settings(n.id);
        await editor.openNode(n.id);
        if (!shot.has(n.type)) {
          shot.add(n.type);
          await page.screenshot({ path: path.join(SCREENSHOTS, `together-dialog-${n.type}.png`) });
        }
        await editor.closeTray('node-dialog-ok');
        const after = await page.evaluate((id) => {
          const node = RED.nodes.node(id);
          return { valid: node.valid, errors: node.validationErrors || [], changed: !!node.changed };
        }, n.id);
        const v = await editor.nodeValidity(n.id);
        assert.ok(
          after.valid && !v.triangle,
          `${tab.label}: "${n.label}" (${n.type}) is invalid after open + Done: ${after.errors.join('; ')}`,
        );
        const now = await settings(n.id);
        const differ = Object.keys(now).filter((k) => now[k] !== before[k]);
        assert.deepEqual(
          differ.map((k) => `${k}: ${before[k]} -> ${now[k]}`),
          [],
          `${tab.label}: open + Done changed "${n.label}" (${n.type})`,
        );
        assert.equal(after.changed, false, `${tab.label}: open + Done marked "${n.label}" (${n.type}) changed`);
      }
    }
    // The broker's own dialog, from the pencil next to Broker, and its Update.
    const publisher = flows.find((n) => n.type === 'amqp-publish');
    await showTab(publisher.z);
    await editor.openNode(publisher.id);
    await page.click('#node-input-btn-broker-edit');
    await page.waitForSelector('#node-config-input-url', { state: 'visible' });
    await editor.trayOpened();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'together-dialog-amqp-broker.png') });
    await editor.closeTray('node-config-dialog-ok');
    await editor.closeTray('node-dialog-ok');
    const dirty = await page.evaluate(() => RED.nodes.dirty());
    assert.equal(dirty, false, 'opening every node and pressing Done left the workspace with changes to deploy');
    assert.deepEqual(editor.takeErrors(), []);
  });

  it('trying one example (an inject, a log record posted to its log hook) prints nothing on another example tab', async function () {
    this.timeout(240000);
    const tried = [];
    for (const tab of tabs) {
      const own = flows.filter((n) => n.z === tab.id);
      const inputs = [
        ...own
          .filter((n) => n.type === 'inject')
          .map((n) => ({
            what: `inject "${n.name}"`,
            go: () => editor.nodeElement(n.id).locator('.red-ui-flow-node-button').click(),
          })),
        // A Delivery record: the consume example, which reads what the webhook example publishes, acks it silently.
        ...own
          .filter((n) => n.type === 'kumo-log-hook')
          .map((n) => ({
            what: `a log record POSTed to ${n.path}`,
            go: async () => {
              const res = await fetch(`${nodeRed.url.replace(/\/$/, '')}${n.path}`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(LOG_RECORD),
              });
              const answer = await res.text();
              assert.equal(res.status, 200, `${tab.label}: POST ${n.path} answered ${res.status} ${answer}`);
            },
          })),
      ];
      assert.ok(inputs.length > 0, `${tab.label} has no inject node and no log hook: nothing to try it with`);
      await showTab(tab.id);
      for (const input of inputs) {
        await page.evaluate(() => {
          window.kumoDebug.length = 0;
        });
        await input.go();
        await page.waitForFunction((z) => window.kumoDebug.some((m) => m.z === z), tab.id, { timeout: 20000 });
        // A leak would come through the broker a moment later: watch the other tabs for a while.
        await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
        const elsewhere = await page.evaluate(
          (z) => window.kumoDebug.filter((m) => m.z !== z).map((m) => `${m.name} (${m.z})`),
          tab.id,
        );
        assert.deepEqual(elsewhere, [], `${input.what} on ${tab.label} printed on another tab`);
      }
      await page.click('#red-ui-tab-debug-link-button');
      await editor.closeNotifications();
      await page.screenshot({ path: path.join(SCREENSHOTS, `together-${tab.label}-injected.png`) });
      tried.push(tab.label);
    }
    // Each example was tried: none was passed over for want of a way to try it.
    assert.deepEqual(
      tried,
      tabs.map((t) => t.label),
    );
  });

  it('a custom protocol fresh from the palette takes a free event name, valid through open + Done', async function () {
    const amqpTab = tabs.find((t) => t.label === 'amqp-log-events');
    await showTab(amqpTab.id);
    const id = await editor.dragFromPalette('kumo-custom-protocol', 'custom protocol', { x: 900, y: 520 });
    const fresh = await page.evaluate((nodeId) => RED.nodes.node(nodeId).eventName, id);
    assert.equal(fresh, 'make.amqp2');
    await editor.openNode(id);
    await editor.closeTray('node-dialog-ok');
    const v = await editor.nodeValidity(id);
    assert.ok(v.valid && !v.triangle, `the fresh custom protocol is invalid: ${v.errors.join('; ')}`);
  });

  it('every pack node fresh from the palette stays valid through open + Done; amqp publish and consume take the one broker', async function () {
    // A flow of its own, removed at the end: the examples stay as npm start loads them.
    const flow = await page.evaluate(() => RED.workspaces.add().id);
    await showTab(flow);
    const broker = brokers[0].id;
    const problems = [];
    try {
      for (const [i, [type, label]] of PALETTE.entries()) {
        const id = await editor.dragFromPalette(type, label, { x: 160 + (i % 2) * 260, y: 60 + i * 70 });
        await editor.openNode(id);
        await editor.closeTray('node-dialog-ok');
        const v = await editor.nodeValidity(id);
        if (!v.valid || v.triangle) problems.push(`${label}: invalid after open + Done: ${v.errors.join('; ')}`);
        if (type === 'amqp-publish' || type === 'amqp-consume') {
          const chosen = await page.evaluate((nodeId) => RED.nodes.node(nodeId).broker, id);
          if (chosen !== broker) problems.push(`${label}: broker ${JSON.stringify(chosen)}, not the one there is`);
        }
      }
      assert.deepEqual(problems, []);
      assert.deepEqual(editor.takeErrors(), []);
    } finally {
      await page.evaluate((z) => RED.workspaces.delete(RED.nodes.workspace(z)), flow);
    }
  });

  it("amqp-log-events' log record inject: the log record names the record's sender and recipient", async function () {
    const tab = tabs.find((t) => t.label === 'amqp-log-events');
    const inject = flows.find((n) => n.z === tab.id && n.type === 'inject' && /log record/.test(n.name));
    const logRecords = flows.find((n) => n.z === tab.id && n.type === 'debug' && n.name === 'log records');
    const posted = JSON.parse(inject.payload);
    await showTab(tab.id);
    await page.evaluate(() => {
      window.kumoDebug.length = 0;
    });
    await editor.nodeElement(inject.id).locator('.red-ui-flow-node-button').click();
    await page.waitForFunction((id) => window.kumoDebug.some((m) => m.id === id), logRecords.id, { timeout: 20000 });
    const records = await page.evaluate(
      (id) => window.kumoDebug.filter((m) => m.id === id).map((m) => JSON.parse(m.msg)),
      logRecords.id,
    );
    assert.deepEqual(
      records.map((r) => ({ type: r.type, sender: r.sender, recipient: r.recipient })),
      [{ type: 'Delivery', sender: posted.sender, recipient: posted.recipient }],
    );
  });

  it('amqp-log-events imported again on top (Import copy): every pack node stays valid, and Deploy deploys', async function () {
    const before = await page.evaluate(() => RED.nodes.getWorkspaceOrder());
    // What Import > Examples > amqp-log-events, then "Import copy", imports: the example, its broker
    // as npm start loaded it (the same node, so it is reused, not copied).
    const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'amqp-log-events.json'), 'utf8')).map((n) =>
      n.type === 'amqp-broker' ? brokers.find((b) => b.id === n.id) : n,
    );
    await page.evaluate((nodes) => RED.view.importNodes(nodes, { generateIds: true, addFlow: true }), example);
    if (await page.evaluate(() => RED.view.state() === RED.state.IMPORT_DRAGGING)) {
      const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
      await page.mouse.move(chart.x + 200, chart.y + 100);
      await page.mouse.click(chart.x + 220, chart.y + 120);
      await page.waitForFunction(() => RED.view.state() === RED.state.DEFAULT);
    }
    const copy = await page.evaluate(
      (known) => RED.nodes.getWorkspaceOrder().filter((z) => !known.includes(z)),
      before,
    );
    assert.equal(copy.length, 1, 'the import opened no new flow');
    const invalid = [];
    for (const z of [...before, copy[0]]) {
      await showTab(z);
      for (const n of await packNodes(z)) {
        const v = await editor.nodeValidity(n.id);
        if (!v.valid || v.triangle)
          invalid.push(`${n.label} (${n.type}) on ${z}: ${v.errors.join('; ') || 'a red triangle'}`);
      }
    }
    assert.deepEqual(invalid, [], 'pack nodes invalid after the import');
    const seen = await page.evaluate(() => {
      const events = [];
      RED.nodes.eachNode((n) => {
        if (n.type === 'kumo-custom-protocol') events.push(n.eventName);
      });
      const brokerIds = [];
      RED.nodes.eachConfig((n) => {
        if (n.type === 'amqp-broker') brokerIds.push(n.id);
      });
      return { events, brokerIds };
    });
    assert.equal(new Set(seen.events).size, seen.events.length, `event names: ${seen.events.join(', ')}`);
    assert.deepEqual(seen.brokerIds, [brokers[0].id]);
    // Fails on "The workspace contains some nodes that are not properly configured".
    await editor.deploy();
  });

  it("a disabled flow's amqp publish and consume nodes show no status once deployed", async function () {
    const tab = tabs.find((t) => t.label === 'consume-log-events');
    const amqp = flows.filter((n) => n.z === tab.id && (n.type === 'amqp-publish' || n.type === 'amqp-consume'));
    assert.ok(amqp.some((n) => n.type === 'amqp-consume') && amqp.some((n) => n.type === 'amqp-publish'));
    await showTab(tab.id);
    for (const n of amqp) {
      const ok = await editor.waitForStatus(n.id, /^connected$/, 'green', 20000);
      assert.ok(
        ok,
        `"${n.name}" is not connected before its flow is disabled: ${JSON.stringify(await editor.status(n.id))}`,
      );
    }
    const deployed = async () => {
      await editor.deploy();
      await page.waitForFunction(() => window.kumoDeployed.includes(RED.nodes.version()));
    };
    await page.evaluate((z) => RED.workspaces.disable(z), tab.id);
    try {
      await deployed();
      const left = [];
      for (const n of amqp) {
        const shown = await page.evaluate((id) => {
          const node = RED.nodes.node(id);
          const g = document.querySelector(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
          // Node-RED hides the dot of a cleared status but leaves its colour class on it.
          const dot = g?.querySelector('.red-ui-flow-node-status');
          return {
            held: node.status || {},
            dot: !!dot && dot.checkVisibility(),
            text: g?.querySelector('.red-ui-flow-node-status-label')?.textContent || '',
          };
        }, n.id);
        if (shown.held.text || shown.held.fill || shown.dot || shown.text)
          left.push(`"${n.name}" shows ${JSON.stringify(shown)}`);
      }
      assert.deepEqual(left, [], 'statuses left on the nodes of a disabled flow');
    } finally {
      await page.evaluate((z) => RED.workspaces.enable(z), tab.id);
      await deployed();
    }
  });
});
