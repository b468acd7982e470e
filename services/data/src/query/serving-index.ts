import { compareStrings, type DocumentQuery } from './parse-query';

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
