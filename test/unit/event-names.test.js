'use strict';

const assert = require('node:assert/strict');
const { PREDEFINED_EVENTS, validateEventName, EventNameError } = require('../../nodes/lib/core/kumo/event-names');

function throwsEventNameError(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof EventNameError, `expected EventNameError, got ${err?.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('custom protocol event names: free names are accepted', function () {
  it("accepts the seed document's make.amqp", function () {
    assert.equal(validateEventName('make.amqp'), 'make.amqp');
  });

  it('accepts a log hook constructor name', function () {
    assert.equal(validateEventName('make.webhook.log_hook'), 'make.webhook.log_hook');
  });

  it('trims surrounding whitespace', function () {
    assert.equal(validateEventName('  make.amqp\t'), 'make.amqp');
  });

  it('is case-sensitive, as KumoMTA event names are', function () {
    assert.equal(validateEventName('Init'), 'Init');
  });
});

describe('custom protocol event names: a predefined KumoMTA event is refused', function () {
  it('lists the events of the reference, older names included', function () {
    for (const name of [
      'get_queue_config',
      'init',
      'pre_init',
      'smtp_server_message_received',
      'smtp_server_ehlo',
      'smtp_server_mail_from',
      'smtp_server_rcpt_to',
      'smtp_server_mail_rcpt_to',
      'smtp_server_data',
      'smtp_server_auth_plain',
      'should_enqueue_log_record',
      'get_egress_pool',
      'get_egress_source',
      'get_egress_path_config',
      'http_message_generated',
      'get_listener_domain',
      'requeue_message',
      'message_requeued',
      'throttle_insert_ready_queue',
      'smtp_client_rewrite_delivery_status',
    ]) {
      assert.ok(PREDEFINED_EVENTS.includes(name), `${name} should be predefined`);
    }
    assert.ok(!PREDEFINED_EVENTS.includes('make.amqp'));
  });

  it('cannot be changed by a caller', function () {
    assert.ok(Object.isFrozen(PREDEFINED_EVENTS));
  });

  it('names the collision and suggests another name', function () {
    throwsEventNameError(
      () => validateEventName('get_queue_config'),
      /^"get_queue_config" is a predefined KumoMTA event; choose another name such as make\.amqp$/,
    );
  });

  it('refuses every predefined event, even with surrounding spaces', function () {
    for (const name of PREDEFINED_EVENTS) {
      throwsEventNameError(() => validateEventName(` ${name} `), /is a predefined KumoMTA event/);
    }
  });
});

describe('custom protocol event names: malformed names are refused', function () {
  it('refuses an empty or blank name', function () {
    throwsEventNameError(() => validateEventName(''), /event name is empty/);
    throwsEventNameError(() => validateEventName('   '), /event name is empty/);
  });

  it('refuses a name that is not a string', function () {
    throwsEventNameError(() => validateEventName(undefined), /must be a string such as make\.amqp, got undefined/);
    throwsEventNameError(() => validateEventName(null), /got null/);
    throwsEventNameError(() => validateEventName(7), /got number/);
    throwsEventNameError(() => validateEventName(['make.amqp']), /got an array/);
  });

  it('refuses whitespace or control characters inside the name', function () {
    throwsEventNameError(
      () => validateEventName('make amqp'),
      /"make amqp" contains whitespace or a control character/,
    );
    throwsEventNameError(() => validateEventName('make.\u0007amqp'), /contains whitespace or a control character/);
  });
});
