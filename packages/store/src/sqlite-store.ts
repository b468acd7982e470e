import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { childSpan, type Telemetry } from '@tern/telemetry';
import { AsyncMutex } from './async-mutex';
import { applyMigrations, readAppliedMigrations } from './migrations';
import type { MigrationSession, MigrationTx } from './migrations';
import { storeErrors } from './store-errors';
import { createWalSync } from './wal-sync';
import { createStoreMetrics } from './store-metrics';
import type { StoreOp } from './store-metrics';
import type { Queryable, Row, SqlParam, Store } from './store';

export interface SqliteStoreConfig {
  file: string;
}

const STATEMENT_CACHE_SIZE = 200;
// better-sqlite3 blocks the event loop while it waits for another process's write lock.
const BUSY_TIMEOUT_MS = 5_000;

type Statement = Database.Statement<unknown[], Row>;
type Bindings = Record<number, string | number | bigint | Buffer | null>;
interface TxState {
  open: boolean;
  /** Whether a statement could have written: only then does the commit wait for an fsync. */
  wrote: boolean;
}

/**
 * The embedded store: one SQLite connection in WAL mode. A write resolves only once its WAL
 * frames are on disk, so it survives a power cut, but the fsync runs off the event loop and is
 * shared by concurrent commits (group commit, see wal-sync.ts) rather than blocking every COMMIT
 * as `synchronous=FULL` would. SQLite has one writer and better-sqlite3 one connection, so
 * transactions take turns behind an async lock, and the store's own queries wait for the open
 * transaction rather than running inside it.
 */
