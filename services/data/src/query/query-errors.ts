import { TernError } from '@tern/errors';

/** The errors the list endpoint's query handling answers with (to be listed in docs/errors.md). */
export const queryErrors = {
  /** `parameter` is the query-string parameter at fault: where, orderBy, limit or cursor. */
  invalidQuery: (parameter: 'where' | 'orderBy' | 'limit' | 'cursor', detail: string) =>
    new TernError({
      code: 'data/invalid-query',
      status: 400,
      title: 'Bad Request',
      detail,
      details: { parameter },
    }),
  /** A query no declared index serves, on a collection above the configured size. */
  unindexedQuery: (collection: string, suggestion: { fields: string[] }) =>
    new TernError({
      code: 'data/unindexed-query',
      status: 400,
      title: 'Bad Request',
      detail:
        `No index of collection ${collection} serves this query; ` +
        `an index on (${suggestion.fields.join(', ')}) would.`,
      details: { suggestedIndex: { fields: suggestion.fields } },
    }),
};
