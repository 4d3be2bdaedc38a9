'use strict';

const assert = require('node:assert/strict');
const { Fifo } = require('../../nodes/lib/core/base/fifo');

describe('fifo: first in, first out', function () {
  it('gives items back in the order they were pushed', function () {
    const fifo = new Fifo();
    for (const item of ['a', 'b', 'c']) fifo.push(item);
    assert.equal(fifo.shift(), 'a');
    fifo.push('d');
    assert.deepEqual([fifo.shift(), fifo.shift(), fifo.shift()], ['b', 'c', 'd']);
  });

  it('peek shows the oldest item without removing it', function () {
    const fifo = new Fifo();
    fifo.push(1);
    fifo.push(2);
    assert.equal(fifo.peek(), 1);
    assert.equal(fifo.peek(), 1);
    assert.equal(fifo.length, 2);
  });

  it('counts the items it holds', function () {
    const fifo = new Fifo();
    assert.equal(fifo.length, 0);
    fifo.push('a');
    fifo.push('b');
    assert.equal(fifo.length, 2);
    fifo.shift();
    assert.equal(fifo.length, 1);
  });
});

describe('fifo: an empty queue', function () {
  it('peeks and shifts undefined, and its length stays 0', function () {
    const fifo = new Fifo();
    assert.equal(fifo.peek(), undefined);
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.length, 0);
  });

  it('stays usable after being emptied by shift', function () {
    const fifo = new Fifo();
    fifo.push('a');
    fifo.shift();
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.length, 0);
    fifo.push('b');
    assert.equal(fifo.peek(), 'b');
    assert.equal(fifo.length, 1);
  });
});

describe('fifo: drain', function () {
  it('removes and returns everything left, oldest first', function () {
    const fifo = new Fifo();
    for (let i = 0; i < 5; i++) fifo.push(i);
    fifo.shift();
    assert.deepEqual(fifo.drain(), [1, 2, 3, 4]);
    assert.equal(fifo.length, 0);
    assert.equal(fifo.peek(), undefined);
    assert.deepEqual(fifo.drain(), []);
  });

  it('leaves the queue usable afterwards', function () {
    const fifo = new Fifo();
    fifo.push('old');
    fifo.drain();
    fifo.push('new');
    assert.equal(fifo.shift(), 'new');
  });
});

describe('fifo: thousands of messages through a slow broker', function () {
  it('keeps order and length across 100 000 push/shift cycles while it compacts', function () {
    const fifo = new Fifo();
    let pushed = 0;
    let shifted = 0;
    // A backlog of 3000 that grows and shrinks, so compaction happens with live items behind the head.
    for (; pushed < 3000; pushed++) fifo.push(pushed);
    for (let cycle = 0; cycle < 100000; cycle++) {
      fifo.push(pushed++);
      if (cycle % 7 !== 0) fifo.push(pushed++);
      assert.equal(fifo.shift(), shifted++);
      if (cycle % 3 === 0) assert.equal(fifo.shift(), shifted++);
      if (fifo.length !== pushed - shifted)
        assert.fail(`length ${fifo.length} after cycle ${cycle}, expected ${pushed - shifted}`);
    }
    assert.equal(fifo.peek(), shifted);
    const rest = fifo.drain();
    assert.equal(rest.length, pushed - shifted);
    assert.ok(
      rest.every((item, i) => item === shifted + i),
      'drained items out of order',
    );
  });

  it('can be emptied completely many times over and refilled', function () {
    const fifo = new Fifo();
    let next = 0;
    for (let round = 0; round < 50; round++) {
      const start = next;
      for (let i = 0; i < 2500; i++) fifo.push(next++);
      for (let i = start; i < next; i++) assert.equal(fifo.shift(), i);
      assert.equal(fifo.length, 0);
      assert.equal(fifo.shift(), undefined);
    }
  });
});
