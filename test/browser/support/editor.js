// @ts-check
'use strict';
// The Node-RED editor driven as a user drives it: menus, the palette, double-clicks,
// the edit trays, Deploy. Each helper waits for what the user would wait for
// (a selector, a notification), never for a fixed time. Page state is read
// (RED.*) only to find an element or to name what went wrong.
// KUMO_BROWSER_CONSOLE=1 copies the browser's console to stderr, for debugging a failure.

const assert = require('node:assert/strict');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];
const UI_TIMEOUT = 15000;

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Locator} Locator */
/**
 * A node as the editor holds it.
 * @typedef {{ id: string, type: string, valid: boolean, d?: boolean, validationErrors?: string[] }} EditorNode
 */
/**
 * What the page-side functions below (they run in the editor's window, not in Node) use of
 * Node-RED's editor API and of the jQuery (with jQuery UI) it loads; each takes them from `window`.
 * @typedef {object} EditorRed
 * @property {{ close(): void }} tray
 * @property {{
 *   node(id: string): EditorNode | null,
 *   filterNodes(filter: { z: string }): EditorNode[],
 *   eachNode(fn: (node: EditorNode) => void): void,
 *   eachConfig(fn: (node: EditorNode) => void): void,
 *   getWorkspaceOrder(): string[],
 * }} nodes
 * @property {{ active(): string }} workspaces
 * @property {{ getNodeLabel(node: EditorNode, defaultLabel?: string): string }} utils
 * @property {{ state(): number }} view
 * @property {{ DEFAULT: number, IMPORT_DRAGGING: number }} state
 */
/**
 * @typedef {(selector: string) => {
 *   dialog(command: 'close'): unknown,
 *   val(value: string): { trigger(event: string): unknown },
 *   is(selector: string): boolean,
 * }} EditorJQuery
 */
/** @typedef {typeof window & { RED: EditorRed, $: EditorJQuery }} EditorWindow */

/**
 * A notification the editor showed: its text, kind, button labels and the element.
 * @typedef {{ text: string, kind: string, buttons: string[], locator: Locator }} Notification
 */

/**
 * Errors the user would see in the browser's console, plus failed requests.
 * @param {Page} page
 * @returns {string[]} the errors, added to as they happen
 */
