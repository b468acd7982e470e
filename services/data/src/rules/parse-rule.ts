import jsep from 'jsep';
import { TernError } from '@tern/errors';
import { FIELD_NAME, isSystemField } from '../schema/field-sql';

export const RULE_MAX_LENGTH = 2000;
const RULE_MAX_DEPTH = 32;
const RULE_MAX_LIST = 100;

// ---------------------------------------------------------------------------------------------
// The tree

export type Scalar = string | number | boolean | null;

type AuthKey = 'id' | 'roles' | 'anonymous';
export type Operand =
  | { kind: 'lit'; value: Scalar }
  | { kind: 'list'; items: Scalar[] }
  | { kind: 'auth'; key: AuthKey }
  | { kind: 'claim'; name: string }
  | { kind: 'doc'; field: string };

export type Order = '<' | '<=' | '>' | '>=';
export type CmpOp = '==' | Order;

export type Cond =
  | { kind: 'const'; value: boolean }
  | { kind: 'and' | 'or'; items: Cond[] }
  | { kind: 'not'; item: Cond }
  | { kind: 'cmp'; op: CmpOp; left: Operand; right: Operand }
  | { kind: 'in'; left: Operand; right: Operand };

// ---------------------------------------------------------------------------------------------
// Parsing and validation

const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const ESCAPES = new Set(['n', 'r', 't', 'b', 'f', 'v', '\\', "'", '"']);

function invalidRule(problem: string, position: number): TernError {
  return new TernError({
    code: 'data/invalid-rule',
    status: 400,
    title: 'Bad Request',
    detail: `Invalid rule: ${problem} (at character ${position}).`,
    details: { position },
  });
}

export function parseRule(source: string): Cond {
  if (typeof source !== 'string') throw invalidRule('the rule must be a string', 0);
  if (source.length > RULE_MAX_LENGTH) {
    throw invalidRule(`the rule is longer than ${RULE_MAX_LENGTH} characters`, RULE_MAX_LENGTH);
  }
  checkBracketDepth(source);
  const { tree, starts } = parseWithPositions(source);
  return new Converter(starts).cond(tree, 0, 0);
}

/** Refuses deep bracket nesting before jsep recurses into it. */
function checkBracketDepth(source: string): void {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '(' || ch === '[') {
      if (++depth > RULE_MAX_DEPTH) throw invalidRule(`nesting is deeper than ${RULE_MAX_DEPTH}`, i);
    } else if (ch === ')' || ch === ']') {
      depth = Math.max(0, depth - 1);
    }
  }
}

type HookList = Record<string, jsep.HookCallback[] | undefined>;

/**
 * jsep is configured globally, so `in` and the hooks that record where each token starts are added
 * for the duration of one (synchronous) parse and removed afterwards; other users of jsep see none of it.
 */
function parseWithPositions(source: string): { tree: jsep.Expression; starts: WeakMap<object, number> } {
  const starts = new WeakMap<object, number>();
  const stack: number[] = [];
  const onToken: jsep.HookCallback = function (this: jsep.HookScope) {
    // Numeric literals return without running 'after-token', so they are not tracked.
    const code = this.code;
    if (!((code >= 48 && code <= 57) || code === 46)) stack.push(this.index);
  };
  const afterToken: jsep.HookCallback = function (env) {
    const start = stack.pop();
    if (env.node && start !== undefined) starts.set(env.node, start);
  };
  const addedIn = !Object.hasOwn(jsep.binary_ops, 'in');
  if (addedIn) jsep.addBinaryOp('in', 7);
  jsep.hooks.add('gobble-token', onToken);
  jsep.hooks.add('after-token', afterToken);
  try {
    return { tree: jsep(source), starts };
  } catch (error) {
    if (error instanceof RangeError) throw invalidRule('the rule is nested too deeply', 0);
    const e = error as { description?: unknown; index?: unknown };
    if (typeof e.description === 'string' && typeof e.index === 'number') {
      throw invalidRule(e.description, e.index);
    }
    throw invalidRule('the rule cannot be parsed', 0);
  } finally {
    const hooks = jsep.hooks as unknown as HookList;
    remove(hooks['gobble-token'], onToken);
    remove(hooks['after-token'], afterToken);
    if (addedIn) jsep.removeBinaryOp('in');
  }
}

function remove<T>(list: T[] | undefined, item: T): void {
  const i = list ? list.indexOf(item) : -1;
  if (list && i >= 0) list.splice(i, 1);
}

class Converter {
  constructor(private readonly starts: WeakMap<object, number>) {}

  private pos(node: jsep.Expression, fallback: number): number {
    const known = this.starts.get(node);
    if (known !== undefined) return known;
    if (node.type === 'BinaryExpression') return this.pos((node as jsep.BinaryExpression).left, fallback);
    return fallback;
  }

