import type { Dialect } from '@tern/store';
import { fieldSql, isSystemField, sqliteTypeSql, tableName, valueSql } from '../schema/field-sql';
import type { Condition, CursorPosition, DocumentQuery, QueryValue } from './parse-query';

export interface CompiledQuery {
  sql: string;
  params: (string | number | boolean | null)[];
}

type Param = string | number | boolean | null;
/** The read rule for one caller, its parameters numbered from `firstParam` (see compileQuery). */
export type ReadRule = (firstParam: number) => 'all' | 'none' | { sql: string; params: Param[] };

/**
 * `SELECT id, owner_id, version, created_at, updated_at, body FROM <table> WHERE <where> AND
 * <keyset> [AND <extra>] ORDER BY <field> [DESC], id [DESC] LIMIT limit+1` (one row more than the
 * page, to tell whether there is a next page).
 *
 * `readRule` gives the read rule for the caller as SQL whose parameters start at the number it
 * is handed (the first after the query's own), or 'all' (no restriction), or 'none': the rule
 * admits no document, and compileQuery answers 'none' rather than a query that matches nothing.
 */
export function compileQuery(dialect: Dialect, collection: string, query: DocumentQuery): CompiledQuery;
export function compileQuery(
  dialect: Dialect,
  collection: string,
  query: DocumentQuery,
  readRule: ReadRule | undefined,
): CompiledQuery | 'none';
export function compileQuery(
  dialect: Dialect,
  collection: string,
  query: DocumentQuery,
  readRule?: ReadRule,
): CompiledQuery | 'none' {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
    throw new RangeError(`invalid limit ${String(query.limit)}`);
  }
  const table = tableName(collection);
  const params: Param[] = [];
  const bind = (field: string, value: QueryValue): string => {
    const bound = valueSql(dialect, field, value, params.length + 1);
    params.push(bound.param);
    return bound.sql;
  };
  const bindRaw = (value: Param): string => {
    params.push(value);
    return `$${params.length}`;
  };

  const predicates = query.where.map((condition) => conditionSql(dialect, condition, bind, bindRaw));
  const order = query.orderBy;
  const orderExpr = fieldSql(dialect, order.field);
  if (!isSystemField(order.field)) {
    // Documents without the order field (or holding null there) are not in an ordered answer.
    predicates.push(
      dialect === 'postgres' ? `jsonb_typeof(${orderExpr}) <> 'null'` : `${orderExpr} IS NOT NULL`,
    );
  }
  if (query.after) predicates.push(keysetSql(dialect, order, query.after, bindRaw));
  const rule = readRule?.(params.length + 1) ?? 'all';
  if (rule === 'none') return 'none';
  if (rule !== 'all') {
    predicates.push(`(${rule.sql})`);
    params.push(...rule.params);
  }

  const direction = order.descending ? ' DESC' : '';
  const sql =
    // The body as JSON text on both: a list answer is assembled from it without parsing it.
    `SELECT id, owner_id, version, created_at, updated_at, ${dialect === 'postgres' ? 'body::text AS body' : 'body'} FROM ${table}` +
    (predicates.length > 0 ? ` WHERE ${predicates.join(' AND ')}` : '') +
    (order.field === 'id'
      ? ` ORDER BY id${direction}`
      : ` ORDER BY ${orderExpr}${direction}, id${direction}`) +
    ` LIMIT ${query.limit + 1}`;
  return { sql, params };
}

/** The JSON type check of a document field, as an SQL predicate. */
function typeSql(dialect: Dialect, field: string, value: QueryValue): string {
  if (dialect === 'postgres') {
    const type = value === null ? 'null' : typeof value;
    return `jsonb_typeof(${fieldSql(dialect, field)}) = '${type}'`;
  }
  const typeExpr = sqliteTypeSql(field);
  if (value === null) return `${typeExpr} = 'null'`;
  if (typeof value === 'string') return `${typeExpr} = 'text'`;
  if (typeof value === 'number') return `${typeExpr} IN ('integer', 'real')`;
  return `${typeExpr} = '${value ? 'true' : 'false'}'`;
}

