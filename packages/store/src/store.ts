/** A value that both SQLite and PostgreSQL bind the same way. Dates are sent as ISO-8601 strings. */
export type SqlParam = string | number | bigint | boolean | null | Date | Buffer;
export type Row = Record<string, unknown>;

/**
 * Something SQL runs on: the store itself, or a transaction. Placeholders are `$1`, `$2`, … in
 * both dialects; `query` takes one statement. Integers read back as `number`, or as `bigint` when
 * beyond 2^53 so nothing is silently rounded (this includes PostgreSQL's BIGINT and COUNT(*)).
 */
export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  execute(sql: string, params?: readonly SqlParam[]): Promise<{ rowCount: number }>;
}

export type Dialect = 'sqlite' | 'postgres';

/** Reads only: what `Store.reader` returns. */
export interface Reader {
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
}

export interface ReadOptions {
  /**
   * A consistency token from a write (`transactionWithToken`): the read sees that write. Served by
   * a replica only once it has replayed past the token, else by the primary. A string that is not
   * a token is treated as "the newest write": the primary answers.
   */
  after?: string;
}

/**
 * A versioned migration owned by one service. `sql` may differ per dialect and may hold several
 * statements. Ids are positive integers listed in strictly increasing order; once applied, an id's
 * name is fixed and new migrations must take ids above every applied one.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string | { sqlite: string; postgres: string };
  /**
   * `false` runs the SQL outside a transaction, for statements that refuse to run inside one
   * (PostgreSQL's `CREATE INDEX CONCURRENTLY`, SQLite's `VACUUM`). PostgreSQL then runs it as one
   * implicit transaction when it holds several statements, so give such a migration a single
   * statement, and make it idempotent (`IF NOT EXISTS`): a crash between the SQL and its
   * bookkeeping row runs it again on the next start. On PostgreSQL such a migration neither runs
   * nor is recorded while an index is invalid (left by a failed `CREATE INDEX CONCURRENTLY`).
   */
  transactional?: boolean;
}

export interface MigrationResult {
  applied: { id: number; name: string }[];
  alreadyApplied: number;
}

export interface Store extends Queryable {
  readonly kind: Dialect;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws (the
   * error is rethrown). Run SQL through `tx` only: `tx` rejects once the transaction has ended, and
   * transactions do not nest. On SQLite, transactions take turns, so using the store itself inside
   * `fn` would wait for `fn`; it rejects with `store/nested-transaction` instead.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * `transaction`, and with its result a consistency token naming the commit, for reads elsewhere
   * that must see it (`reader({ after })`). The token is `undefined` on a store without replicas,
   * where every read sees every commit.
   */
  transactionWithToken<T>(fn: (tx: Queryable) => Promise<T>): Promise<{ result: T; consistency?: string }>;
  /**
   * A token covering every commit made so far, for an answer that reports a write committed
   * earlier (an idempotent replay). `undefined` where `transactionWithToken` gives none.
   */
  consistencyToken(): Promise<string | undefined>;
  /**
   * Where reads that may lag slightly go: the least-loaded read replica in rotation that satisfies
   * `options`, or the primary when none does. A replica that fails mid-read is taken out of
   * rotation and the read is retried on the primary, so a replica never fails a read. On SQLite and
   * on PostgreSQL without replicas, the store itself.
   */
  reader(options?: ReadOptions): Reader;
  /** Applies the service's pending migrations in id order; concurrent callers never race. */
  migrate(service: string, migrations: readonly Migration[]): Promise<MigrationResult>;
  /** Ids of a service's applied migrations, for readiness checks; empty before the first migrate. */
  appliedMigrations(service: string): Promise<number[]>;
  ping(): Promise<void>;
  /** Waits for the open transactions to finish, then closes; later calls reject with `store/closed`. */
  close(): Promise<void>;
}

export type StoreConfig =
  | { kind: 'sqlite'; file: string }
  | {
      kind: 'postgres';
      url: string;
      poolSize: number;
      statementTimeoutMs?: number;
      replicas?: { urls: readonly string[]; maxLagMs?: number };
    };
