#!/usr/bin/env python3
# Writes examples/*.json: the example flows are kept as code so their ids,
# positions and the KumoMTA log record fixture stay consistent. Run it after editing.
import json
import os
def broker(bid):
    return {"id": bid, "type": "amqp-broker", "name": "local RabbitMQ", "url": "amqp://localhost", "tls": "", "heartbeat": "60", "connectionName": ""}

AMQP_RULE = {"match": {"domain": {"op": "eq", "value": "amqp"}, "tenant": {"op": "any", "value": ""}, "campaign": {"op": "any", "value": ""}, "routing_domain": {"op": "any", "value": ""}},
             "protocol": "custom_lua", "constructor": "make.amqp", "maildir_path": "", "retry_interval": "20 minutes", "max_retry_interval": "", "max_age": "7 days"}
def rule(**kw):
    r = json.loads(json.dumps(AMQP_RULE))
    for k, v in kw.items():
        if k in ("domain", "tenant", "campaign", "routing_domain"):
            r["match"][k] = v
        else:
            r[k] = v
    return r

LOG_RECORD = {"type": "Delivery", "id": "1d98076abbbc11ed940250ebf67f93bd", "sender": "noreply@example.com", "recipient": "user@example.com",
  "queue": "campaign_x:tenant_y@example.com", "site": "source2->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client", "size": 1047,
  "response": {"code": 250, "enhanced_code": {"class": 2, "subject": 0, "detail": 0}, "content": "OK ids=8a5475ccbbbc11edb7d3ebf6e2d3fe22", "command": ".\r\n"},
  "peer_address": {"name": "gmail-smtp-in.l.google.com.", "addr": "142.251.2.27"}, "timestamp": 1678069691, "created": 1678069691, "num_attempts": 0,
  "bounce_classification": "Uncategorized", "egress_pool": "pool0", "egress_source": "source2", "feedback_report": None, "meta": {}, "headers": {},
  "delivery_protocol": "ESMTP", "reception_protocol": "ESMTP", "nodeid": "557f3ad4-2c8c-11ee-976e-782d7e12e173"}

def publish(pid, x, y, wires, key="logging", declare="logging", name="", **kw):
    n = {"id": pid, "type": "amqp-publish", "z": "", "name": name, "broker": "b1", "exchange": "", "routingKey": key, "routingKeyType": "str",
         "persistent": True, "mandatory": False, "returnedAs": "transient", "nackedAs": "permanent", "waitForConfirm": True, "confirmTimeout": "30", "maxWaiting": "10000",
         "declareQueue": declare, "x": x, "y": y, "wires": wires}
    n.update(kw); return n

def debug(did, name, x, y, complete="true", active=True):
    return {"id": did, "type": "debug", "z": "", "name": name, "active": active, "tosidebar": True, "console": False, "tostatus": False,
            "complete": complete, "targetType": "full" if complete == "true" else "msg", "statusVal": "", "statusType": "auto", "x": x, "y": y, "wires": []}

def qc(qid, x, y, rules, wires, queue="queue", queueType="msg", name=""):
    return {"id": qid, "type": "kumo-queue-config", "z": "", "name": name, "queue": queue, "queueType": queueType, "rules": rules, "x": x, "y": y, "wires": wires}

def cp(cid, x, y, event, wires, timeout="60", name=""):
    return {"id": cid, "type": "kumo-custom-protocol", "z": "", "name": name, "eventName": event, "timeout": timeout, "maxInFlight": "128", "x": x, "y": y, "wires": wires}

def comment(cid, name, info, x, y):
    return {"id": cid, "type": "comment", "z": "", "name": name, "info": info, "x": x, "y": y, "wires": []}

