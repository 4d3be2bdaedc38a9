'use strict';

const assert = require('node:assert/strict');
const {
  bindProtocol,
  unbindProtocol,
  protocolFor,
  BindingError,
} = require('../../nodes/lib/core/kumo/protocol-bindings');

function handler(ownerLabel) {
  return { ownerLabel, accept() {} };
}

// The bindings are module-level, like link nodes across flows: every test
// unbinds what it bound so the next one starts from nothing.
describe('protocol bindings: a custom protocol node binds its event name', function () {
  const bound = [];
  function bind(name, h) {
    bindProtocol(name, h);
    bound.push([name, h]);
  }
  afterEach(function () {
    const names = bound.map(([name]) => name);
    for (const [name, h] of bound.splice(0)) unbindProtocol(name, h);
    for (const name of names) assert.equal(protocolFor(name), undefined, `a test left ${name} bound`);
  });

  it('finds the handler bound to a name', function () {
    const amqp = handler('node-1');
    bind('make.amqp', amqp);
    assert.equal(protocolFor('make.amqp'), amqp);
  });

  it('finds nothing for a name nobody bound', function () {
    bind('make.amqp', handler('node-1'));
    assert.equal(protocolFor('make.webhook'), undefined);
  });

  it('refuses a second node for the same name, naming the node that owns it by its label', function () {
    const first = handler('amqp relay');
    bind('make.amqp', first);
    assert.throws(
      () => bindProtocol('make.amqp', handler('node-2')),
      (err) => {
        assert.ok(err instanceof BindingError, `expected BindingError, got ${err?.name}`);
        assert.equal(
          err.message,
          'event name "make.amqp" is already bound to custom protocol node "amqp relay"; each constructor name may be bound once',
        );
        return true;
      },
    );
    assert.equal(protocolFor('make.amqp'), first);
  });

  it('lets the same handler bind its name again', function () {
    const amqp = handler('node-1');
    bind('make.amqp', amqp);
    bindProtocol('make.amqp', amqp);
    assert.equal(protocolFor('make.amqp'), amqp);
    // Bound once, not twice: one unbind frees the name.
    unbindProtocol('make.amqp', amqp);
    assert.equal(protocolFor('make.amqp'), undefined);
  });

  it('lets one handler bind several names', function () {
    const amqp = handler('node-1');
    bind('make.amqp', amqp);
    bind('make.rabbit', amqp);
    assert.equal(protocolFor('make.rabbit'), amqp);
  });
});

describe('protocol bindings: only the owner unbinds a name', function () {
  it('ignores an unbind by another handler', function () {
    const owner = handler('node-1');
    bindProtocol('make.amqp', owner);
    try {
      unbindProtocol('make.amqp', handler('node-2'));
      assert.equal(protocolFor('make.amqp'), owner);
    } finally {
      unbindProtocol('make.amqp', owner);
    }
    assert.equal(protocolFor('make.amqp'), undefined);
  });

  it('frees the name for another node once the owner unbinds', function () {
    const first = handler('node-1');
    const second = handler('node-2');
    bindProtocol('make.amqp', first);
    unbindProtocol('make.amqp', first);
    bindProtocol('make.amqp', second);
    try {
      assert.equal(protocolFor('make.amqp'), second);
    } finally {
      unbindProtocol('make.amqp', second);
    }
  });

  it('does nothing when unbinding a name that is not bound', function () {
    unbindProtocol('make.nothing', handler('node-1'));
    assert.equal(protocolFor('make.nothing'), undefined);
  });
});

describe('protocol bindings: several names at once', function () {
  it('keeps each name bound to its own node until that node unbinds it', function () {
    const handlers = [
      ['make.webhook', handler('w')],
      ['make.amqp', handler('a')],
      ['make.kafka', handler('k')],
    ];
    for (const [name, h] of handlers) bindProtocol(name, h);
    try {
      for (const [name, h] of handlers) assert.equal(protocolFor(name), h, name);
    } finally {
      for (const [name, h] of handlers) unbindProtocol(name, h);
    }
    for (const [name] of handlers) assert.equal(protocolFor(name), undefined, name);
  });
});
