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

export {
  encodeCursor,
  parseQuery,
  QUERY_LIMITS,
  type Condition,
  type CursorPosition,
  type DocumentQuery,
  type JsonValue,
  type QueryValue,
  type RangeOperator,
  type WhereClause,
} from './parse-query';
export { compileQuery, type CompiledQuery, type ReadRule } from './query-sql';
export { servingIndex, type IndexDefinition } from './serving-index';
