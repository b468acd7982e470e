/** A value that both SQLite and PostgreSQL bind the same way. */
export type SqlParam = string | number | bigint | boolean | null | Date | Buffer;
export type Row = Record<string, unknown>;

/** Something SQL runs on: the store itself, or a transaction. Placeholders are `$1`, `$2`, … in both dialects. */
export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  execute(sql: string, params?: readonly SqlParam[]): Promise<{ rowCount: number }>;
}

export type Dialect = 'sqlite' | 'postgres';

/** A versioned migration owned by one service. `sql` may differ per dialect. */
export interface Migration {
  id: number;
  name: string;
  sql: string | { sqlite: string; postgres: string };
}

export interface MigrationResult {
  applied: { id: number; name: string }[];
  alreadyApplied: number;
}

export interface Store extends Queryable {
  readonly kind: Dialect;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Applies the service's pending migrations in id order; concurrent callers never race. */
  migrate(service: string, migrations: readonly Migration[]): Promise<MigrationResult>;
  /** Ids of a service's applied migrations, for readiness checks. */
  appliedMigrations(service: string): Promise<number[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type StoreConfig = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; poolSize: number };
