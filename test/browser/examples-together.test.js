'use strict';
// Every example at once, as `npm start` loads them (scripts/start.js exampleFlows: a tab each, the
// shared broker config node once), in Debian's headless Chromium, as a newcomer meets them: one
// broker, every pack node valid as shipped and after open + Done (nothing changed by it), no red
// status and every status short, and trying one example (its injects; a log record posted to its log
// hook) prints nothing on another example's tab, every example tried. A custom protocol fresh from the palette takes a free event name. Screenshots of each
// example and each dialog go to test-results/screenshots/together-*.png. Needs AMQP_URL.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { startNodeRed } = require('../helpers/node-red-process');
const { Editor, watchErrors, CHROMIUM_ARGS } = require('./support/editor');
const { BROKER_URL, CREDENTIALS, SideChannel } = require('../helpers/amqp');
const { exampleFlows, editorSettings } = require('../../scripts/start');
const { deliveryRecord } = require('../helpers/log-records');

const ROOT = path.resolve(__dirname, '..', '..');
const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');
const PACK_TYPES = /^(amqp-|kumo-)/;
// What a status under a node may take: about the width of two nodes side by side.
const STATUS_MAX = 40;
// After an inject's own flow has printed, how long another tab is watched for anything it prints.
const QUIET_MS = 1500;
// What KumoMTA's log hook posts: one log record, for an example fed over HTTP.
const LOG_RECORD = deliveryRecord({ id: '2d98076abbbc11ed940250ebf67f93bd' });

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
      RED.comms.subscribe('debug', (_topic, msg) => window.kumoDebug.push({ z: msg.z, name: msg.name || msg.id }));
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
});