  cond(node: jsep.Expression, depth: number, fallback: number): Cond {
    const at = this.pos(node, fallback);
    if (depth > RULE_MAX_DEPTH) throw invalidRule(`nesting is deeper than ${RULE_MAX_DEPTH}`, at);
    switch (node.type) {
      case 'Literal': {
        const value = (node as jsep.Literal).value;
        if (typeof value === 'boolean') return { kind: 'const', value };
        throw invalidRule(`${(node as jsep.Literal).raw} is not a condition`, at);
      }
      case 'Identifier':
      case 'MemberExpression': {
        const operand = this.operand(node, at);
        if (
          (operand.kind === 'auth' && operand.key !== 'anonymous') ||
          (operand.kind === 'doc' && isSystemField(operand.field))
        ) {
          throw invalidRule(`${operandName(operand)} is never a boolean; compare it with something`, at);
        }
        return { kind: 'cmp', op: '==', left: operand, right: { kind: 'lit', value: true } };
      }
      case 'UnaryExpression': {
        const unary = node as jsep.UnaryExpression;
        if (unary.operator !== '!') throw invalidRule(`operator ${unary.operator} is not allowed`, at);
        return { kind: 'not', item: this.cond(unary.argument, depth + 1, at) };
      }
      case 'BinaryExpression':
        return this.binary(node as jsep.BinaryExpression, depth, at);
      default:
        throw invalidRule(describeUnsupported(node), this.unsupportedPos(node, at));
    }
  }

  private binary(node: jsep.BinaryExpression, depth: number, at: number): Cond {
    const op = node.operator;
    if (op === '&&' || op === '||') {
      const kind = op === '&&' ? 'and' : 'or';
      const items: Cond[] = [];
      // A chain `a || b || c` is one level, however long.
      const collect = (n: jsep.Expression) => {
        if (n.type === 'BinaryExpression' && (n as jsep.BinaryExpression).operator === op) {
          collect((n as jsep.BinaryExpression).left);
          collect((n as jsep.BinaryExpression).right);
        } else {
          items.push(this.cond(n, depth + 1, this.pos(n, at)));
        }
      };
      collect(node);
      return { kind, items };
    }
    if (depth + 1 > RULE_MAX_DEPTH) throw invalidRule(`nesting is deeper than ${RULE_MAX_DEPTH}`, at);
    if (op === '===' || op === '!==') {
      throw invalidRule(`use ${op.slice(0, 2)} instead of ${op}; it is already strict`, at);
    }
    if (op !== 'in' && !COMPARISONS.has(op)) throw invalidRule(`operator ${op} is not allowed`, at);
    const left = this.operand(node.left, this.pos(node.left, at));
    const rightAt = this.pos(node.right, at);
    const right = this.operand(node.right, rightAt);
    if (left.kind === 'list') throw invalidRule('an array literal may only be the right side of in', at);
    if (left.kind === 'auth' && left.key === 'roles') {
      throw invalidRule("auth.roles is a list; test membership with 'role' in auth.roles", at);
    }
    if (left.kind === 'doc' && right.kind === 'doc') {
      throw invalidRule('a comparison may refer to doc on one side only', at);
    }
    if (op === 'in') {
      const arrayLike =
        right.kind === 'list' ||
        right.kind === 'claim' ||
        (right.kind === 'auth' && right.key === 'roles') ||
        (right.kind === 'doc' && !isSystemField(right.field));
      if (!arrayLike) {
        throw invalidRule(
          `the right side of in must be an array literal, auth.roles, a claim or a doc field, not ${operandName(right)}`,
          rightAt,
        );
      }
      return { kind: 'in', left, right };
    }
    if (right.kind === 'list')
      throw invalidRule('an array literal may only be the right side of in', rightAt);
    if (right.kind === 'auth' && right.key === 'roles') {
      throw invalidRule("auth.roles is a list; test membership with 'role' in auth.roles", rightAt);
    }
    if (op === '!=') return { kind: 'not', item: { kind: 'cmp', op: '==', left, right } };
    return { kind: 'cmp', op: op as CmpOp, left, right };
  }

  private operand(node: jsep.Expression, at: number): Operand {
    switch (node.type) {
      case 'Literal':
        return { kind: 'lit', value: this.scalar(node as jsep.Literal, at) };
      case 'UnaryExpression': {
        const unary = node as jsep.UnaryExpression;
        const arg = unary.argument;
        if (
          unary.operator === '-' &&
          arg.type === 'Literal' &&
          typeof (arg as jsep.Literal).value === 'number'
        ) {
          return { kind: 'lit', value: -this.number(arg as jsep.Literal, at) };
        }
        throw invalidRule(`operator ${unary.operator} is not allowed on a value`, at);
      }
      case 'ArrayExpression': {
        const elements = (node as jsep.ArrayExpression).elements;
        if (elements.length > RULE_MAX_LIST) {
          throw invalidRule(`an array literal has more than ${RULE_MAX_LIST} elements`, at);
        }
        const items = elements.map((element) => {
          if (!element) throw invalidRule('an array literal has an empty slot', at);
          const item = this.operand(element, this.pos(element, at));
          if (item.kind !== 'lit')
            throw invalidRule('array elements must be literals', this.pos(element, at));
          return item.value;
        });
        return { kind: 'list', items };
      }
      case 'Identifier':
      case 'MemberExpression':
        return this.path(node, at);
      default:
        throw invalidRule(describeUnsupported(node), this.unsupportedPos(node, at));
    }
  }

