import type { Dialect } from '@tern/store';
import { fieldSql, isInt32, isSystemField, sqliteTypeSql, valueSql } from '../schema/field-sql';
import type { CmpOp, Cond, Operand, Order, Scalar } from './parse-rule';
import {
  isScalar,
  operandValue,
  valueCmp,
  valueIn,
  type Element,
  type RuleAuth,
  type Value,
} from './rule-values';

type SqlValue = string | number | boolean | null;

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

export function partial(cond: Cond, auth: RuleAuth | undefined, negated: boolean): Residual {
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

export interface SqlContext {
  dialect: Dialect;
  params: SqlValue[];
  next: number;
}

export function residualSql(residual: Exclude<Residual, boolean>, ctx: SqlContext): string {
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
  if (ctx.dialect === 'postgres' && field === 'version' && !isInt32(value)) return `${sql}::float8`;
  return sql;
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
