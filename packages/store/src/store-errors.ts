import { TernError } from '@tern/errors';

/**
 * The store's own errors: misuse and migration problems. Database errors (constraint violations,
 * syntax errors) pass through unchanged; `isUniqueViolation` recognises the common one portably.
 */
export const storeErrors = {
  closed: () =>
    new TernError({
      code: 'store/closed',
      status: 503,
      title: 'Service Unavailable',
      detail: 'The store is closed; this instance is shutting down.',
      retryable: true,
    }),
  transactionFinished: () =>
    new TernError({
      code: 'store/transaction-finished',
      status: 500,
      title: 'Internal Server Error',
      detail: 'A transaction handle was used after its transaction committed or rolled back.',
    }),
  nestedTransaction: () =>
    new TernError({
      code: 'store/nested-transaction',
      status: 500,
      title: 'Internal Server Error',
      detail:
        'The SQLite store was used inside one of its own transactions; run SQL through the `tx` argument (it would otherwise wait for itself forever).',
    }),
  transactionAborted: () =>
    new TernError({
      code: 'store/transaction-aborted',
      status: 500,
      title: 'Internal Server Error',
      detail:
        'A statement failed inside the transaction and PostgreSQL rolled it back; rethrow query errors instead of catching them inside `transaction`.',
    }),
  invalidMigrations: (service: string, problem: string) =>
    new TernError({
      code: 'store/invalid-migrations',
      status: 500,
      title: 'Internal Server Error',
      detail: `Migrations of ${service} are invalid: ${problem}.`,
      details: { service },
    }),
  migrationConflict: (service: string, problem: string) =>
    new TernError({
      code: 'store/migration-conflict',
      status: 500,
      title: 'Internal Server Error',
      detail: `Migrations of ${service} disagree with the database: ${problem}.`,
      details: { service },
    }),
  migrationLockTimeout: (waitedMs: number) =>
    new TernError({
      code: 'store/migration-lock-timeout',
      status: 503,
      title: 'Service Unavailable',
      detail: `Another instance held the migration lock for ${Math.round(waitedMs / 1000)} s; its migrations are still running or it is stuck holding the lock.`,
      retryable: true,
    }),
  migrationFailed: (service: string, migration: { id: number; name: string }, cause: unknown) =>
    new TernError({
      code: 'store/migration-failed',
      status: 500,
      title: 'Internal Server Error',
      detail: `Migration ${migration.id} (${migration.name}) of ${service} failed: ${cause instanceof Error ? cause.message : String(cause)}.`,
      details: { service, migration: migration.id },
      cause,
    }),
};