export async function createSqliteStore(config: SqliteStoreConfig, telemetry: Telemetry): Promise<Store> {
  if (config.file !== ':memory:') mkdirSync(dirname(config.file), { recursive: true });
  const db = new Database(config.file);
  try {
    db.pragma('journal_mode = WAL');
    // Durability comes from the group fsync after each write (walSync), not from COMMIT itself.
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
  } catch (error) {
    db.close();
    throw error;
  }

  const log = telemetry.log.child({ component: 'store', store: 'sqlite' });
  const metrics = createStoreMetrics(telemetry.metrics, 'sqlite');
  const mutex = new AsyncMutex();
  // Knows whether the caller runs inside one of this store's transactions, to fail instead of deadlocking.
  const currentTx = new AsyncLocalStorage<TxState>();
  const statements = new Map<string, Statement>();
  const walSync =
    config.file === ':memory:'
      ? {
          sync: async () => undefined,
          whenSynced: async () => undefined,
          failure: undefined,
          close: async () => undefined,
        }
      : createWalSync(`${config.file}-wal`, (ms) => metrics.synced(ms));
  let closing: Promise<void> | undefined;

  function prepare(sql: string): Statement {
    const cached = statements.get(sql);
    if (cached) {
      statements.delete(sql);
      statements.set(sql, cached);
      return cached;
    }
    const statement = db.prepare<unknown[], Row>(sql);
    // Integers beyond 2^53 would otherwise come back silently rounded.
    if (statement.reader) statement.safeIntegers(true);
    statements.set(sql, statement);
    if (statements.size > STATEMENT_CACHE_SIZE) {
      const oldest = statements.keys().next();
      if (!oldest.done) statements.delete(oldest.value);
    }
    return statement;
  }

  function measured<T>(op: StoreOp, run: () => T): T {
    const done = metrics.time(op);
    try {
      return run();
    } catch (error) {
      metrics.failed(op);
      throw error;
    } finally {
      done();
    }
  }

  function runQuery(sql: string, params: readonly SqlParam[]): Row[] {
    const statement = prepare(sql);
    const bindings = bind(params);
    if (!statement.reader) {
      if (bindings) statement.run(bindings);
      else statement.run();
      return [];
    }
    return (bindings ? statement.all(bindings) : statement.all()).map(unwrapSafeIntegers);
  }

  function runExecute(sql: string, params: readonly SqlParam[]): { rowCount: number } {
    const statement = prepare(sql);
    const bindings = bind(params);
    if (statement.reader) return { rowCount: (bindings ? statement.all(bindings) : statement.all()).length };
    return { rowCount: (bindings ? statement.run(bindings) : statement.run()).changes };
  }

  /** Runs a synchronous operation once no transaction is open, without queueing when none is. */
  async function outsideTransaction<T>(run: () => T): Promise<T> {
    if (closing) throw storeErrors.closed();
    if (!mutex.locked) return run();
    if (currentTx.getStore()?.open) throw storeErrors.nestedTransaction();
    const release = await mutex.lock();
    try {
      return run();
    } finally {
      release();
    }
  }

  function control(sql: 'BEGIN IMMEDIATE' | 'COMMIT' | 'ROLLBACK'): void {
    try {
      db.exec(sql);
    } catch (error) {
      metrics.failed('transaction');
      throw error;
    }
  }

  async function runTransaction<T>(fn: (state: TxState) => Promise<T>): Promise<T> {
    if (closing) throw storeErrors.closed();
    if (currentTx.getStore()?.open) throw storeErrors.nestedTransaction();
    const done = metrics.time('transaction');
    try {
      const release = await mutex.lock();
      const state: TxState = { open: true, wrote: false };
      let result: T;
      try {
        control('BEGIN IMMEDIATE');
        try {
          result = await currentTx.run(state, () => fn(state));
          control('COMMIT');
        } catch (error) {
          if (db.inTransaction) {
            try {
              control('ROLLBACK');
            } catch (rollbackError) {
              log.error({ err: rollbackError }, 'rollback failed');
            }
          }
          throw error;
        }
      } finally {
        state.open = false;
        // The lock is free before the fsync, so the next transaction runs while this one syncs.
        release();
      }
      await (state.wrote ? walSync.sync() : walSync.whenSynced());
      return result;
    } finally {
      done();
    }
  }

  function transactionHandle(state: TxState): MigrationTx & Queryable {
    // Runs synchronously in the call, so the statement cannot land after COMMIT.
    const inTransaction = async <T>(run: () => T, sql: string | undefined): Promise<T> => {
      if (!state.open) throw storeErrors.transactionFinished();
      const result = run();
      // After running, so a statement that fails to prepare is reported by `measured` as before.
      if (sql === undefined || !prepare(sql).readonly) state.wrote = true;
      return result;
    };
    return {
      query: <T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) =>
        inTransaction(() => measured('query', () => runQuery(sql, params) as T[]), sql),
      execute: (sql, params = []) =>
        inTransaction(() => measured('execute', () => runExecute(sql, params)), sql),
      exec: (sql) => inTransaction(() => measured('execute', () => void db.exec(sql)), undefined),
    };
  }

  /**
   * Answers once a write outside a transaction is durable; a read, once every write it could
   * have seen is (it joins the fsync under way, if any, instead of starting one).
   */
  async function durable<T>(sql: string, result: T): Promise<T> {
    if (prepare(sql).readonly) await walSync.whenSynced();
    else await walSync.sync();
    return result;
  }

  /** A span of the request's trace when it is sampled: a statement (its text, no values) or a transaction. */
  const traced = <T>(op: string, sql: string | undefined, work: () => Promise<T>) =>
    childSpan(
      telemetry.tracer,
      `${op} sqlite`,
      { 'db.system.name': 'sqlite', ...(sql ? { 'db.query.text': sql.slice(0, 1_000) } : {}) },
      work,
    );

  const store: Store = {
    kind: 'sqlite',
    query: <T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) =>
      traced('query', sql, async () =>
        durable(sql, await outsideTransaction(() => measured('query', () => runQuery(sql, params) as T[]))),
      ),
    execute: (sql, params = []) =>
      traced('execute', sql, async () =>
        durable(sql, await outsideTransaction(() => measured('execute', () => runExecute(sql, params)))),
      ),
    transaction: (fn) =>
      traced('transaction', undefined, () => runTransaction((state) => fn(transactionHandle(state)))),
    // One file, no replicas: every read sees every commit, so no token is needed.
    transactionWithToken: async (fn) => ({ result: await store.transaction(fn) }),
    reader: () => store,
    consistencyToken: async () => undefined,
    migrate(service, migrations) {
      const session: MigrationSession = {
        query: (sql, params) => store.query(sql, params),
        exec: (sql) => outsideTransaction(() => measured('execute', () => void db.exec(sql))),
        transaction: (fn) => runTransaction((state) => fn(transactionHandle(state))),
      };
      return applyMigrations('sqlite', session, service, migrations, log);
    },
    appliedMigrations: (service) => readAppliedMigrations('sqlite', store, service),
    async ping() {
      if (walSync.failure) throw walSync.failure;
      await store.query('SELECT 1');
    },
    close() {
      closing ??= (async () => {
        const release = await mutex.lock();
        try {
          statements.clear();
          db.close();
          await walSync.close();
        } finally {
          release();
        }
      })();
      return closing;
    },
  };
  log.info({ file: config.file }, 'store opened');
  return store;
}

function bind(params: readonly SqlParam[]): Bindings | undefined {
  if (params.length === 0) return undefined;
  // better-sqlite3 binds `$1` as the named parameter "1".
  const bindings: Bindings = {};
  params.forEach((param, index) => {
    bindings[index + 1] =
      typeof param === 'boolean' ? (param ? 1 : 0) : param instanceof Date ? param.toISOString() : param;
  });
  return bindings;
}

function unwrapSafeIntegers(row: Row): Row {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'bigint' && value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER) {
      row[key] = Number(value);
    }
  }
  return row;
}
