// One way to read a typed input (Node-RED's str, num, msg, flow, global, env, jsonata, ...):
// worked out once at deploy where it cannot change from one message to the next (a string,
// a number, an environment variable), prepared once and read per message otherwise.

import type { Node, NodeAPI, NodeMessage } from 'node-red';

/** Types whose value is the same for every message: read once, when the node is created. */
const FIXED_TYPES = new Set(['str', 'num', 'bool', 'json', 'bin', 'env']);
const PLAIN_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type TypedRead = (err: Error | null, value: unknown) => void;

export interface TypedInput {
  /** The input's type, as the node's settings name it. */
  readonly type: string;
  /** True when `value` holds it for every message. */
  readonly fixed: boolean;
  readonly value: unknown;
  /** Reads it for one message; the callback may run later (JSONata) or at once. */
  read(msg: object, then: TypedRead): void;
}

/** Prepares a typed input of a node. A fixed value that cannot be read fails each read with why. */
export function typedInput(RED: NodeAPI, node: Node, property: string, type: string): TypedInput {
  if (type === 'str') return fixedInput(type, property);
  if (FIXED_TYPES.has(type)) {
    let value: unknown;
    try {
      value = RED.util.evaluateNodeProperty(property, type, node, {});
    } catch (err) {
      return { type, fixed: false, value: undefined, read: (_msg, then) => then(err as Error, undefined) };
    }
    return fixedInput(type, value);
  }
  if (type === 'msg') {
    // A plain name (the usual `queue`, `topic`): read as msg[name], which is what Node-RED's
    // getMessageProperty returns for it, without parsing the expression for every message.
    const name = property.startsWith('msg.') ? property.slice(4) : property;
    if (PLAIN_NAME.test(name) && !PROTOTYPE_KEYS.has(name)) {
      return {
        type,
        fixed: false,
        value: undefined,
        read: (msg, then) => then(null, (msg as Record<string, unknown>)[name]),
      };
    }
    return {
      type,
      fixed: false,
      value: undefined,
      read(msg, then) {
        let value: unknown;
        try {
          value = RED.util.getMessageProperty(msg as NodeMessage, property);
        } catch (err) {
          then(err as Error, undefined);
          return;
        }
        then(null, value);
      },
    };
  }
  if (type === 'jsonata') {
    const expression = RED.util.prepareJSONataExpression(property, node);
    return {
      type,
      fixed: false,
      value: undefined,
      read: (msg, then) => RED.util.evaluateJSONataExpression(expression, msg as NodeMessage, then),
    };
  }
  return {
    type,
    fixed: false,
    value: undefined,
    read: (msg, then) =>
      RED.util.evaluateNodeProperty(property, type, node, msg as NodeMessage, (err: Error | null, value: unknown) =>
        then(err, value),
      ),
  };
}

function fixedInput(type: string, value: unknown): TypedInput {
  return { type, fixed: true, value, read: (_msg, then) => then(null, value) };
}
