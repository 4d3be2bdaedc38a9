'use strict';
// mocha's spec reporter (the output reads the same) that also writes the run's own counts,
// {passes, failures, pending, tests} as JSON, to the file KUMO_TEST_COUNTS names when the
// run ends. scripts/test.js counts from that file instead of reading mocha's text, which a
// long failure diff or a test's own output can make say something else.
//   mocha --reporter scripts/mocha-counts.js ...

const fs = require('node:fs');
const Mocha = require('mocha');

const { EVENT_RUN_END } = Mocha.Runner.constants;

class MochaCounts extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const file = process.env.KUMO_TEST_COUNTS;
    if (!file) return;
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending, tests } = this.stats;
      // Written synchronously: mocha's --exit ends the process right after this event.
      fs.writeFileSync(file, JSON.stringify({ passes, failures, pending, tests }));
    });
  }
}

module.exports = MochaCounts;
