import { createHash } from 'node:crypto';
import type { Dialect } from '@tern/store';
import { FIELD_NAME, fieldSql, isSystemField, tableName, valueSql } from '../schema/field-sql';
import { queryErrors } from './query-errors';

/**
 * The list endpoint's query: `where` / `orderBy` / `limit` / `cursor` parsed into a DocumentQuery,
 * compiled to one SQL statement per dialect, paginated by keyset.
 *
 * Semantics (identical on SQLite and PostgreSQL, and what the tests check against a JS filter):
 *
 * - Comparisons are type-strict over JSON types: a condition only matches a field holding a value
 *   of the same JSON type as the condition's value. `{"n":{"eq":1}}` does not match `true` or `"1"`,
 *   `{"n":{"lt":5}}` matches numbers below 5 only (never strings, booleans or null).
 * - `eq null` matches a field holding JSON null, not a missing field.
 * - `ne` is the exact complement of `eq`: it matches every document `eq` does not, including those
 *   without the field and those holding another type.
 * - `in` is the union of `eq` over 1–100 values (duplicates are dropped), so it never matches a
 *   missing field.
 * - `lt`, `lte`, `gt`, `gte` take a string or a number. Numbers compare numerically, strings by code
 *   point (SQLite BINARY; on PostgreSQL the database collation, which must be C / C.UTF-8 as Tern's
 *   databases are; a locale collation would order strings differently).
 * - `prefix` takes a non-empty string and matches strings starting with it, character for
 *   character: `%`, `_` and `\` have no special meaning (it compiles to a range, not LIKE).
 * - Several operators on one field are ANDed; all conditions are ANDed; at most 10 conditions.
 * - System fields (id, ownerId, version, createdAt, updatedAt) are columns: version takes 32-bit
 *   integers, the others strings; null and booleans are refused for them.
 *
 * Ordering: `orderBy` defaults to `createdAt` ascending; `-field` is descending. Ties are broken by
 * `id` in the same direction, so the order is total and keyset pagination never skips or repeats a
 * document, also while documents are inserted between pages (an inserted document shows up on a
 * later page if it sorts after the cursor, otherwise not at all). Ordering by a document field only
 * returns documents where that field is present and not null (as Firestore does), so both dialects
 * agree on where missing values go: nowhere. A field holding values of several JSON types sorts in
 * each dialect's own cross-type order (PostgreSQL: string < number < boolean < array < object;
 * SQLite: number and boolean (as 0/1) < string, array, object as text); pagination stays total.
 *
 * SQL: the field and value expressions are fieldSql/valueSql's exactly, so expression indexes
 * apply; extra type checks (`jsonb_typeof`, `json_type`) are separate ANDed filters.
 */

export type QueryValue = string | number | boolean | null;
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type RangeOperator = 'lt' | 'lte' | 'gt' | 'gte';
export type Condition =
  | { field: string; op: 'eq' | 'ne'; value: QueryValue }
  | { field: string; op: RangeOperator; value: string | number }
  | { field: string; op: 'prefix'; value: string }
  | { field: string; op: 'in'; values: QueryValue[] };
/** Conditions ANDed, in a canonical order (by field, then operator). */
export type WhereClause = Condition[];
/** The last row of the previous page: its id and its value of the order field. */
export interface CursorPosition {
  id: string;
  sortValue: JsonValue;
}

export interface DocumentQuery {
  where: WhereClause;
  orderBy: { field: string; descending: boolean };
  limit: number;
  after: CursorPosition | undefined;
}

export const QUERY_LIMITS = {
  whereBytes: 8 * 1024,
  conditions: 10,
  inValues: 100,
  stringChars: 1_000,
  defaultLimit: 20,
  maxLimit: 100,
  cursorChars: 16 * 1024,
} as const;

