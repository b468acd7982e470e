import pg from 'pg';
import { runtimeErrors } from '@tern/errors';
import type { Telemetry } from '@tern/telemetry';
import { applyMigrations, readAppliedMigrations } from './migrations';
import type { MigrationSession, MigrationTx } from './migrations';
import { trackPoolGauges } from './pool-gauges';
import { storeErrors } from './store-errors';
import { createStoreMetrics } from './store-metrics';
import type { StoreOp } from './store-metrics';
import type { Queryable, Row, SqlParam, Store } from './store';

export interface PostgresStoreConfig {
  url: string;
  poolSize: number;
}

// One key for every service: concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL.
const MIGRATION_LOCK = `SELECT pg_advisory_lock(hashtext('tern.migrations'))`;
const MIGRATION_UNLOCK = `SELECT pg_advisory_unlock(hashtext('tern.migrations'))`;
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;
const INT8_OID = 20;

// BIGINT and COUNT(*) read as numbers like on SQLite, as bigint beyond 2^53 rather than rounded.
const parseInt8 = (value: string): number | bigint => {
  const parsed = BigInt(value);
  return parsed >= Number.MIN_SAFE_INTEGER && parsed <= Number.MAX_SAFE_INTEGER ? Number(parsed) : parsed;
};
const TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig;

type Connection = pg.Pool | pg.PoolClient;
interface Checkout {
  /** Set when the connection can no longer be trusted; the pool then discards it. */
  broken?: Error;
}
interface TxState {
  open: boolean;
}

/** The production store: a `pg.Pool`, one checked-out connection per transaction. */
export async function createPostgresStore(config: PostgresStoreConfig, telemetry: Telemetry): Promise<Store> {
  const log = telemetry.log.child({
    component: 'store',
    store: 'postgres',
    target: describeTarget(config.url),
  });
  const metrics = createStoreMetrics(telemetry.metrics, 'postgres');
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    types: TYPES,
  });
  // Without a listener, a server closing an idle connection would crash the process.
  pool.on('error', (error) => {
    metrics.failed('connection');
    log.warn({ err: describeError(error) }, 'idle database connection failed; the pool replaces it');
  });
  const untrackPool = trackPoolGauges(telemetry.metrics, pool);
  let closing: Promise<void> | undefined;

  try {
    await pool.query('SELECT 1');
  } catch (error) {
    untrackPool();
    await pool.end();
    throw runtimeErrors.dependencyUnavailable('postgres', error);
  }

  async function run(connection: Connection, op: StoreOp, sql: string, params: readonly SqlParam[]) {
    const done = metrics.time(op);
    try {
      // Without values pg uses the simple protocol, which returns one result per statement.
      const result = (await connection.query(sql, params.map(toPg))) as
        pg.QueryResult<Row> | pg.QueryResult<Row>[];
      return Array.isArray(result) ? (result.at(-1) ?? { rows: [], rowCount: 0 }) : result;
    } catch (error) {
      metrics.failed(op);
      throw error;
    } finally {
      done();
    }
  }

  async function withClient<T>(fn: (client: pg.PoolClient, checkout: Checkout) => Promise<T>): Promise<T> {
    if (closing) throw storeErrors.closed();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      metrics.failed('connection');
      throw error;
    }
    const checkout: Checkout = {};
    // pg-pool stops listening while a client is checked out; an unhandled 'error' would crash.
    const onError = (error: Error) => {
      checkout.broken = error;
      metrics.failed('connection');
      log.warn({ err: describeError(error) }, 'database connection failed during use');
    };
    client.on('error', onError);
    try {
      return await fn(client, checkout);
    } finally {
      client.off('error', onError);
      client.release(checkout.broken);
    }
  }

  async function control(client: pg.PoolClient, sql: 'BEGIN' | 'COMMIT' | 'ROLLBACK') {
    try {
      return await client.query(sql);
    } catch (error) {
      metrics.failed('transaction');
      throw error;
    }
  }

  async function transactionOn<T>(
    client: pg.PoolClient,
    checkout: Checkout,
    fn: (state: TxState) => Promise<T>,
  ): Promise<T> {
    const state: TxState = { open: true };
    try {
      try {
        await control(client, 'BEGIN');
      } catch (error) {
        checkout.broken = error as Error;
        throw error;
      }
      try {
        const result = await fn(state);
        // A statement that failed inside `fn` (and was caught there) makes COMMIT roll back quietly.
        const commit = await control(client, 'COMMIT');
        if (commit.command === 'ROLLBACK') throw storeErrors.transactionAborted();
        return result;
      } catch (error) {
        try {
          await control(client, 'ROLLBACK');
        } catch (rollbackError) {
          checkout.broken = rollbackError as Error;
        }
        throw error;
      }
    } finally {
      state.open = false;
    }
  }

  function transactionHandle(client: pg.PoolClient, state: TxState): MigrationTx & Queryable {
    const guard = () => {
      if (!state.open) throw storeErrors.transactionFinished();
    };
    return {
      async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) {
        guard();
        return (await run(client, 'query', sql, params)).rows as T[];
      },
      async execute(sql, params = []) {
        guard();
        return { rowCount: (await run(client, 'execute', sql, params)).rowCount ?? 0 };
      },
      async exec(sql) {
        guard();
        await run(client, 'execute', sql, []);
      },
    };
  }

  const store: Store = {
    kind: 'postgres',
    async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) {
      if (closing) throw storeErrors.closed();
      return (await run(pool, 'query', sql, params)).rows as T[];
    },
    async execute(sql, params = []) {
      if (closing) throw storeErrors.closed();
      return { rowCount: (await run(pool, 'execute', sql, params)).rowCount ?? 0 };
    },
    async transaction(fn) {
      const done = metrics.time('transaction');
      try {
        return await withClient((client, checkout) =>
          transactionOn(client, checkout, (state) => fn(transactionHandle(client, state))),
        );
      } finally {
        done();
      }
    },
    migrate(service, migrations) {
      // The advisory lock belongs to this session, so every migration runs on this one connection.
      return withClient(async (client, checkout) => {
        await client.query(MIGRATION_LOCK);
        try {
          const session: MigrationSession = {
            ...transactionHandle(client, { open: true }),
            transaction: (fn) =>
              transactionOn(client, checkout, (state) => fn(transactionHandle(client, state))),
          };
          return await applyMigrations('postgres', session, service, migrations, log);
        } finally {
          try {
            await client.query(MIGRATION_UNLOCK);
          } catch (error) {
            // Discarding the connection ends its session, which releases the lock.
            checkout.broken = error as Error;
          }
        }
      });
    },
    appliedMigrations: (service) => readAppliedMigrations('postgres', store, service),
    async ping() {
      await store.query('SELECT 1');
    },
    close() {
      closing ??= pool.end().finally(untrackPool);
      return closing;
    },
  };
  log.info({ poolSize: config.poolSize }, 'store opened');
  return store;
}

function toPg(param: SqlParam): unknown {
  // pg would render a Date in the process's time zone; ISO strings read the same in both dialects.
  return param instanceof Date ? param.toISOString() : param;
}

/** Where the store connects, for logs: never the password. */
function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '[unparseable url]';
  }
}

/** pg-pool attaches the whole client to idle errors; log only what explains the failure. */
function describeError(error: Error): { message: string; code?: unknown } {
  return { message: error.message, code: (error as { code?: unknown }).code };
}
