import type { Dialect } from '@tern/store';
import { parseRule } from './parse-rule';
import { partial, residualSql, type SqlContext } from './rule-sql';
import { evalCond, type RuleAuth } from './rule-values';

export type { RuleAuth } from './rule-values';

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