const OPERATORS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'prefix'] as const;
type Operator = (typeof OPERATORS)[number];
const isOperator = (name: string): name is Operator => (OPERATORS as readonly string[]).includes(name);
/** Names the runtime refuses in JSON bodies, so no document can hold them. */
const RESERVED_FIELDS = new Set(['__proto__', 'constructor']);
const DEFAULT_ORDER = { field: 'createdAt', descending: false } as const;
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const LONE_SURROGATE = /\p{Surrogate}/u;
/** Nesting of a cursor's sort value, as deep as a document may nest (MAX_DOCUMENT_DEPTH). */
const MAX_SORT_VALUE_DEPTH = 100;

type Parameter = 'where' | 'orderBy' | 'limit' | 'cursor';
const invalid = (parameter: Parameter, detail: string) => queryErrors.invalidQuery(parameter, detail);

/** A user-supplied name or value for an error detail, cut short so a huge input is not echoed back. */
function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

export function parseQuery(input: {
  where?: string;
  orderBy?: string;
  limit?: number;
  cursor?: string;
}): DocumentQuery {
  const where = input.where === undefined ? [] : parseWhere(input.where);
  const orderBy = input.orderBy === undefined ? { ...DEFAULT_ORDER } : parseOrderBy(input.orderBy);
  const limit = parseLimit(input.limit);
  const after = input.cursor === undefined ? undefined : parseCursor(input.cursor, where, orderBy);
  return { where, orderBy, limit, after };
}

function checkField(parameter: Parameter, field: string): void {
  if (!isSystemField(field) && !FIELD_NAME.test(field)) {
    throw invalid(
      parameter,
      `${shown(field)} is not a field name: use a system field (id, ownerId, version, createdAt, updatedAt) ` +
        'or letters, digits and _, starting with a letter or _, at most 64 characters.',
    );
  }
  if (RESERVED_FIELDS.has(field)) throw invalid(parameter, `${shown(field)} is a reserved name.`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a string cannot be stored or bound by both databases, if it cannot. */
function badString(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired surrogate (not valid Unicode)';
  return undefined;
}

function parseValue(field: string, op: Operator, raw: unknown): QueryValue {
  const at = `where.${field}.${op}`;
  if (typeof raw === 'string') {
    if (raw.length > QUERY_LIMITS.stringChars) {
      throw invalid('where', `${at}: strings are at most ${QUERY_LIMITS.stringChars} characters.`);
    }
    const bad = badString(raw);
    if (bad) throw invalid('where', `${at}: the string ${bad}.`);
  } else if (typeof raw === 'number') {
    // JSON.parse turns 1e999 into Infinity.
    if (!Number.isFinite(raw)) throw invalid('where', `${at}: numbers must be finite.`);
  } else if (typeof raw !== 'boolean' && raw !== null) {
    throw invalid('where', `${at}: values are JSON scalars (string, number, boolean, null); no nesting.`);
  }
  const value = raw === 0 ? 0 : raw; // -0 → 0
  if (isSystemField(field)) {
    if (field === 'version') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        throw invalid('where', `${at}: version takes a 32-bit integer.`);
      }
    } else if (typeof value !== 'string') {
      throw invalid('where', `${at}: ${field} takes a string.`);
    }
  }
  return value;
}

function parseCondition(field: string, op: Operator, raw: unknown): Condition {
  const at = `where.${field}.${op}`;
  switch (op) {
    case 'eq':
    case 'ne':
      return { field, op, value: parseValue(field, op, raw) };
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const value = parseValue(field, op, raw);
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw invalid('where', `${at}: ${op} takes a string or a number.`);
      }
      return { field, op, value };
    }
    case 'prefix': {
      const value = parseValue(field, op, raw);
      if (typeof value !== 'string' || value === '') {
        throw invalid('where', `${at}: prefix takes a non-empty string.`);
      }
      return { field, op, value };
    }
    case 'in': {
      if (!Array.isArray(raw) || raw.length === 0 || raw.length > QUERY_LIMITS.inValues) {
        throw invalid('where', `${at}: in takes an array of 1 to ${QUERY_LIMITS.inValues} values.`);
      }
      const unique = new Map<string, QueryValue>();
      for (const item of raw as unknown[]) {
        const value = parseValue(field, op, item);
        unique.set(JSON.stringify(value), value);
      }
      const keys = [...unique.keys()].sort();
      return { field, op, values: keys.map((key) => unique.get(key) as QueryValue) };
    }
  }
}

