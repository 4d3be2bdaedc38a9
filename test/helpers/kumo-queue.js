// @ts-check
'use strict';
// The queue a custom protocol's deliveries sit in, as queue config hands it over
// (msg.queue, msg.queueConfig and its timings): the seed's `amqp` queue routed to make.amqp
// with KumoMTA's default retry_interval and max_age.

/** @type {import('../../nodes/lib/core/kumo/queue-name').QueueName} */
const QUEUE = { name: 'amqp', domain: 'amqp', tenant: null, campaign: null, routing_domain: null };
/** @type {import('../../nodes/lib/core/kumo/queue-config').QueueConfig} */
const CONFIG = {
  protocol: { custom_lua: { constructor: 'make.amqp' } },
  retry_interval: '20 minutes',
  max_retry_interval: null,
  max_age: '7 days',
};
/** @type {import('../../nodes/lib/core/kumo/queue-config').ResolvedTimings} */
const TIMINGS = { retryIntervalSec: 1200, maxRetryIntervalSec: null, maxAgeSec: 604800 };

module.exports = { QUEUE, CONFIG, TIMINGS };
