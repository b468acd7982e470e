import { fieldErrorsProblem, TernError, type FieldError } from '@tern/errors';

export const dataErrors = {
  notFound: () =>
    new TernError({ code: 'data/not-found', status: 404, title: 'Not Found', detail: 'No such document.' }),
  forbidden: (operation: string) =>
    new TernError({
      code: 'data/forbidden',
      status: 403,
      title: 'Forbidden',
      detail: `The collection's ${operation} rule does not allow this.`,
    }),
  invalidDocument: (errors: FieldError[]) =>
    new TernError({
      code: 'data/invalid-document',
      status: 400,
      title: 'Bad Request',
      ...fieldErrorsProblem(errors),
    }),
  versionMismatch: (current: number | undefined) =>
    new TernError({
      code: 'data/version-mismatch',
      status: 412,
      title: 'Precondition Failed',
      detail: 'The document changed since that version; read it again and retry.',
      details: current === undefined ? {} : { currentVersion: current },
    }),
  idTaken: () =>
    new TernError({
      code: 'data/id-taken',
      status: 409,
      title: 'Conflict',
      detail: 'A document with this id already exists.',
    }),
  cursorExpired: () =>
    new TernError({
      code: 'data/cursor-expired',
      status: 410,
      title: 'Gone',
      detail:
        'The change feed no longer holds changes this far back: sync the collection in full, then follow the feed from its head.',
    }),
  invalidConsistencyToken: () =>
    new TernError({
      code: 'data/invalid-consistency-token',
      status: 400,
      title: 'Bad Request',
      detail:
        'Tern-Consistency must be a token from a write answer (such as 0/16B3748), sent back unchanged.',
    }),
  invalidIfMatch: () =>
    new TernError({
      code: 'data/invalid-if-match',
      status: 400,
      title: 'Bad Request',
      detail: 'If-Match must be a document version: a positive integer, optionally quoted.',
    }),
};
