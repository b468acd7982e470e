import { createHash } from 'node:crypto';
import { FIELD_NAME, isInt32, isSystemField, unstorableText } from '../schema/field-sql';
import { queryErrors } from './query-errors';

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

function parseValue(field: string, op: Operator, raw: unknown): QueryValue {
  const at = `where.${field}.${op}`;
  if (typeof raw === 'string') {
    if (raw.length > QUERY_LIMITS.stringChars) {
      throw invalid('where', `${at}: strings are at most ${QUERY_LIMITS.stringChars} characters.`);
    }
    const bad = unstorableText(raw);
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
      if (!isInt32(value)) {
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

export function compareStrings(a: string, b: string): number {
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
  if (id === '' || unstorableText(id) || !isValidSortValue(orderBy.field, sortValue)) throw foreign();
  return { id, sortValue: sortValue as JsonValue };
}

function isValidSortValue(field: string, value: unknown): boolean {
  if (field === 'version') {
    return isInt32(value);
  }
  if (isSystemField(field)) return typeof value === 'string' && !unstorableText(value);
  if (value === null) return false;
  // Iterative, so a deeply nested forged value cannot exhaust the stack; no deeper than a stored
  // document can be (SQLite's JSON functions refuse nesting beyond 1,000 levels).
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item === 'string') {
      if (unstorableText(item)) return false;
    } else if (typeof item === 'number') {
      if (!Number.isFinite(item)) return false;
    } else if (Array.isArray(item) || isPlainObject(item)) {
      if (depth > MAX_SORT_VALUE_DEPTH) return false;
      for (const [key, child] of Object.entries(item)) {
        if (unstorableText(key)) return false;
        pending.push([child, depth + 1]);
      }
    } else if (typeof item !== 'boolean' && item !== null) {
      return false;
    }
  }
  return true;
}
