import type { Logger } from '@tern/telemetry';
import { storeErrors } from './store-errors';
import type { Dialect, Migration, MigrationResult, Row, SqlParam } from './store';

/** What applying migrations needs from a dialect, beyond `Queryable`: multi-statement SQL. */
export interface MigrationTx {
  query(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** Runs SQL that may hold several statements; takes no parameters. */
  exec(sql: string): Promise<void>;
}

/** One connection (PostgreSQL: the one holding the migration lock) that can open transactions. */
export interface MigrationSession extends MigrationTx {
  transaction<T>(fn: (tx: MigrationTx) => Promise<T>): Promise<T>;
}

const CREATE_TABLE: Record<Dialect, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS tern_migrations (
    service TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL,
    PRIMARY KEY (service, id))`,
  postgres: `CREATE TABLE IF NOT EXISTS tern_migrations (
    service TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (service, id))`,
};

const TABLE_EXISTS: Record<Dialect, string> = {
  sqlite: `SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'tern_migrations'`,
  postgres: `SELECT 1 AS present WHERE to_regclass('tern_migrations') IS NOT NULL`,
};

// An interrupted or failed CREATE INDEX CONCURRENTLY leaves its index behind, invalid: the planner
// ignores it and `IF NOT EXISTS` then skips it, so recording the migration would hide it for good.
const INVALID_INDEXES: Record<Dialect, string | undefined> = {
  sqlite: undefined,
  postgres: `SELECT c.relname AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname = ANY (current_schemas(false)) ORDER BY c.relname`,
};

/** Rejects a list that could be applied in a different order on another machine. */
export function validateMigrations(service: string, migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isSafeInteger(migration.id) || migration.id < 1) {
      throw storeErrors.invalidMigrations(service, `id ${migration.id} is not a positive integer`);
    }
    if (migration.id === previous) {
      throw storeErrors.invalidMigrations(service, `id ${migration.id} appears twice`);
    }
    if (migration.id < previous) {
      throw storeErrors.invalidMigrations(
        service,
        `id ${migration.id} follows ${previous}; list migrations in increasing id order`,
      );
    }
    if (migration.name.trim() === '') {
      throw storeErrors.invalidMigrations(service, `migration ${migration.id} has no name`);
    }
    previous = migration.id;
  }
}

export async function readAppliedMigrations(
  dialect: Dialect,
  db: Pick<MigrationTx, 'query'>,
  service: string,
): Promise<number[]> {
  // A read must not create the table: before the first migrate nothing is applied.
  if ((await db.query(TABLE_EXISTS[dialect])).length === 0) return [];
  const rows = await db.query('SELECT id FROM tern_migrations WHERE service = $1 ORDER BY id', [service]);
  return rows.map((row) => Number(row.id));
}

/**
 * Applies what is pending, each migration in its own transaction with its bookkeeping row. The
 * caller makes concurrent callers take turns (PostgreSQL: an advisory lock held by `session`);
 * the re-check inside each transaction also covers SQLite processes sharing one file.
 */
export async function applyMigrations(
  dialect: Dialect,
  session: MigrationSession,
  service: string,
  migrations: readonly Migration[],
  log: Logger,
): Promise<MigrationResult> {
  validateMigrations(service, migrations);
  await session.exec(CREATE_TABLE[dialect]);
  const appliedRows = await session.query(
    'SELECT id, name FROM tern_migrations WHERE service = $1 ORDER BY id',
    [service],
  );
  const appliedNames = new Map(appliedRows.map((row) => [Number(row.id), String(row.name)]));
  const highestApplied = Math.max(0, ...appliedNames.keys());

  const pending: Migration[] = [];
  for (const migration of migrations) {
    const appliedName = appliedNames.get(migration.id);
    if (appliedName === undefined) pending.push(migration);
    else if (appliedName !== migration.name) {
      throw storeErrors.migrationConflict(
        service,
        `migration ${migration.id} was applied as "${appliedName}" but is now named "${migration.name}"`,
      );
    }
  }
  const late = pending.find((migration) => migration.id < highestApplied);
  if (late) {
    throw storeErrors.migrationConflict(
      service,
      `migration ${late.id} (${late.name}) is new but ${highestApplied} is already applied; give it an id above ${highestApplied}`,
    );
  }

  const result: MigrationResult = { applied: [], alreadyApplied: migrations.length - pending.length };
  for (const migration of pending) {
    let applied: boolean;
    try {
      applied =
        migration.transactional === false
          ? await applyOutsideTransaction(session, dialect, service, migration)
          : await session.transaction(async (tx) => {
              if (await isRecorded(tx, service, migration)) return false;
              await tx.exec(sqlFor(migration, dialect));
              await record(tx, service, migration, 'insert');
              return true;
            });
    } catch (error) {
      throw storeErrors.migrationFailed(service, migration, error);
    }
    if (!applied) {
      result.alreadyApplied += 1;
      continue;
    }
    result.applied.push({ id: migration.id, name: migration.name });
    log.info({ owner: service, migration: migration.id, name: migration.name }, 'migration applied');
  }
  return result;
}

/**
 * Nothing makes the check, the SQL and the bookkeeping row atomic here: another SQLite process may
 * run the same (idempotent) migration meanwhile, so whichever records it second just agrees.
 */
async function applyOutsideTransaction(
  db: MigrationTx,
  dialect: Dialect,
  service: string,
  migration: Migration,
): Promise<boolean> {
  if (await isRecorded(db, service, migration)) return false;
  const invalidIndexes = INVALID_INDEXES[dialect];
  if (invalidIndexes !== undefined) {
    const before = (await db.query(invalidIndexes)).map((row) => String(row.name));
    if (before.length > 0) {
      throw new Error(
        `invalid indexes (${before.join(', ')}) are left from an interrupted or failed CREATE INDEX CONCURRENTLY; drop them with DROP INDEX CONCURRENTLY and restart`,
      );
    }
  }
  await db.exec(sqlFor(migration, dialect));
  if (invalidIndexes !== undefined) {
    const after = (await db.query(invalidIndexes)).map((row) => String(row.name));
    if (after.length > 0) {
      throw new Error(
        `it left invalid indexes (${after.join(', ')}); drop them with DROP INDEX CONCURRENTLY and restart`,
      );
    }
  }
  return record(db, service, migration, 'unless-recorded');
}

async function isRecorded(db: MigrationTx, service: string, migration: Migration): Promise<boolean> {
  const rows = await db.query('SELECT 1 AS present FROM tern_migrations WHERE service = $1 AND id = $2', [
    service,
    migration.id,
  ]);
  return rows.length > 0;
}

function sqlFor(migration: Migration, dialect: Dialect): string {
  return typeof migration.sql === 'string' ? migration.sql : migration.sql[dialect];
}

/** Returns whether this call wrote the row; `unless-recorded` leaves another starter's row alone. */
async function record(
  db: MigrationTx,
  service: string,
  migration: Migration,
  mode: 'insert' | 'unless-recorded',
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO tern_migrations (service, id, name, applied_at) VALUES ($1, $2, $3, $4)${
      mode === 'unless-recorded' ? ' ON CONFLICT (service, id) DO NOTHING' : ''
    } RETURNING id`,
    [service, migration.id, migration.name, new Date()],
  );
  return rows.length > 0;
}