# 1. The seed's routing, exactly.
ex1 = [
  comment("c1", "KumoMTA \"Routing Messages via AMQP\"", 
    "The seed's routing as a flow:\n\n"
    "    kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)\n"
    "      if domain == 'amqp' then\n"
    "        return kumo.make_queue_config { protocol = { custom_lua = { constructor = 'make.amqp' } } }\n"
    "      end\n"
    "    end)\n\n"
    "The queue config node routes queue `amqp` to the custom protocol node bound to `make.amqp` "
    "(by event name, no wire). It publishes with routing key `logging` and waits for the publisher confirm: "
    "Ack or NotRequested = Delivery, Nack = Bounce 500.\n\n"
    "The broker is `amqp://localhost` (guest/guest). The publish node declares the durable queue `logging`, "
    "so nothing has to be created by hand. Click an inject node and watch the debug sidebar.", 200, 40),
  {"id": "i1", "type": "inject", "z": "", "name": "sample message (queue amqp)", "props": [{"p": "payload"}, {"p": "queue", "v": "amqp", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "",
   "payload": "A sample message routed via AMQP", "payloadType": "str", "x": 200, "y": 100, "wires": [["q1"]]},
  {"id": "i2", "type": "inject", "z": "", "name": "KumoMTA log record (queue amqp)", "props": [{"p": "payload"}, {"p": "queue", "v": "amqp", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "",
   "payload": json.dumps(LOG_RECORD), "payloadType": "json", "x": 210, "y": 140, "wires": [["q1"]]},
  {"id": "i3", "type": "inject", "z": "", "name": "other queue (smtp)", "props": [{"p": "payload"}, {"p": "queue", "v": "tenant@example.com", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "not for amqp", "payloadType": "str", "x": 180, "y": 180, "wires": [["q1"]]},
  qc("q1", 460, 140, [rule()], [["d1"]]),
  debug("d1", "other protocols (smtp)", 700, 140),
  cp("p1", 200, 280, "make.amqp", [["u1"], ["d4"]]),
  publish("u1", 450, 260, [["d2"], ["d3"]], name="publish logging (confirm)"),
  debug("d2", "delivered (msg.amqp)", 700, 240),
  debug("d3", "rejected (msg.reject)", 700, 280),
  debug("d4", "log records", 430, 320, complete="payload"),
  broker("b1"),
]

# 2. KumoMTA's log hook webhook target.
VALIDATE_RECORD = """// What a peer posts is checked before it is routed: KumoMTA's log_hooks:new_json
// sends one JSON object with a "type" per request. Anything else is answered
// 400 and not published. The body itself (a Buffer) is passed on untouched.
const text = Buffer.isBuffer(msg.payload) ? msg.payload.toString('utf8') : String(msg.payload);
let record;
try {
    record = JSON.parse(text);
} catch (e) {
    msg.statusCode = 400;
    msg.payload = 'not JSON: ' + e.message;
    return [null, msg];
}
if (record === null || typeof record !== 'object' || Array.isArray(record) || typeof record.type !== 'string') {
    msg.statusCode = 400;
    msg.payload = 'not a KumoMTA log record: expected a JSON object with a string "type"';
    return [null, msg];
}
return [msg, null];"""

ex2 = [
  comment("c1", "KumoMTA log hook → AMQP, at least once",
    "Point a KumoMTA log hook at this flow. For at least once, use the helper's `new` with a constructor that "
    "turns a 5xx answer into a transient failure (`kumo.reject(400, ...)`), so KumoMTA retries the record:\n\n"
    "    local kumo = require 'kumo'\n"
    "    local log_hooks = require 'policy-extras.log_hooks'\n"
    "    log_hooks:new {\n"
    "      name = 'webhook',\n"
    "      log_parameters = { headers = { 'Subject', 'X-Customer-ID' } },\n"
    "      constructor = function(domain, tenant, campaign)\n"
    "        local connection = {}\n"
    "        local client = kumo.http.build_client {}\n"
    "        function connection:send(message)\n"
    "          local response = client:post('http://127.0.0.1:1880/kumomta/log')\n"
    "            :header('Content-Type', 'application/json')\n"
    "            :body(message:get_data()):send()\n"
    "          local disposition = string.format('%d %s: %s', response:status_code(),\n"
    "            response:status_reason(), response:text())\n"
    "          if response:status_is_success() then return disposition end\n"
    "          -- 5xx: not confirmed yet, so retry later (4xx); else not a log record: bounce\n"
    "          kumo.reject(response:status_code() >= 500 and 400 or 500, disposition)\n"
    "        end\n"
    "        function connection:close() client:close() end\n"
    "        return connection\n"
    "      end,\n"
    "    }\n\n"
    "(`log_hooks:new_json { name = 'webhook', url = ... }` works too, but it bounces a record on any answer other "
    "than 2xx: only a connection failure or a timeout is retried.)\n\n"
    "Each POST carries one JSON log record. The record is published byte for byte (the http in node keeps the raw body) "
    "to the durable queue `logging` with a publisher confirm. The HTTP answer is 200 only after the broker confirmed it; "
    "a Bounce or an Expiration answers 500, which the policy above retries; a body that is not a log record answers 400, "
    "which it bounces.\n\n"
    "The queue config retries briefly (2 s doubling, at most 10 s apart, max_age 30 s), so a broker blip is absorbed and every "
    "request is answered well within 60 s, the usual HTTP client timeout. Broker: `amqp://localhost` (guest/guest).", 220, 40),
  {"id": "h1", "type": "http in", "z": "", "name": "POST /kumomta/log", "url": "/kumomta/log", "method": "post", "upload": False,
   "skipBodyParsing": True, "swaggerDoc": "", "x": 150, "y": 120, "wires": [["v1"]]},
  {"id": "v1", "type": "function", "z": "", "name": "a log record?", "outputs": 2, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
   "func": VALIDATE_RECORD, "x": 330, "y": 120, "wires": [["q1"], ["r1"]]},
  qc("q1", 560, 120, [rule(domain={"op": "eq", "value": "webhook"}, constructor="make.webhook", retry_interval="2s", max_retry_interval="10s", max_age="30s")], [["f1"]], queue="webhook", queueType="str", name="queue webhook → make.webhook"),
  {"id": "f1", "type": "change", "z": "", "name": "not routed: 500", "rules": [{"t": "set", "p": "statusCode", "pt": "msg", "to": "500", "tot": "num"},
    {"t": "set", "p": "payload", "pt": "msg", "to": "no custom_lua route for this queue", "tot": "str"}], "x": 800, "y": 120, "wires": [["r1"]]},
  cp("p1", 170, 240, "make.webhook", [["u1"], ["s1"]], timeout="20"),
  publish("u1", 420, 220, [[], []], name="publish logging", confirmTimeout="10"),
  {"id": "s1", "type": "switch", "z": "", "name": "outcome", "property": "payload.type", "propertyType": "msg",
   "rules": [{"t": "eq", "v": "Delivery", "vt": "str"}, {"t": "eq", "v": "TransientFailure", "vt": "str"}, {"t": "else"}],
   "checkall": "false", "repair": False, "outputs": 3, "x": 400, "y": 300, "wires": [["ok"], ["d1"], ["bad"]]},
  {"id": "ok", "type": "change", "z": "", "name": "confirmed: 200", "rules": [{"t": "set", "p": "statusCode", "pt": "msg", "to": "200", "tot": "num"},
    {"t": "set", "p": "payload", "pt": "msg", "to": "payload.response.content", "tot": "msg"}], "x": 620, "y": 260, "wires": [["r1"]]},
  debug("d1", "retrying (TransientFailure)", 660, 300, complete="payload"),
  {"id": "bad", "type": "change", "z": "", "name": "bounced or expired: 500", "rules": [{"t": "set", "p": "statusCode", "pt": "msg", "to": "500", "tot": "num"},
    {"t": "set", "p": "payload", "pt": "msg", "to": "payload.response.content", "tot": "msg"}], "x": 650, "y": 340, "wires": [["r1"]]},
  {"id": "r1", "type": "http response", "z": "", "name": "answer KumoMTA", "statusCode": "", "headers": {}, "x": 1000, "y": 240, "wires": []},
  {"id": "k1", "type": "catch", "z": "", "name": "bad request", "scope": ["q1"], "uncaught": False, "x": 400, "y": 400, "wires": [["k2"]]},
  {"id": "k2", "type": "change", "z": "", "name": "400 + error", "rules": [{"t": "set", "p": "statusCode", "pt": "msg", "to": "400", "tot": "num"},
    {"t": "set", "p": "payload", "pt": "msg", "to": "error.message", "tot": "msg"}], "x": 610, "y": 400, "wires": [["r1"]]},
  broker("b1"),
]

# 3. Routing by tenant and campaign, with a reject in a function.
ex3 = [
  comment("c1", "Routing by tenant and campaign",
    "Ordered rules, the first match wins (like get_queue_config handlers):\n"
    "1. tenant == acme → make.acme → routing key tenant.acme\n"
    "2. campaign matches ^newsletter → make.newsletter → a function decides: publish to campaign.newsletter, or reject 451 "
    "(kumo.reject: transient, retried in 1 minute) when the message is marked 'hold'\n"
    "3. anything else: KumoMTA's default (smtp) → the output of the queue config node.\n\n"
    "Broker `amqp://localhost`; each publish node declares its durable queue.", 200, 40),
  {"id": "i1", "type": "inject", "z": "", "name": "welcome:acme@amqp", "props": [{"p": "payload"}, {"p": "queue", "v": "welcome:acme@amqp", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "{\"hello\":\"acme\"}", "payloadType": "json", "x": 170, "y": 100, "wires": [["q1"]]},
  {"id": "i2", "type": "inject", "z": "", "name": "newsletter-june:globex@amqp", "props": [{"p": "payload"}, {"p": "queue", "v": "newsletter-june:globex@amqp", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "June newsletter", "payloadType": "str", "x": 200, "y": 140, "wires": [["q1"]]},
  {"id": "i3", "type": "inject", "z": "", "name": "newsletter on hold", "props": [{"p": "payload"}, {"p": "queue", "v": "newsletter-july:globex@amqp", "vt": "str"}, {"p": "hold", "v": "true", "vt": "bool"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "July newsletter", "payloadType": "str", "x": 170, "y": 180, "wires": [["q1"]]},
  {"id": "i4", "type": "inject", "z": "", "name": "billing@example.com", "props": [{"p": "payload"}, {"p": "queue", "v": "billing@example.com", "vt": "str"}],
   "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "", "payload": "invoice", "payloadType": "str", "x": 170, "y": 220, "wires": [["q1"]]},
  qc("q1", 450, 160, [
      rule(domain={"op": "any", "value": ""}, tenant={"op": "eq", "value": "acme"}, constructor="make.acme"),
      rule(domain={"op": "any", "value": ""}, campaign={"op": "regex", "value": "^newsletter"}, constructor="make.newsletter", retry_interval="1m", max_age="1h"),
    ], [["d9"]]),
  debug("d9", "smtp (default)", 680, 160),
  cp("p1", 170, 300, "make.acme", [["u1"], ["d1"]]),
  publish("u1", 420, 300, [["d2"], ["d2"]], key="tenant.acme", declare="tenant.acme", name="tenant.acme"),
  cp("p2", 180, 400, "make.newsletter", [["fn"], ["d1"]]),
  {"id": "fn", "type": "function", "z": "", "name": "hold?", "func": "// Like a Lua sender that calls kumo.reject(451, ...) for messages it cannot take yet.\nif (msg.hold) {\n    return [null, msg];\n}\nreturn [msg, null];",
   "outputs": 2, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], "x": 390, "y": 400, "wires": [["u2"], ["rj"]]},
  publish("u2", 600, 380, [["d2"], ["d2"]], key="campaign.newsletter", declare="campaign.newsletter", name="campaign.newsletter"),
  {"id": "rj", "type": "kumo-reject", "z": "", "name": "", "code": "451", "codeType": "num", "message": "newsletter on hold, try later", "messageType": "str", "x": 580, "y": 440, "wires": [[]]},
  debug("d1", "log records", 420, 500, complete="payload"),
  debug("d2", "publish results (msg.amqp)", 860, 340, complete="amqp"),
  broker("b1"),
]

import hashlib
def unique_ids(name, flow):
    # Node-RED style 16-hex ids, distinct per example, so two examples import side by side.
    ids = {n["id"] for n in flow} | {"examplez"}
    new = lambda i: hashlib.sha1(f"{name}/{i}".encode()).hexdigest()[:16] if i in ids else i
    for n in flow:
        n["id"] = new(n["id"])
        if "z" in n: n["z"] = new(n["z"])
        if "broker" in n: n["broker"] = new(n["broker"])
        if "wires" in n: n["wires"] = [[new(w) for w in port] for port in n["wires"]]
        if isinstance(n.get("scope"), list): n["scope"] = [new(w) for w in n["scope"]]

for name, flow in [("amqp-log-events", ex1), ("kumomta-webhook-to-amqp", ex2), ("routing-by-tenant", ex3)]:
    for n in flow:
        if n.get("z") == "": n["z"] = "examplez"
    unique_ids(name, flow)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", f"{name}.json"), "w") as f:
        json.dump(flow, f, indent=2, ensure_ascii=False)
        f.write("\n")
print("ok")
