'use strict';
// npm test counts from mocha's own results (scripts/test.js's countMocha with the reporter
// scripts/mocha-counts.js), run here on fixture suites kept outside the normal run
// (test/fixtures/runner/*.fixture.js).

const assert = require('node:assert');
const { stripVTControlCharacters } = require('node:util');
const { countMocha, summary } = require('../../scripts/test.js');

const FIXTURES = 'test/fixtures/runner';

const counts = ({ passes, failures, pending, tests }) => ({ passes, failures, pending, tests });
// Mocha colours its output where it thinks a terminal or a CI log reads it (CI=true does): read the text.
const plain = (text) => stripVTControlCharacters(text);

describe("npm test's counts", () => {
  it('are 5 passed and 1 failed when the failure prints a diff of two 10 000-line strings', async () => {
    const result = await countMocha([`${FIXTURES}/five-pass-one-fail.fixture.js`], { stdio: 'pipe' });
    assert.deepStrictEqual(counts(result), { passes: 5, failures: 1, pending: 0, tests: 6 }, result.output);
    assert.strictEqual(result.note, null);
    assert.notStrictEqual(result.code, 0);
    // The reporter is mocha's spec reporter: its output reads as it always did.
    const output = plain(result.output);
    assert.match(output, /✔ passes 5\n/);
    assert.match(output, /^ {2}5 passing \(/m);
    assert.match(output, /^ {2}1 failing$/m);
    assert.match(output, /line 50 changed/);
  });

  it('name each failed test with the gist of its error, in lines of the summary', async () => {
    const result = await countMocha([`${FIXTURES}/five-pass-one-fail.fixture.js`], { stdio: 'pipe' });
    assert.strictEqual(result.failed.length, 1, result.output);
    const [{ title, error }] = result.failed;
    assert.match(title, /\S/);
    assert.ok(error.length <= 400, `the gist is ${error.length} characters`);
    const { text } = summary([{ label: 'Node-RED 4', ...result }], null);
    const lines = text.split('\n');
    assert.strictEqual(lines[0], `tests: Node-RED 4 failed: ${title}: ${error}`);
    assert.strictEqual(lines.at(-2), 'tests: 5 passed, 1 failed');
  });

  it("are 2 passed and 1 failed when a failure's message quotes another run's summary", async () => {
    const result = await countMocha([`${FIXTURES}/quotes-a-summary.fixture.js`], { stdio: 'pipe' });
    assert.deepStrictEqual(counts(result), { passes: 2, failures: 1, pending: 0, tests: 3 }, result.output);
    assert.match(plain(result.output), /^ {2}40 passing \(1s\)$/m);
  });

  it('are 0 passed and 1 failed, saying so, when a file throws at load', async () => {
    const result = await countMocha([`${FIXTURES}/throws-at-load.fixture.js`], { stdio: 'pipe' });
    assert.deepStrictEqual(counts(result), { passes: 0, failures: 1, pending: 0, tests: 0 }, result.output);
    assert.match(result.note, /did not load/);
    assert.match(plain(result.output), /this fixture throws at load/);
  });

  it('are one line per Node-RED version and a total line', () => {
    const stages = [
      { label: 'Node-RED 4', passes: 850, failures: 0, pending: 0, note: null },
      {
        label: 'Node-RED 5',
        passes: 399,
        failures: 1,
        pending: 0,
        note: 'mocha ended with code 1 with no test failing',
      },
    ];
    assert.deepStrictEqual(summary(stages, null), {
      text:
        'tests: Node-RED 4: 850 passed, 0 failed; ' +
        'Node-RED 5: 399 passed, 1 failed (mocha ended with code 1 with no test failing)\n' +
        'tests: 1249 passed, 1 failed\n',
      code: 1,
    });
    assert.deepStrictEqual(summary(stages.slice(0, 1), null), {
      text: 'tests: Node-RED 4: 850 passed, 0 failed\ntests: 850 passed, 0 failed\n',
      code: 0,
    });
  });

  it('fail the run on a pending test', () => {
    const { text, code } = summary([{ label: 'Node-RED 4', passes: 3, failures: 0, pending: 1, note: null }], null);
    assert.strictEqual(text.split('\n')[1], 'tests: 3 passed, 0 failed, 1 pending (a pending test fails the run)');
    assert.strictEqual(code, 1);
  });

  it('end with a summary line when lint or the build fails', () => {
    assert.deepStrictEqual(summary([], 'lint failed'), { text: 'tests: 0 passed, 1 failed (lint failed)\n', code: 1 });
    assert.deepStrictEqual(summary([], 'build failed'), {
      text: 'tests: 0 passed, 1 failed (build failed)\n',
      code: 1,
    });
  });
});