function watchErrors(page) {
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (process.env.KUMO_BROWSER_CONSOLE) process.stderr.write(`[browser ${msg.type()}] ${msg.text()}\n`);
    // The editor reports a throwing label, port label or validate function of a node definition with console.log.
    if (msg.type() === 'error' || /Definition error|Validation error/.test(msg.text()))
      errors.push(`console error: ${msg.text()}${msg.location().url ? ` (${msg.location().url})` : ''}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  page.on('requestfailed', (req) => {
    // A navigation away (reload) cancels requests: that is not an error the user sees.
    const failure = req.failure();
    if (failure && failure.errorText !== 'net::ERR_ABORTED')
      errors.push(`request failed: ${req.url()} (${failure.errorText})`);
  });
  return errors;
}

class Editor {
  /**
   * @param {Page} page
   * @param {string[]} errors what watchErrors(page) collects
   */
  constructor(page, errors) {
    this.page = page;
    this.errors = errors;
  }

  /** @param {string} url the editor's */
  async open(url) {
    await this.page.goto(url);
    // The editor is usable once the palette has its core nodes and the loader is gone.
    await this.page.waitForSelector('.red-ui-palette-node[data-palette-type="inject"]', { timeout: 30000 });
    await this.page.waitForSelector('#red-ui-main-container', { state: 'visible' });
  }

  /**
   * After a failed step: closes what a failed test may have left open (edit trays, dialogs,
   * menus), so the next test starts from the workspace. Not a user action: cleanup only.
   */
  async reset() {
    await this.page.keyboard.press('Escape').catch(() => {});
    await this.page.evaluate(() => {
      const { RED, $ } = /** @type {EditorWindow} */ (window);
      $('.ui-dialog-content:visible').dialog('close');
      for (let i = 0; i < 5 && document.querySelector('.red-ui-tray'); i++) RED.tray.close();
      $('#red-ui-palette-search input').val('').trigger('change');
    });
    await this.page.waitForFunction(() => {
      const { $ } = /** @type {EditorWindow} */ (window);
      return !document.querySelector('.red-ui-tray') && $('#red-ui-header-shade').is(':hidden');
    });
    // An open menu closes on a click elsewhere: the header's title is a harmless place.
    if (await this.page.locator('#red-ui-header-button-sidemenu-submenu').isVisible()) {
      await this.page
        .locator('#red-ui-header .red-ui-header-logo')
        .click()
        .catch(() => {});
    }
  }

  /**
   * Takes the errors seen since the last call, leaving the list empty.
   * @returns {string[]}
   */
  takeErrors() {
    return this.errors.splice(0, this.errors.length);
  }

  /**
   * Menu > item, or Menu > submenu > item: menu('menu-item-workspace', 'menu-item-workspace-delete').
   * @param {...string} itemIds
   */
  async menu(...itemIds) {
    await this.page.click('#red-ui-header-button-sidemenu');
    const last = itemIds.pop();
    for (const id of itemIds) await this.page.hover(`#${id}`);
    await this.page.click(`#${last}`);
  }

  /**
   * Menu > Manage palette > Install > upload: the file input behind the upload button, then Upload.
   * @param {string} file the pack's tarball
   * @returns {Promise<Notification>} what the editor then said
   */
  async installTarball(file) {
    const page = this.page;
    await this.menu('menu-item-edit-palette');
    await page.locator('#red-ui-settings-tab-palette .red-ui-tab', { hasText: 'Install' }).click();
    await page.setInputFiles('.red-ui-palette-editor-upload-button input[type=file]', file);
    const upload = page.locator('.red-ui-palette-editor-upload .editor-button.primary', { hasText: 'Upload' });
    await upload.waitFor({ state: 'visible' });
    await this.markNotifications();
    await upload.click();
    const note = await this.nextNotification(120000);
    await this.closeTray('node-dialog-ok'); // the settings tray's Close
    return note;
  }

  /** Marks the notifications now on screen, so nextNotification() sees only new ones. */
  async markNotifications() {
    await this.page.evaluate(() =>
      document.querySelectorAll('.red-ui-notification').forEach((n) => {
        /** @type {HTMLElement} */ (n).dataset.seen = '1';
      }),
    );
  }

  /**
   * Text and kind (success, warning, error, confirm) of the next notification.
   * @param {number} [timeout] ms
   * @returns {Promise<Notification>}
   */
  async nextNotification(timeout = UI_TIMEOUT) {
    const el = this.page.locator('.red-ui-notification:not([data-seen])').first();
    await el.waitFor({ state: 'visible', timeout });
    const info = await el.evaluate((n) => {
      n.dataset.seen = '1';
      const kind =
        ['success', 'warning', 'error', 'compact'].find((k) => n.classList.contains(`red-ui-notification-${k}`)) ||
        'info';
      return {
        text: (n.textContent ?? '').trim(),
        kind,
        buttons: [...n.querySelectorAll('button')].map((b) => (b.textContent ?? '').trim()),
      };
    });
    return { ...info, locator: el };
  }

  /** Closes the notifications on screen that a click closes. */
  async closeNotifications() {
    // A click closes a Node-RED notification (those with buttons excepted); they would cover the header.
    const open = this.page.locator('.red-ui-notification:not(:has(button))');
    for (const n of await open.all()) {
      await n.click({ timeout: 2000 }).catch(() => {});
      await n.waitFor({ state: 'hidden', timeout: 3000 }).catch(() => {});
    }
  }

  /**
   * @param {string} type
   * @returns {Locator} the palette's entry for the node type
   */
  paletteNode(type) {
    return this.page.locator(`#red-ui-palette .red-ui-palette-node[data-palette-type="${type}"]`);
  }

  /**
   * Filters the palette for the node's label and drags it onto the workspace; returns the new node's id.
   * @param {string} type
   * @param {string} label what the palette shows
   * @param {{ x: number, y: number }} [position] in the workspace
   * @returns {Promise<string>}
   */
  async dragFromPalette(type, label, position) {
    const page = this.page;
    const search = page.locator('#red-ui-palette-search input');
    await search.fill(label);
    const source = this.paletteNode(type);
    await source.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {
      throw new Error(`the palette has no "${label}" node (${type}) to drag`);
    });
    const before = await page.evaluate(() => {
      const { RED } = /** @type {EditorWindow} */ (window);
      return RED.nodes.filterNodes({ z: RED.workspaces.active() }).map((n) => n.id);
    });
    await source.dragTo(page.locator('#red-ui-workspace-chart'), { targetPosition: position });
    await search.fill('');
    const id = await page.evaluate((known) => {
      const { RED } = /** @type {EditorWindow} */ (window);
      const added = RED.nodes.filterNodes({ z: RED.workspaces.active() }).filter((n) => !known.includes(n.id));
      return added.length === 1 ? added[0].id : null;
    }, before);
    assert.ok(id, `dragging "${label}" from the palette did not add one node to the flow`);
    await page.waitForSelector(`[id="${id}"].red-ui-flow-node-group`);
    return id;
  }

  /**
   * @param {string} id
   * @returns {Locator} the node drawn in the workspace
   */
  nodeElement(id) {
    return this.page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
  }

  /**
   * Double-clicks the node and waits for its edit tray.
   * @param {string} id
   */
  async openNode(id) {
    await this.nodeElement(id).locator('rect.red-ui-flow-node').first().dblclick();
    await this.page.waitForSelector('#node-dialog-ok', { state: 'visible' });
    await this.page.waitForSelector('#dialog-form', { state: 'visible' });
    await this.trayOpened();
  }

  /**
   * Waits until the top tray has slid fully in. Node-RED finishes opening a tray in
   * timers (its show callback, a config select's change 50 ms later) while it slides;
   * typing before then can race them.
   */
  async trayOpened() {
    await this.page.waitForFunction(() => {
      const top = /** @type {HTMLElement | undefined} */ ([...document.querySelectorAll('.red-ui-tray')].pop());
      return !!top && top.style.right === '0px' && getComputedStyle(top).right === '0px';
    });
  }

  /**
   * Clicks a tray's button (Done, Cancel, Update, Close; or the one labelled `text` in the tray that has it) and waits until that tray is gone.
   * @param {string} buttonId
   * @param {string} [text]
   */
  async closeTray(buttonId, text) {
    // Trays stack: a config node's tray takes its parent's place in the DOM, which comes back when it closes.
    const tray = await this.page.locator(`.red-ui-tray:has(#${buttonId})`).elementHandle();
    if (text)
      await this.page.locator(`.red-ui-tray:has(#${buttonId}) .red-ui-tray-toolbar button`, { hasText: text }).click();
    else await this.page.click(`#${buttonId}`);
    await this.page.waitForFunction((el) => !el.isConnected, tray);
    await tray.dispose();
    await this.page.waitForFunction(() => {
      const top = /** @type {HTMLElement | undefined} */ ([...document.querySelectorAll('.red-ui-tray')].pop());
      return !top || top.style.right === '0px';
    });
  }

  /**
   * The visible text input of a typedInput or a plain input.
   * @param {string} id the input's
   * @returns {{ typed: Locator, plain: Locator }}
   */
  field(id) {
    // typedInput turns the element into a hidden input and puts its own widget right after it.
    const typed = this.page.locator(`#${id} + .red-ui-typedInput-container input.red-ui-typedInput-input`);
    return { typed, plain: this.page.locator(`#${id}`) };
  }

  /**
   * Types `value` into the field, as the user would, until it holds it.
   * @param {string} id
   * @param {string} value
   */
  async fill(id, value) {
    const { typed, plain } = this.field(id);
    const target = (await typed.count()) ? typed : plain;
    // Playwright fills by selecting the text and typing over it; an editor timer that
    // resets the input in between leaves the old text, so check and fill again.
    for (let attempt = 1; ; attempt++) {
      await target.fill(value);
      await target.dispatchEvent('change');
      const now = await target.inputValue();
      if (now === value) return;
      if (attempt === 3)
        throw new Error(
          `#${id} holds ${JSON.stringify(now)} after filling it with ${JSON.stringify(value)} three times`,
        );
    }
  }

  /**
   * Whether Node-RED marks the field as invalid (input-error on it or on its typedInput).
   * @param {string} id
   * @returns {Promise<boolean | null>} null: no such field
   */
  async fieldInvalid(id) {
    return this.page.evaluate((fieldId) => {
      const el = document.getElementById(fieldId);
      if (!el) return null;
      const typed = el.nextElementSibling?.classList.contains('red-ui-typedInput-container')
        ? el.nextElementSibling
        : null;
      return el.classList.contains('input-error') || !!typed?.classList.contains('input-error');
    }, id);
  }

  /**
   * Node-RED's red triangle on the node, and the problems its tooltip lists.
   * @param {string} id
   * @returns {Promise<{ triangle: boolean, errors: string[], valid: boolean | null }>}
   */
  async nodeValidity(id) {
    return this.page.evaluate((nodeId) => {
      const { RED } = /** @type {EditorWindow} */ (window);
      const g = document.querySelector(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${nodeId}"]`);
      const badge = /** @type {SVGGraphicsElement | null | undefined} */ (g?.querySelector('.red-ui-flow-node-error'));
      const visible = !!badge && getComputedStyle(badge).display !== 'none' && badge.getBBox().width > 0;
      const node = RED.nodes.node(nodeId);
      return { triangle: visible, errors: node?.validationErrors || [], valid: node ? node.valid : null };
    }, id);
  }

  /**
   * Text and colour of the status shown under a node.
   * @param {string} id
   * @returns {Promise<{ text: string | null, fill: string, shape?: string }>}
   */
  async status(id) {
    return this.page.evaluate((nodeId) => {
      const g = document.querySelector(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${nodeId}"]`);
      if (!g) return { text: '(node not drawn)', fill: '' };
      const label = g.querySelector('.red-ui-flow-node-status-label');
      const shape = g.querySelector('rect.red-ui-flow-node-status');
      const cls = shape ? shape.getAttribute('class') || '' : '';
      const m = /red-ui-flow-node-status-(dot|ring)-(\w+)/.exec(cls);
      return { text: label ? label.textContent : '', fill: m ? m[2] : '', shape: m ? m[1] : '' };
    }, id);
  }

  /**
   * Waits until the status under the node reads `text` (a RegExp) with a dot or ring of colour `fill`.
   * @param {string} id
   * @param {RegExp} text
   * @param {string} fill
   * @param {number} [timeout] ms
   * @returns {Promise<boolean>} false: not within the timeout
   */
  async waitForStatus(id, text, fill, timeout) {
    try {
      await this.page.waitForFunction(
        ({ nodeId, source, flags, colour }) => {
          const g = document.querySelector(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${nodeId}"]`);
          const label = g?.querySelector('.red-ui-flow-node-status-label');
          const shape = g?.querySelector('rect.red-ui-flow-node-status');
          const cls = shape?.getAttribute('class') || '';
          return (
            !!label &&
            new RegExp(source, flags).test(label.textContent ?? '') &&
            new RegExp(`-(dot|ring)-${colour}\\b`).test(cls)
          );
        },
        { nodeId: id, source: text.source, flags: text.flags, colour: fill },
        { timeout },
      );
      return true;
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') return false;
      throw err;
    }
  }

  /**
   * Clicks Deploy; resolves with the notification the user then sees.
   * @returns {Promise<Notification>}
   */
  async deploy() {
    await this.markNotifications();
    await this.page.click('#red-ui-header-button-deploy');
    const note = await this.nextNotification(30000);
    if (note.buttons.length) {
      // "The workspace contains some nodes that are not properly configured…": the user would cancel and fix them.
      const invalid = await this.page.evaluate(() => {
        const { RED } = /** @type {EditorWindow} */ (window);
        /** @type {string[]} */
        const out = [];
        RED.nodes.eachNode((n) => {
          if (!n.valid && !n.d)
            out.push(`${RED.utils.getNodeLabel(n, n.type)}: ${(n.validationErrors || []).join('; ')}`);
        });
        RED.nodes.eachConfig((n) => {
          if (!n.valid && !n.d)
            out.push(`${RED.utils.getNodeLabel(n, n.type)}: ${(n.validationErrors || []).join('; ')}`);
        });
        return out;
      });
      await note.locator
        .locator('button', { hasText: 'Cancel' })
        .click()
        .catch(() => {});
      assert.fail(
        `Deploy asked "${note.text.replace(/\s+/g, ' ')}" instead of deploying; invalid nodes: ${invalid.join(' | ') || '(none listed)'}`,
      );
    }
    assert.match(
      note.text,
      /Successfully deployed/,
      `Deploy showed "${note.text}" (${note.kind}) instead of "Successfully deployed"`,
    );
    return note;
  }

  /**
   * Menu > Import > Examples > module > example, into a new flow.
   * @param {string} moduleName
   * @param {string} exampleName
   * @returns {Promise<string>} the new flow's id
   */
  async importExample(moduleName, exampleName) {
    const page = this.page;
    await this.menu('menu-item-import');
    await page.waitForSelector('#red-ui-clipboard-dialog-import-tabs', { state: 'visible' });
    // A click that lands while the dialog is still opening can be lost: the user would click again.
    const tabContent = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    for (let attempt = 0; attempt < 3 && !(await tabContent.isVisible()); attempt++) {
      await page.locator('#red-ui-clipboard-dialog-import-tabs .red-ui-tab', { hasText: 'Examples' }).click();
      await tabContent.waitFor({ state: 'visible', timeout: 2000 }).catch(() => {});
    }
    const tree = tabContent;
    const moduleLabel = tree.locator('.red-ui-treeList-label', { hasText: moduleName }).first();
    await moduleLabel.waitFor({ state: 'visible' }).catch(() => {
      throw new Error(`Import > Examples lists no "${moduleName}" (the installed pack's examples are missing)`);
    });
    await moduleLabel.click();
    const example = tree
      .locator('.red-ui-treeList-label', {
        has: page.locator('.red-ui-treeList-label-text', { hasText: new RegExp(`^${escapeRegExp(exampleName)}$`) }),
      })
      .first();
    await example.waitFor({ state: 'visible' }).catch(() => {
      throw new Error(`Import > Examples > ${moduleName} does not list "${exampleName}"`);
    });
    await example.click();
    await page.click('#red-ui-clipboard-dialog-import-opt-new');
    const tabsBefore = await page.evaluate(
      () => /** @type {EditorWindow} */ (window).RED.nodes.getWorkspaceOrder().length,
    );
    await this.markNotifications();
    await page.click('#red-ui-clipboard-dialog-ok');
    // Either the new flow opens, or the editor says why not (e.g. "Some of the nodes you are importing already exist").
    const imported = await page
      .waitForFunction(
        (n) => {
          const { RED, $ } = /** @type {EditorWindow} */ (window);
          return (
            RED.nodes.getWorkspaceOrder().length > n ||
            [...document.querySelectorAll('.red-ui-notification:not([data-seen])')].some(
              (el) => /** @type {HTMLElement} */ (el).offsetParent !== null,
            ) ||
            $('#red-ui-clipboard-dialog-import-conflict').is(':visible')
          );
        },
        tabsBefore,
        { timeout: UI_TIMEOUT },
      )
      .then(
        () =>
          page.evaluate(
            (n) => /** @type {EditorWindow} */ (window).RED.nodes.getWorkspaceOrder().length > n,
            tabsBefore,
          ),
        () => false,
      );
    if (!imported) {
      const said = (
        await page.locator('.red-ui-notification:not([data-seen]):visible, .ui-dialog:visible').allInnerTexts()
      )
        .join(' / ')
        .replace(/\s+/g, ' ');
      throw new Error(`importing "${exampleName}" opened no new flow tab${said ? `; the editor says: ${said}` : ''}`);
    }
    // Imported nodes follow the mouse until the user clicks where they go.
    if (
      await page.evaluate(() => {
        const { RED } = /** @type {EditorWindow} */ (window);
        return RED.view.state() === RED.state.IMPORT_DRAGGING;
      })
    ) {
      const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
      assert.ok(chart, 'the workspace is not shown, so the imported nodes cannot be placed');
      await page.mouse.move(chart.x + 200, chart.y + 100);
      await page.mouse.move(chart.x + 220, chart.y + 120, { steps: 3 });
      await page.mouse.click(chart.x + 220, chart.y + 120);
      await page.waitForFunction(() => {
        const { RED } = /** @type {EditorWindow} */ (window);
        return RED.view.state() === RED.state.DEFAULT;
      });
    }
    return page.evaluate(() => /** @type {EditorWindow} */ (window).RED.workspaces.active());
  }
}

/**
 * @param {string} s
 * @returns {string} `s` matched literally in a RegExp
 */
function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

module.exports = { Editor, watchErrors, CHROMIUM_ARGS, UI_TIMEOUT };
