'use strict';
// Which suites run is chosen by scripts/test.js (`npm test [-- files...]`):
// test/unit (pure core), test/nodes (Node-RED against a real RabbitMQ),
// test/browser (the editor in headless Chromium).
module.exports = {
  recursive: true,
  timeout: 20000,
  exit: true,
  forbidOnly: true,
  forbidPending: true,
};
