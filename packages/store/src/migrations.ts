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
          ? await applyOne(session, dialect, service, migration)
          : await session.transaction((tx) => applyOne(tx, dialect, service, migration));
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

async function applyOne(
  db: MigrationTx,
  dialect: Dialect,
  service: string,
  migration: Migration,
): Promise<boolean> {
  const existing = await db.query('SELECT 1 AS present FROM tern_migrations WHERE service = $1 AND id = $2', [
    service,
    migration.id,
  ]);
  if (existing.length > 0) return false;
  await db.exec(typeof migration.sql === 'string' ? migration.sql : migration.sql[dialect]);
  await db.query('INSERT INTO tern_migrations (service, id, name, applied_at) VALUES ($1, $2, $3, $4)', [
    service,
    migration.id,
    migration.name,
    new Date(),
  ]);
  return true;
}
