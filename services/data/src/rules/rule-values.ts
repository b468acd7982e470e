import type { CmpOp, Cond, Operand, Order, Scalar } from './parse-rule';

export interface RuleAuth {
  id: string;
  roles: string[];
  claims: Record<string, unknown>;
  anonymous: boolean;
}

// ---------------------------------------------------------------------------------------------
// Values and their semantics, shared by evaluate and the SQL partial evaluation

/** What a value can be at run time: a scalar, an array, or something opaque that equals nothing. */
type Opaque = { readonly opaque: true };
export type Element = Scalar | Opaque;
export type Value = Element | readonly Element[];

const OPAQUE: Opaque = Object.freeze({ opaque: true });

export function isScalar(value: Value): value is Scalar {
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

export function valueCmp(op: CmpOp, a: Value, b: Value): boolean {
  return op === '==' ? valueEquals(a, b) : valueOrder(op, a, b);
}

export function valueIn(x: Value, list: Value): boolean {
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

export function operandValue(
  operand: Operand,
  auth: RuleAuth | undefined,
  doc: Record<string, unknown>,
): Value {
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

export function evalCond(cond: Cond, auth: RuleAuth | undefined, doc: Record<string, unknown>): boolean {
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
