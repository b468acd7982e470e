import type { Dialect } from '@tern/store';

/**
 * How documents are stored, the one place that says it: one table per collection,
 * `data_c_<collection>` (collection names match COLLECTION_NAME), with the system fields as
 * columns and the rest of the document as JSON in `body` (PostgreSQL JSONB, SQLite TEXT):
 *
 *   id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, version INTEGER NOT NULL,
 *   created_at TEXT NOT NULL, updated_at TEXT NOT NULL   -- ISO-8601 UTC with milliseconds
 *   body JSONB | TEXT NOT NULL
 *
 * A document field in SQL is `body -> 'name'` on PostgreSQL (JSONB, compared with JSONB
 * parameters, so a value of an unexpected type never makes a cast fail) and
 * `json_extract(body, '$.name')` on SQLite. Indexes are expression indexes over exactly these
 * expressions, so the planner matches them.
 */
export const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,47}$/;
/** Top-level document fields only; the pattern keeps names safe to splice into JSON paths. */
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const SYSTEM_FIELDS = {
  id: 'id',
  ownerId: 'owner_id',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} as const;

export type SystemField = keyof typeof SYSTEM_FIELDS;

export function isSystemField(name: string): name is SystemField {
  return Object.hasOwn(SYSTEM_FIELDS, name);
}

export function tableName(collection: string): string {
  if (!COLLECTION_NAME.test(collection))
    throw new RangeError(`invalid collection name ${JSON.stringify(collection)}`);
  return `data_c_${collection}`;
}

/** The SQL expression of a field, for WHERE, ORDER BY and CREATE INDEX alike. */
export function fieldSql(dialect: Dialect, field: string): string {
  if (isSystemField(field)) return SYSTEM_FIELDS[field];
  if (!FIELD_NAME.test(field)) throw new RangeError(`invalid field name ${JSON.stringify(field)}`);
  return dialect === 'postgres' ? `(body -> '${field}')` : `json_extract(body, '$.${field}')`;
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/** Why a string cannot be stored or bound alike by both databases (JSONB refuses both), if it cannot. */
export function unstorableText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired surrogate (not valid Unicode)';
  return undefined;
}

/** Whether a value fits PostgreSQL's INTEGER (the `version` column). */
export function isInt32(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= -2_147_483_648 && value <= 2_147_483_647
  );
}

/**
 * SQLite's `json_type` of the same path `fieldSql` extracts: it tells JSON true/false from 1/0,
 * and null from missing, which `json_extract` cannot.
 */
export function sqliteTypeSql(field: string): string {
  if (isSystemField(field)) throw new RangeError(`system field ${field} has no JSON type`);
  if (!FIELD_NAME.test(field)) throw new RangeError(`invalid field name ${JSON.stringify(field)}`);
  return `json_type(body, '$.${field}')`;
}

/**
 * A placeholder for a value compared with `fieldSql(dialect, field)`: on PostgreSQL a document
 * field is JSONB, so the value is bound as JSON text and cast; system fields take plain values.
 * Returns the SQL and the parameter to bind at `$index`.
 */
export function valueSql(
  dialect: Dialect,
  field: string,
  value: string | number | boolean | null,
  index: number,
): { sql: string; param: string | number | boolean | null } {
  if (dialect === 'postgres' && !isSystemField(field)) {
    return { sql: `$${index}::jsonb`, param: JSON.stringify(value) };
  }
  if (dialect === 'sqlite' && typeof value === 'boolean') {
    // json_extract yields 1/0 for JSON true/false.
    return { sql: `$${index}`, param: value ? 1 : 0 };
  }
  return { sql: `$${index}`, param: value };
}
