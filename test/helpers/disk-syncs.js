// @ts-check
'use strict';
// How often this process forced file data to disk (a FileHandle's sync or datasync): what
// the retry store promises about durability is made of those calls, so a test counts them
// where they happen, in Node's own file handles, without asking the store.

const fs = require('node:fs');

/**
 * Counts the FileHandle sync and datasync calls of this process from now until stop().
 * @returns {Promise<{ readonly count: number, stop(): void }>}
 */
async function countDiskSyncs() {
  const probe = await fs.promises.open(__filename, 'r');
  /** @type {{ sync: () => Promise<void>, datasync: () => Promise<void> }} */
  const prototype = Object.getPrototypeOf(probe);
  await probe.close();
  const { sync, datasync } = prototype;
  let count = 0;
  prototype.sync = function (...args) {
    count++;
    return sync.apply(this, args);
  };
  prototype.datasync = function (...args) {
    count++;
    return datasync.apply(this, args);
  };
  return {
    get count() {
      return count;
    },
    stop() {
      prototype.sync = sync;
      prototype.datasync = datasync;
    },
  };
}

module.exports = { countDiskSyncs };
