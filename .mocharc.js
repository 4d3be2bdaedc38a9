'use strict';
// Suites live in folders by kind: unit (pure core), nodes (Node-RED runtime
// against a real RabbitMQ), browser (the editor in headless Chromium).
module.exports = {
  spec: ['test/unit/**/*.test.js', 'test/nodes/**/*.test.js', 'test/browser/**/*.test.js'],
  recursive: true,
  timeout: 20000,
  exit: true,
  forbidOnly: true,
  forbidPending: true,
};
