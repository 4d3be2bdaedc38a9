// @ts-check
'use strict';
// A KumoMTA log record as its log hook posts it (reference/log_record.md: a Delivery), for the
// tests that feed an example or a log hook over HTTP.

/**
 * @param {Record<string, unknown>} [overrides] fields to change (an id of its own, another type)
 * @returns {Record<string, unknown>}
 */
function deliveryRecord(overrides = {}) {
  return {
    type: 'Delivery',
    id: '1d98076abbbc11ed940250ebf67f93bd',
    sender: 'noreply@example.com',
    recipient: 'user@example.com',
    queue: 'campaign_x:tenant_y@example.com',
    site: 'source2->gmail-smtp-in.l.google.com@smtp_client',
    size: 1047,
    response: { code: 250, enhanced_code: null, content: 'OK', command: '.\r\n' },
    peer_address: { name: 'gmail-smtp-in.l.google.com.', addr: '142.251.2.27' },
    timestamp: 1678069691,
    created: 1678069690,
    num_attempts: 0,
    bounce_classification: 'Uncategorized',
    egress_pool: 'pool0',
    egress_source: 'source2',
    feedback_report: null,
    meta: {},
    headers: {},
    delivery_protocol: 'ESMTP',
    reception_protocol: 'ESMTP',
    nodeid: '557f3ad4-2c8c-11ee-976e-782d7e12e173',
    ...overrides,
  };
}

module.exports = { deliveryRecord };
