import jsep from 'jsep';
import { TernError } from '@tern/errors';
import type { Dialect } from '@tern/store';
import { FIELD_NAME, fieldSql, isSystemField, valueSql } from '../schema/field-sql';

export interface RuleAuth {
  id: string;
  roles: string[];
  claims: Record<string, unknown>;
  anonymous: boolean;
}

type SqlValue = string | number | boolean | null;

export interface CompiledRule {
  source: string;
  /** Decides for one document (create/update/delete/get-by-id). `auth` undefined = not signed in. */
  evaluate(auth: RuleAuth | undefined, doc: Record<string, unknown>): boolean;
  /**
   * The rule as a SQL predicate over the collection's table for this caller, auth parts already
   * evaluated: 'all' (no restriction), 'none' (nothing visible), or SQL with params numbered from `firstParam`.
   */
  toSql(
    auth: RuleAuth | undefined,
    dialect: Dialect,
    firstParam: number,
  ): 'all' | 'none' | { sql: string; params: (string | number | boolean | null)[] };
}

/** The rule of a new collection: only the document's owner. */
export const OWNER_ONLY = 'doc.ownerId == auth.id';

const RULE_MAX_LENGTH = 2000;
const RULE_MAX_DEPTH = 32;
const RULE_MAX_LIST = 100;

/**
 * Compiles an access rule once; the result decides per document (`evaluate`) and per query
 * (`toSql`, the same decision as a WHERE predicate). The source is parsed with jsep and the tree is
 * checked against an allow-list; nothing is ever evaluated as JavaScript.
 *
 * The language:
 * - values: string, finite number, `true`, `false`, `null` literals; `auth.id`, `auth.roles`,
 *   `auth.anonymous`, `auth.claims.<name>`; `doc.<field>` (a top-level field matching FIELD_NAME
 *   or a system field `id`, `ownerId`, `version`, `createdAt`, `updatedAt`). No `[...]` access,
 *   no deeper paths, no calls. A missing document field is `null`. What is unknown about the
 *   caller — every `auth.*` without a signed-in caller, a claim the caller lacks — equals nothing,
 *   not even `null` (as SQL's NULL), and `auth.roles` is empty: `doc.editor == auth.id` never
 *   grants a signed-out caller anything, and a rule that compares with the caller denies the
 *   signed-out by itself. (`x != auth.id` is the complement of `==`, so it holds for them.)
 * - `==` `!=`: strict; only strings, numbers, booleans and null are ever equal (an array or object
 *   equals nothing, not even itself); `a != b` is exactly `!(a == b)`.
 * - `<` `<=` `>` `>=`: true only between two numbers or two strings (strings in Unicode code point
 *   order); across types, with null, or with an array they are false, and so is their negation's
 *   opposite: `!(doc.n < 3)` is true for a document without `n`.
 * - `x in list`: `list` is an array literal (≤ 100 literals), `auth.roles`, `auth.claims.<name>` or
 *   an array-valued `doc.<field>`; true when some element `== x`; false when `list` is no array.
 * - `&&` `||` `!` and parentheses combine conditions. A value used as a condition (`doc.published`,
 *   `auth.anonymous`) is true only when it is the boolean `true`. `true` alone is a public rule.
 * - A comparison refers to `doc` on one side at most, so each one becomes one SQL predicate.
 *
 * Throws TernError 400 `data/invalid-rule`, whose detail names the problem and its 0-based
 * character position (also in `details.position`).
 */
