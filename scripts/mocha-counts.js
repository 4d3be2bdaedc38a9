'use strict';
// mocha's spec reporter (the output reads the same) that also writes the run's own counts,
// {passes, failures, pending, tests, failed} as JSON, to the file KUMO_TEST_COUNTS names when the
// run ends; `failed` names each failing test with the first lines of its error, so the run's last
// lines say what failed even when a second stage's output follows the first's. scripts/test.js counts from that file instead of reading mocha's text, which a
// long failure diff or a test's own output can make say something else.
//   mocha --reporter scripts/mocha-counts.js ...

const fs = require('node:fs');
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;

/** The first lines of an error's message: enough to tell one failure from another. */
function gist(err) {
  const text = String((err && (err.message || err)) ?? 'no error given');
  return text.split('\n').slice(0, 3).join(' / ').slice(0, 400);
}

class MochaCounts extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const file = process.env.KUMO_TEST_COUNTS;
    if (!file) return;
    const failed = [];
    runner.on(EVENT_TEST_FAIL, (test, err) => failed.push({ title: test.fullTitle(), error: gist(err) }));
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending, tests } = this.stats;
      // Written synchronously: mocha's --exit ends the process right after this event.
      fs.writeFileSync(file, JSON.stringify({ passes, failures, pending, tests, failed }));
    });
  }
}

module.exports = MochaCounts;