  private scalar(node: jsep.Literal, at: number): Scalar {
    const value = node.value;
    if (typeof value === 'number') return this.number(node, at);
    if (typeof value === 'string') {
      const raw = node.raw;
      for (let i = 1; i < raw.length - 1; i++) {
        if (raw[i] !== '\\') continue;
        const next = raw[i + 1] ?? '';
        if (!ESCAPES.has(next)) throw invalidRule(`the escape \\${next} is not supported`, at + i);
        i++;
      }
      return value;
    }
    if (typeof value === 'boolean' || value === null) return value;
    throw invalidRule(`the literal ${node.raw} is not allowed`, at);
  }

  private number(node: jsep.Literal, at: number): number {
    const value = node.value;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw invalidRule(`the number ${node.raw} is out of range`, at);
    }
    return value;
  }

  private path(node: jsep.Expression, at: number): Operand {
    const names: string[] = [];
    let current = node;
    while (current.type === 'MemberExpression') {
      const member = current as jsep.MemberExpression;
      if (member.computed) throw invalidRule('computed access [...] is not allowed; use .name', at);
      if (member.optional) throw invalidRule('optional chaining ?. is not allowed', at);
      if (member.property.type !== 'Identifier') throw invalidRule('a property must be a name', at);
      names.unshift((member.property as jsep.Identifier).name);
      current = member.object;
    }
    if (current.type !== 'Identifier') {
      throw invalidRule(describeUnsupported(current), this.unsupportedPos(current, at));
    }
    const root = (current as jsep.Identifier).name;
    for (const name of [root, ...names]) {
      if (FORBIDDEN_NAMES.has(name)) throw invalidRule(`the name ${name} is not allowed`, at);
    }
    const path = [root, ...names].join('.');
    if (root === 'auth') {
      const [key, claim, ...rest] = names;
      if ((key === 'id' || key === 'roles' || key === 'anonymous') && claim === undefined) {
        return { kind: 'auth', key };
      }
      if (key === 'claims' && claim !== undefined && rest.length === 0) {
        if (!FIELD_NAME.test(claim)) throw invalidRule(`invalid claim name ${claim}`, at);
        return { kind: 'claim', name: claim };
      }
      throw invalidRule(
        `unknown path ${path}; use auth.id, auth.roles, auth.anonymous or auth.claims.<name>`,
        at,
      );
    }
    if (root === 'doc') {
      const [field, ...rest] = names;
      if (field === undefined || rest.length > 0) {
        throw invalidRule(`${path} is not a field; use doc.<field> (top-level fields only)`, at);
      }
      if (!isSystemField(field) && !FIELD_NAME.test(field)) {
        throw invalidRule(`invalid field name ${field}`, at);
      }
      return { kind: 'doc', field };
    }
    throw invalidRule(`unknown name ${root}; a rule refers to auth and doc only`, at);
  }

  /** Calls and member accesses report where their callee starts. */
  private unsupportedPos(node: jsep.Expression, at: number): number {
    if (node.type === 'CallExpression') return this.pos((node as jsep.CallExpression).callee, at);
    if (node.type === 'Compound') {
      const second = (node as jsep.Compound).body[1];
      return second ? this.pos(second, at) : at;
    }
    return at;
  }
}

function describeUnsupported(node: jsep.Expression): string {
  switch (node.type) {
    case 'CallExpression':
      return 'function calls are not allowed';
    case 'ThisExpression':
      return 'this is not allowed';
    case 'ConditionalExpression':
      return 'the ?: operator is not allowed';
    case 'Compound':
      return (node as jsep.Compound).body.length === 0
        ? 'the rule is empty'
        : 'a rule is one expression; remove the extra part';
    case 'SequenceExpression':
      return 'a rule is one expression';
    case 'ArrayExpression':
      return 'an array is not a condition';
    case 'Literal':
      return `${String((node as jsep.Literal).raw)} is not allowed here`;
    case 'BinaryExpression': {
      const op = (node as jsep.BinaryExpression).operator;
      if (op === '&&' || op === '||' || op === 'in' || COMPARISONS.has(op)) {
        return 'a condition is not a value; compare values only';
      }
      return `operator ${op} is not allowed`;
    }
    case 'UnaryExpression':
      return 'a condition is not a value; compare values only';
    default:
      return `${node.type} is not allowed`;
  }
}

function operandName(operand: Operand): string {
  switch (operand.kind) {
    case 'lit':
      return JSON.stringify(operand.value);
    case 'list':
      return 'an array literal';
    case 'auth':
      return `auth.${operand.key}`;
    case 'claim':
      return `auth.claims.${operand.name}`;
    case 'doc':
      return `doc.${operand.field}`;
  }
}