export function compileRule(source: string): CompiledRule {
  const cond = parseRule(source);
  return {
    source,
    evaluate(auth, doc) {
      return evalCond(cond, auth, doc);
    },
    toSql(auth, dialect, firstParam) {
      if (!Number.isSafeInteger(firstParam) || firstParam < 1) {
        throw new RangeError(`invalid firstParam ${firstParam}`);
      }
      const residual = partial(cond, auth, false);
      if (residual === true) return 'all';
      if (residual === false) return 'none';
      const ctx: SqlContext = { dialect, params: [], next: firstParam };
      return { sql: residualSql(residual, ctx), params: ctx.params };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The tree

type Scalar = string | number | boolean | null;
/** What a value can be at run time: a scalar, an array, or something opaque that equals nothing. */
type Opaque = { readonly opaque: true };
type Element = Scalar | Opaque;
type Value = Element | readonly Element[];

const OPAQUE: Opaque = Object.freeze({ opaque: true });

type AuthKey = 'id' | 'roles' | 'anonymous';
type Operand =
  | { kind: 'lit'; value: Scalar }
  | { kind: 'list'; items: Scalar[] }
  | { kind: 'auth'; key: AuthKey }
  | { kind: 'claim'; name: string }
  | { kind: 'doc'; field: string };

type Order = '<' | '<=' | '>' | '>=';
type CmpOp = '==' | Order;

type Cond =
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

function parseRule(source: string): Cond {
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

// ---------------------------------------------------------------------------------------------
// Values and their semantics, shared by evaluate and the SQL partial evaluation

function isScalar(value: Value): value is Scalar {
  return (
    value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
  );
}

function toElement(raw: unknown): Element {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === 'string' || typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : OPAQUE;
  return OPAQUE;
}

function toValue(raw: unknown): Value {
  return Array.isArray(raw) ? raw.map(toElement) : toElement(raw);
}

function valueEquals(a: Value, b: Value): boolean {
  return isScalar(a) && isScalar(b) && a === b;
}

/** Code point order, as PostgreSQL's "C" collation and SQLite's BINARY compare UTF-8. */
function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (a code point above U+FFFF) sorts after every other UTF-16 unit.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function valueOrder(op: Order, a: Value, b: Value): boolean {
  let c: number;
  if (typeof a === 'number' && typeof b === 'number') c = a - b;
  else if (typeof a === 'string' && typeof b === 'string') c = compareStrings(a, b);
  else return false;
  switch (op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
  }
}

function valueCmp(op: CmpOp, a: Value, b: Value): boolean {
  return op === '==' ? valueEquals(a, b) : valueOrder(op, a, b);
}

function valueIn(x: Value, list: Value): boolean {
  return Array.isArray(list) && (list as readonly Element[]).some((e) => valueEquals(x, e));
}

/**
 * What the caller's side of a rule is. What is unknown — every `auth.*` of a caller who is not
 * signed in, a claim the caller does not have — is a value that equals nothing (as SQL's NULL),
 * not `null`: otherwise `doc.editor == auth.id` would grant a signed-out caller every document
 * without an editor. Deny by default.
 */
function authValue(operand: Operand & { kind: 'auth' | 'claim' }, auth: RuleAuth | undefined): Value {
  if (!auth) return operand.kind === 'auth' && operand.key === 'roles' ? [] : OPAQUE;
  if (operand.kind === 'claim') {
    const claims: unknown = auth.claims;
    if (typeof claims !== 'object' || claims === null) return OPAQUE;
    return Object.hasOwn(claims, operand.name)
      ? toValue((claims as Record<string, unknown>)[operand.name])
      : OPAQUE;
  }
  const value = toValue(auth[operand.key]);
  return operand.key === 'roles' && !Array.isArray(value) ? [] : value;
}

function operandValue(operand: Operand, auth: RuleAuth | undefined, doc: Record<string, unknown>): Value {
  switch (operand.kind) {
    case 'lit':
      return operand.value;
    case 'list':
      return operand.items;
    case 'auth':
    case 'claim':
      return authValue(operand, auth);
    case 'doc':
      return Object.hasOwn(doc, operand.field) ? toValue(doc[operand.field]) : null;
  }
}

function evalCond(cond: Cond, auth: RuleAuth | undefined, doc: Record<string, unknown>): boolean {
  switch (cond.kind) {
    case 'const':
      return cond.value;
    case 'and':
      return cond.items.every((item) => evalCond(item, auth, doc));
    case 'or':
      return cond.items.some((item) => evalCond(item, auth, doc));
    case 'not':
      return !evalCond(cond.item, auth, doc);
    case 'cmp':
      return valueCmp(cond.op, operandValue(cond.left, auth, doc), operandValue(cond.right, auth, doc));
    case 'in':
      return valueIn(operandValue(cond.left, auth, doc), operandValue(cond.right, auth, doc));
  }
}

// ---------------------------------------------------------------------------------------------
// Partial evaluation: everything but doc becomes a constant; negation is pushed down to the atoms
// (so SQL's NULL, which only ever stands for "false" in a positive atom, cannot flip under NOT).

type Atom =
  | { kind: 'cmp'; op: CmpOp; field: string; value: Value } // doc.field op value
  | { kind: 'in'; field: string; list: Value } // doc.field in value
  | { kind: 'contains'; field: string; value: Value }; // value in doc.field

type Residual =
  boolean | { kind: 'and' | 'or'; items: Residual[] } | { kind: 'atom'; atom: Atom; negated: boolean };

const FLIP: Record<Order, Order> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
const NO_DOC: Record<string, unknown> = Object.freeze({});

function partial(cond: Cond, auth: RuleAuth | undefined, negated: boolean): Residual {
  switch (cond.kind) {
    case 'const':
      return cond.value !== negated;
    case 'not':
      return partial(cond.item, auth, !negated);
    case 'and':
    case 'or': {
      // De Morgan under negation.
      const conj = (cond.kind === 'and') !== negated;
      return combine(
        conj ? 'and' : 'or',
        cond.items.map((item) => partial(item, auth, negated)),
      );
    }
    case 'cmp':
    case 'in': {
      const atom = toAtom(cond, auth);
      if (typeof atom === 'boolean') return atom !== negated;
      return { kind: 'atom', atom, negated };
    }
  }
}

function combine(kind: 'and' | 'or', parts: Residual[]): Residual {
  const absorbing = kind === 'or';
  const items: Residual[] = [];
  for (const part of parts) {
    if (part === absorbing) return absorbing;
    if (part === !absorbing) continue;
    if (typeof part === 'object' && part.kind === kind) items.push(...part.items);
    else items.push(part);
  }
  if (items.length === 0) return !absorbing;
  if (items.length === 1) return items[0] as Residual;
  return { kind, items };
}

function toAtom(cond: Cond & { kind: 'cmp' | 'in' }, auth: RuleAuth | undefined): Atom | boolean {
  const { left, right } = cond;
  const constant = (operand: Operand) => operandValue(operand, auth, NO_DOC);
  if (cond.kind === 'in') {
    if (left.kind === 'doc') return simplifyAtom({ kind: 'in', field: left.field, list: constant(right) });
    if (right.kind === 'doc')
      return simplifyAtom({ kind: 'contains', field: right.field, value: constant(left) });
    return valueIn(constant(left), constant(right));
  }
  if (left.kind === 'doc')
    return simplifyAtom({ kind: 'cmp', op: cond.op, field: left.field, value: constant(right) });
  if (right.kind === 'doc') {
    const op = cond.op === '==' ? '==' : FLIP[cond.op];
    return simplifyAtom({ kind: 'cmp', op, field: right.field, value: constant(left) });
  }
  return valueCmp(cond.op, constant(left), constant(right));
}

/** The type of a system column's values: `version` is a number, the others strings, never null. */
function systemType(field: string): 'string' | 'number' {
  return field === 'version' ? 'number' : 'string';
}

/** Decides atoms whose outcome does not depend on the document, by the constant's type alone. */
function simplifyAtom(atom: Atom): Atom | boolean {
  const system = isSystemField(atom.field);
  switch (atom.kind) {
    case 'cmp': {
      const v = atom.value;
      if (!isScalar(v)) return false;
      if (atom.op !== '==' && typeof v !== 'number' && typeof v !== 'string') return false;
      if (system && typeof v !== systemType(atom.field)) return false;
      return atom;
    }
    case 'in': {
      if (!Array.isArray(atom.list)) return false;
      const items = (atom.list as readonly Element[]).filter(
        (e): e is Scalar => isScalar(e) && (!system || typeof e === systemType(atom.field)),
      );
      const unique = [...new Set(items)];
      if (unique.length === 0) return false;
      return { kind: 'in', field: atom.field, list: unique };
    }
    case 'contains':
      if (system || !isScalar(atom.value)) return false;
      return atom;
  }
}

// ---------------------------------------------------------------------------------------------
// SQL

interface SqlContext {
  dialect: Dialect;
  params: SqlValue[];
  next: number;
}

function residualSql(residual: Exclude<Residual, boolean>, ctx: SqlContext): string {
  if (residual.kind === 'atom') return atomSql(residual.atom, residual.negated, ctx);
  const joiner = residual.kind === 'and' ? ' AND ' : ' OR ';
  return `(${residual.items.map((item) => residualSql(item as Exclude<Residual, boolean>, ctx)).join(joiner)})`;
}

function bind(ctx: SqlContext, param: SqlValue): string {
  ctx.params.push(param);
  return `$${ctx.next++}`;
}

/** A value compared with `fieldSql(field)`, through valueSql so it is bound as the stored form. */
function bindValue(ctx: SqlContext, field: string, value: Scalar): string {
  const { sql, param } = valueSql(ctx.dialect, field, value, ctx.next);
  ctx.params.push(param);
  ctx.next++;
  // PostgreSQL's version is INTEGER: anything not an int4 must not be parsed as one.
  if (ctx.dialect === 'postgres' && field === 'version' && !isInt4(value)) return `${sql}::float8`;
  return sql;
}

function isInt4(value: Scalar): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
}

/** NOT of a positive atom that may be NULL where it means false. */
function not(sql: string): string {
  return `NOT COALESCE(${sql}, FALSE)`;
}

function atomSql(atom: Atom, negated: boolean, ctx: SqlContext): string {
  if (isSystemField(atom.field)) return systemAtomSql(atom, negated, ctx);
  return ctx.dialect === 'postgres' ? postgresAtomSql(atom, negated, ctx) : sqliteAtomSql(atom, negated, ctx);
}

/** System fields are NOT NULL columns of one type (constants of other types were decided already). */
function systemAtomSql(atom: Atom, negated: boolean, ctx: SqlContext): string {
  const column = fieldSql(ctx.dialect, atom.field);
  const collated =
    ctx.dialect === 'postgres' && systemType(atom.field) === 'string' ? `${column} COLLATE "C"` : column;
  if (atom.kind === 'in') {
    const values = (atom.list as Scalar[]).map((v) => bindValue(ctx, atom.field, v));
    return `${column} ${negated ? 'NOT IN' : 'IN'} (${values.join(', ')})`;
  }
  if (atom.kind !== 'cmp') throw new Error('unreachable: membership in a system field');
  const value = bindValue(ctx, atom.field, atom.value as Scalar);
  if (atom.op === '==') return `${column} ${negated ? '<>' : '='} ${value}`;
  const sql = `${collated} ${atom.op} ${value}`;
  return negated ? `NOT (${sql})` : sql;
}

function postgresAtomSql(atom: Atom, negated: boolean, ctx: SqlContext): string {
  const f = fieldSql('postgres', atom.field);
  const typeOf = `jsonb_typeof(${f})`;
  switch (atom.kind) {
    case 'cmp': {
      const v = atom.value as Scalar;
      if (atom.op === '==') {
        if (v === null) return negated ? `${typeOf} <> 'null'` : `COALESCE(${typeOf}, 'null') = 'null'`;
        // jsonb equality is exact and never holds across types.
        const value = bindValue(ctx, atom.field, v);
        return negated ? `${f} IS DISTINCT FROM ${value}` : `${f} = ${value}`;
      }
      const sql =
        typeof v === 'number'
          ? `(${typeOf} = 'number' AND ${f} ${atom.op} ${bindValue(ctx, atom.field, v)})`
          : `(${typeOf} = 'string' AND (${f} #>> '{}') COLLATE "C" ${atom.op} ${bind(ctx, v as string)})`;
      return negated ? not(sql) : sql;
    }
    case 'in': {
      const items = atom.list as Scalar[];
      const parts: string[] = [];
      if (items.includes(null)) parts.push(`COALESCE(${typeOf}, 'null') = 'null'`);
      const values = items.filter((v) => v !== null).map((v) => bindValue(ctx, atom.field, v));
      if (values.length > 0) parts.push(`${f} IN (${values.join(', ')})`);
      const sql = parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
      return negated ? not(sql) : sql;
    }
    case 'contains': {
      const sql = `(${typeOf} = 'array' AND ${f} @> ${bind(ctx, JSON.stringify([atom.value]))}::jsonb)`;
      return negated ? not(sql) : sql;
    }
  }
}

/** json_type of the same path fieldSql extracts: it tells JSON true/false from 1/0, and null from missing. */
function sqliteTypeSql(field: string): string {
  const f = fieldSql('sqlite', field);
  if (!f.startsWith('json_extract(')) throw new Error(`unexpected SQLite field expression ${f}`);
  return `json_type(${f.slice('json_extract('.length)}`;
}

function sqliteTypeIs(type: string, v: Scalar): string {
  if (v === null) return `${type} = 'null'`;
  if (typeof v === 'boolean') return `${type} = '${v}'`;
  return typeof v === 'number' ? `${type} IN ('integer', 'real')` : `${type} = 'text'`;
}

function sqliteAtomSql(atom: Atom, negated: boolean, ctx: SqlContext): string {
  const f = fieldSql('sqlite', atom.field);
  const type = sqliteTypeSql(atom.field);
  switch (atom.kind) {
    case 'cmp': {
      const v = atom.value as Scalar;
      if (atom.op === '==' && v === null) {
        return negated ? `${type} <> 'null'` : `COALESCE(${type}, 'null') = 'null'`;
      }
      if (atom.op === '==' && typeof v === 'boolean') {
        return negated ? `${type} IS NOT '${v}'` : `${type} = '${v}'`;
      }
      const sql = `(${sqliteTypeIs(type, v)} AND ${f} ${atom.op === '==' ? '=' : atom.op} ${bindValue(ctx, atom.field, v)})`;
      return negated ? not(sql) : sql;
    }
    case 'in': {
      const items = atom.list as Scalar[];
      const parts: string[] = [];
      for (const v of items) {
        if (v === null) parts.push(`COALESCE(${type}, 'null') = 'null'`);
        else if (typeof v === 'boolean') parts.push(`${type} = '${v}'`);
      }
      for (const kind of ['string', 'number'] as const) {
        const group = items.filter((v) => typeof v === kind);
        if (group.length === 0) continue;
        const values = group.map((v) => bindValue(ctx, atom.field, v));
        parts.push(`(${sqliteTypeIs(type, group[0] as Scalar)} AND ${f} IN (${values.join(', ')}))`);
      }
      const sql = parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
      return negated ? not(sql) : sql;
    }
    case 'contains': {
      const v = atom.value as Scalar;
      const match =
        v === null || typeof v === 'boolean'
          ? sqliteTypeIs('type', v)
          : `${sqliteTypeIs('type', v)} AND value = ${bindValue(ctx, atom.field, v)}`;
      const sql = `(${type} = 'array' AND EXISTS (SELECT 1 FROM json_each(body, '$.${atom.field}') WHERE ${match}))`;
      return negated ? not(sql) : sql;
    }
  }
}