function conditionSql(
  dialect: Dialect,
  condition: Condition,
  bind: (field: string, value: QueryValue) => string,
  bindRaw: (value: Param) => string,
): string {
  const { field } = condition;
  const expr = fieldSql(dialect, field);
  const system = isSystemField(field);

  /** Type-strict equality with one value (the building block of eq, ne and in). */
  const equals = (value: QueryValue): string => {
    if (system || dialect === 'postgres') return `${expr} = ${bind(field, value)}`;
    // SQLite's json_extract yields NULL for JSON null, and 1/0 for true/false, as for numbers.
    if (value === null) return `(${expr} IS NULL AND ${typeSql(dialect, field, null)})`;
    return `(${expr} = ${bind(field, value)} AND ${typeSql(dialect, field, value)})`;
  };

  switch (condition.op) {
    case 'eq':
      return equals(condition.value);
    case 'ne':
      if (system) return `${expr} <> ${bind(field, condition.value)}`;
      if (dialect === 'postgres') return `${expr} IS DISTINCT FROM ${bind(field, condition.value)}`;
      return `(${equals(condition.value)} IS NOT TRUE)`;
    case 'in': {
      if (system || dialect === 'postgres') {
        return `${expr} IN (${condition.values.map((value) => bind(field, value)).join(', ')})`;
      }
      // Grouped by JSON type, since json_extract alone mixes numbers with booleans.
      const groups = new Map<string, QueryValue[]>();
      for (const value of condition.values) {
        const key = value === null ? 'null' : typeof value === 'boolean' ? String(value) : typeof value;
        groups.set(key, [...(groups.get(key) ?? []), value]);
      }
      const parts = [...groups.values()].map((values) => {
        const [first] = values;
        if (values.length === 1 || first === undefined || first === null || typeof first === 'boolean') {
          return equals(first ?? null);
        }
        const list = values.map((value) => bind(field, value)).join(', ');
        return `(${expr} IN (${list}) AND ${typeSql(dialect, field, first)})`;
      });
      return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const sqlOp = { lt: '<', lte: '<=', gt: '>', gte: '>=' }[condition.op];
      const comparison = `${expr} ${sqlOp} ${bind(field, condition.value)}`;
      return system ? comparison : `(${comparison} AND ${typeSql(dialect, field, condition.value)})`;
    }
    case 'prefix': {
      // A range over the index, [prefix, prefix with its last character incremented): exact in
      // code-point order (SQLite BINARY, PostgreSQL C collation).
      const upper = prefixUpperBound(condition.value);
      const parts = [`${expr} >= ${bind(field, condition.value)}`];
      if (upper !== undefined) parts.push(`${expr} < ${bind(field, upper)}`);
      if (!system) parts.push(typeSql(dialect, field, condition.value));
      if (dialect === 'postgres') {
        // Exact under any collation too; the range above is what the index serves.
        const text = system ? expr : `(${expr} #>> '{}')`;
        parts.push(`starts_with(${text}, ${bindRaw(condition.value)})`);
      }
      return `(${parts.join(' AND ')})`;
    }
  }
}

/** The least string above every string starting with `prefix`, in code-point order. */
function prefixUpperBound(prefix: string): string | undefined {
  const codePoints = [...prefix].map((char) => char.codePointAt(0) as number);
  while (codePoints.length > 0) {
    const last = codePoints.pop() as number;
    if (last < 0x10ffff) {
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1);
      return String.fromCodePoint(...codePoints);
    }
  }
  return undefined;
}

/** Rows strictly after the cursor in (order field, id) order, written so an index on the field serves it. */
function keysetSql(
  dialect: Dialect,
  order: DocumentQuery['orderBy'],
  after: CursorPosition,
  bindRaw: (value: Param) => string,
): string {
  const beyond = order.descending ? '<' : '>';
  if (order.field === 'id') return `id ${beyond} ${bindRaw(after.id)}`;
  const expr = fieldSql(dialect, order.field);
  let value: string;
  if (isSystemField(order.field)) {
    value = bindRaw(after.sortValue as string | number);
  } else if (dialect === 'postgres') {
    value = `${bindRaw(JSON.stringify(after.sortValue))}::jsonb`;
  } else {
    // The same SQL value json_extract gives for the document's field (1/0 for booleans, JSON text for containers).
    value = `json_extract(${bindRaw(JSON.stringify(after.sortValue))}, '$')`;
  }
  const id = bindRaw(after.id);
  return `(${expr} ${beyond}= ${value} AND (${expr} ${beyond} ${value} OR id ${beyond} ${id}))`;
}