function parseWhere(text: string): WhereClause {
  if (text === '') throw invalid('where', 'where is empty; omit it or pass a JSON object.');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > QUERY_LIMITS.whereBytes) {
    throw invalid('where', `where is ${bytes} bytes; at most ${QUERY_LIMITS.whereBytes} are accepted.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('where', 'where is not valid JSON.');
  }
  if (!isPlainObject(parsed)) {
    throw invalid('where', 'where must be a JSON object: {"field": {"operator": value}}.');
  }
  const conditions: Condition[] = [];
  for (const [field, operators] of Object.entries(parsed)) {
    checkField('where', field);
    if (!isPlainObject(operators) || Object.keys(operators).length === 0) {
      throw invalid('where', `where.${field} must be an object of operators, e.g. {"eq": 1}.`);
    }
    for (const [op, raw] of Object.entries(operators)) {
      if (!isOperator(op)) {
        throw invalid(
          'where',
          `where.${field}: unknown operator ${shown(op)}; use one of ${OPERATORS.join(', ')}.`,
        );
      }
      if (conditions.length === QUERY_LIMITS.conditions) {
        throw invalid('where', `where has more than ${QUERY_LIMITS.conditions} conditions.`);
      }
      conditions.push(parseCondition(field, op, raw));
    }
  }
  return conditions.sort(
    (a, b) => compareStrings(a.field, b.field) || OPERATORS.indexOf(a.op) - OPERATORS.indexOf(b.op),
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseOrderBy(text: string): DocumentQuery['orderBy'] {
  const descending = text.startsWith('-');
  const field = descending ? text.slice(1) : text;
  if (field === '') throw invalid('orderBy', 'orderBy names a field, with - in front for descending.');
  checkField('orderBy', field);
  return { field, descending };
}

function parseLimit(limit: number | undefined): number {
  if (limit === undefined) return QUERY_LIMITS.defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_LIMITS.maxLimit) {
    throw invalid('limit', `limit must be an integer from 1 to ${QUERY_LIMITS.maxLimit}.`);
  }
  return limit;
}

/** Binds a cursor to its query: where and orderBy (not limit, which may change between pages). */
function fingerprint(where: WhereClause, orderBy: DocumentQuery['orderBy']): string {
  return createHash('sha256')
    .update(JSON.stringify([where, orderBy.field, orderBy.descending]))
    .digest('base64url')
    .slice(0, 22);
}

export function encodeCursor(query: DocumentQuery, lastRow: { id: string; sortValue: unknown }): string {
  const field = query.orderBy.field;
  const sortValue = field === 'id' ? lastRow.id : lastRow.sortValue;
  if (sortValue === undefined || sortValue === null) {
    // Ordering by a field excludes documents where it is missing or null, so this is a caller bug.
    throw new TypeError(`encodeCursor: the last row has no value of ${field}`);
  }
  const payload = { q: fingerprint(query.where, query.orderBy), i: lastRow.id, v: sortValue };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

function parseCursor(text: string, where: WhereClause, orderBy: DocumentQuery['orderBy']): CursorPosition {
  const foreign = () => invalid('cursor', 'cursor is not one this endpoint issued; start again without it.');
  if (text.length > QUERY_LIMITS.cursorChars) {
    throw invalid('cursor', `cursor is longer than ${QUERY_LIMITS.cursorChars} characters.`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw foreign();
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw foreign();
  }
  if (
    !isPlainObject(payload) ||
    typeof payload.q !== 'string' ||
    typeof payload.i !== 'string' ||
    !Object.hasOwn(payload, 'v')
  ) {
    throw foreign();
  }
  if (payload.q !== fingerprint(where, orderBy)) {
    throw invalid(
      'cursor',
      'cursor was issued for a different where or orderBy; keep them unchanged while paginating.',
    );
  }
  const id = payload.i;
  const sortValue = payload.v;
  if (id === '' || badString(id) || !isValidSortValue(orderBy.field, sortValue)) throw foreign();
  return { id, sortValue: sortValue as JsonValue };
}

function isValidSortValue(field: string, value: unknown): boolean {
  if (field === 'version') {
    return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
  }
  if (isSystemField(field)) return typeof value === 'string' && !badString(value);
  if (value === null) return false;
  // Iterative, so a deeply nested forged value cannot exhaust the stack; no deeper than a stored
  // document can be (SQLite's JSON functions refuse nesting beyond 1,000 levels).
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item === 'string') {
      if (badString(item)) return false;
    } else if (typeof item === 'number') {
      if (!Number.isFinite(item)) return false;
    } else if (Array.isArray(item) || isPlainObject(item)) {
      if (depth > MAX_SORT_VALUE_DEPTH) return false;
      for (const [key, child] of Object.entries(item)) {
        if (badString(key)) return false;
        pending.push([child, depth + 1]);
      }
    } else if (typeof item !== 'boolean' && item !== null) {
      return false;
    }
  }
  return true;
}

export interface IndexDefinition {
  fields: string[];
  unique: boolean;
}

/**
 * Whether some declared index serves the query; if not, the index that would.
 *
 * An index serves a query when its leading fields are exactly the fields compared with `eq` (in
 * any order) followed by the order field, so the database reads only matching documents, already
 * in order, and stops at the limit. If the order field is itself compared with `eq`, the leading
 * fields need only be the `eq` fields. A unique index all of whose fields are compared with `eq`
 * serves any query (at most one document). The primary key serves a query with `eq` or `in` on
 * `id`, and one ordered by `id` with no `eq` condition. Other conditions (ne, in, ranges, prefix)
 * are filters applied while reading the index: they narrow the answer, not the work. The
 * suggestion is the `eq` fields (sorted) followed by the order field.
 */
export function servingIndex(
  query: DocumentQuery,
  indexes: IndexDefinition[],
): { served: true; by: IndexDefinition | 'primary-key' } | { served: false; suggestion: IndexDefinition } {
  const order = query.orderBy.field;
  const equal = new Set(query.where.filter((c) => c.op === 'eq').map((c) => c.field));
  if (query.where.some((c) => c.field === 'id' && (c.op === 'eq' || c.op === 'in'))) {
    return { served: true, by: 'primary-key' };
  }
  const prefix = [...equal].filter((field) => field !== order).sort(compareStrings);
  const leading = equal.has(order) ? [...prefix, order] : prefix;
  for (const index of indexes) {
    if (index.unique && index.fields.length > 0 && index.fields.every((field) => equal.has(field))) {
      return { served: true, by: index };
    }
    const head = new Set(index.fields.slice(0, leading.length));
    const startsWithEqualities = head.size === leading.length && leading.every((field) => head.has(field));
    if (!startsWithEqualities) continue;
    if (equal.has(order) || index.fields[leading.length] === order) return { served: true, by: index };
  }
  if (order === 'id' && equal.size === 0) return { served: true, by: 'primary-key' };
  return { served: false, suggestion: { fields: [...prefix, order], unique: false } };
}

export interface CompiledQuery {
  sql: string;
  params: (string | number | boolean | null)[];
}

type Param = string | number | boolean | null;

/**
 * `SELECT id, owner_id, version, created_at, updated_at, body FROM <table> WHERE <where> AND
 * <keyset> [AND <extra>] ORDER BY <field> [DESC], id [DESC] LIMIT limit+1` (one row more than the
 * page, to tell whether there is a next page).
 *
 * `extra` is the read rule, already compiled: its SQL numbers its own parameters `$1..$k` for
 * `extra.params[0..k-1]`, and compileQuery shifts them after the query's own (`$1` becomes `$n+1`
 * when the query binds n). Placeholders inside quoted literals and identifiers are left alone;
 * every `$i` must be within 1..k and every parameter used (PostgreSQL refuses unused ones).
 * `extra` undefined adds nothing; `'none'` means the rule admits no document: the query matches none.
 */
export function compileQuery(
  dialect: Dialect,
  collection: string,
  query: DocumentQuery,
  extra?: { sql: string; params: Param[] } | 'none',
): CompiledQuery {
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
  if (extra === 'none') {
    predicates.push('1 = 0');
  } else if (extra !== undefined) {
    predicates.push(`(${shiftPlaceholders(extra.sql, params.length, extra.params.length)})`);
    params.push(...extra.params);
  }

  const direction = order.descending ? ' DESC' : '';
  const sql =
    `SELECT id, owner_id, version, created_at, updated_at, body FROM ${table}` +
    (predicates.length > 0 ? ` WHERE ${predicates.join(' AND ')}` : '') +
    (order.field === 'id'
      ? ` ORDER BY id${direction}`
      : ` ORDER BY ${orderExpr}${direction}, id${direction}`) +
    ` LIMIT ${query.limit + 1}`;
  return { sql, params };
}

/** The JSON type check of a document field, as an SQL predicate. */
function typeSql(dialect: Dialect, expr: string, value: QueryValue): string {
  if (dialect === 'postgres') {
    const type = value === null ? 'null' : typeof value;
    return `jsonb_typeof(${expr}) = '${type}'`;
  }
  // json_type takes the same arguments as fieldSql's json_extract.
  const typeExpr = expr.replace(/^json_extract\(/, 'json_type(');
  if (typeExpr === expr) throw new Error(`unexpected SQLite field expression ${expr}`);
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
    if (value === null) return `(${expr} IS NULL AND ${typeSql(dialect, expr, null)})`;
    return `(${expr} = ${bind(field, value)} AND ${typeSql(dialect, expr, value)})`;
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
        return `(${expr} IN (${list}) AND ${typeSql(dialect, expr, first)})`;
      });
      return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const sqlOp = { lt: '<', lte: '<=', gt: '>', gte: '>=' }[condition.op];
      const comparison = `${expr} ${sqlOp} ${bind(field, condition.value)}`;
      return system ? comparison : `(${comparison} AND ${typeSql(dialect, expr, condition.value)})`;
    }
    case 'prefix': {
      // A range over the index, [prefix, prefix with its last character incremented): exact in
      // code-point order (SQLite BINARY, PostgreSQL C collation).
      const upper = prefixUpperBound(condition.value);
      const parts = [`${expr} >= ${bind(field, condition.value)}`];
      if (upper !== undefined) parts.push(`${expr} < ${bind(field, upper)}`);
      if (!system) parts.push(typeSql(dialect, expr, condition.value));
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

/** Renumbers `$1..$count` in `sql` by `offset`, leaving quoted literals and identifiers alone. */
function shiftPlaceholders(sql: string, offset: number, count: number): string {
  const used = new Set<number>();
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const char = sql[i] as string;
    if (char === "'" || char === '"') {
      const end = sql.indexOf(char, i + 1);
      if (end === -1) throw new Error('extra.sql has an unterminated quote');
      out += sql.slice(i, end + 1);
      i = end + 1; // a doubled quote ('') is read as two adjacent literals, which is equivalent here
      continue;
    }
    const match =
      char === '$' && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? ' ') ? /^\$(\d+)/.exec(sql.slice(i)) : null;
    if (match) {
      const n = Number(match[1]);
      if (n < 1 || n > count) throw new Error(`extra.sql uses $${n} but extra.params has ${count} values`);
      used.add(n);
      out += `$${n + offset}`;
      i += match[0].length;
      continue;
    }
    out += char;
    i += 1;
  }
  if (used.size !== count)
    throw new Error(`extra.params has ${count} values but extra.sql uses ${used.size}`);
  return out;
}
