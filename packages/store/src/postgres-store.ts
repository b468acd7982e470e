import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { runtimeErrors } from '@tern/errors';
import type { Telemetry } from '@tern/telemetry';
import { applyMigrations, readAppliedMigrations } from './migrations';
import type { MigrationSession, MigrationTx } from './migrations';
import { parseConsistencyToken, formatConsistencyToken } from './consistency';
import { describeError, describeTarget, isTimeout, openPgPool, queryConfig, toPg } from './pg-pool';
import { trackPoolGauges } from './pool-gauges';
import { createReplicaSet, type ReplicaSet } from './replica-set';
import { storeErrors } from './store-errors';
import { createStoreMetrics } from './store-metrics';
import type { StoreOp } from './store-metrics';
import type { Queryable, Row, SqlParam, Store } from './store';
import { childSpan, counter } from '@tern/telemetry';

export interface PostgresStoreConfig {
  url: string;
  poolSize: number;
  /**
   * The server cancels a statement running longer (default 30 s); the client gives up a second
   * later on a link that stopped answering. Migrations are exempt.
   */
  statementTimeoutMs?: number;
  /** How long `migrate` waits for another starter's migrations before it fails (default 10 min). */
  migrationLockTimeoutMs?: number;
  /** Streaming replicas of this primary that take reads (`store.reader()`); see the README. */
  replicas?: {
    urls: readonly string[];
    /** A replica further behind than this takes no reads until it catches up (default 5 s). */
    maxLagMs?: number;
    /** How often replicas' replay positions are read (default 1 s). */
    checkIntervalMs?: number;
  };
}

// One key for every service: concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL.
const MIGRATION_TRY_LOCK = `SELECT pg_try_advisory_lock(hashtext('tern.migrations')) AS locked`;
const MIGRATION_UNLOCK = `SELECT pg_advisory_unlock(hashtext('tern.migrations'))`;
const MIGRATION_LOCK_TIMEOUT_MS = 10 * 60_000;
const MIGRATION_LOCK_POLL_MS = { min: 50, jitter: 150 };
const STATEMENT_TIMEOUT_MS = 30_000;
// Past the server's own cancellation, only a dead link keeps a reply from arriving.
const QUERY_TIMEOUT_MARGIN_MS = 1_000;
const CLOSE_TIMEOUT_MS = 5_000;
/**
 * Distinct statements kept prepared on each connection. Each is parsed and planned on its first
 * uses only (PostgreSQL then reuses a generic plan when it costs no more than the custom ones),
 * which is most of what a small indexed query costs PostgreSQL. Texts past the limit run unnamed.
 */
const PREPARED_STATEMENTS = 500;
const REPLICA_MAX_LAG_MS = 5_000;
const REPLICA_CHECK_INTERVAL_MS = 1_000;
/**
 * After COMMIT, in the same round trip: a WAL position at or past the commit record. The insert
 * position, not the write position: with synchronous_commit off the commit record may not be written yet.
 */
const COMMIT_WITH_POSITION = 'COMMIT; SELECT pg_current_wal_insert_lsn()::text AS position';

type Connection = pg.Pool | pg.PoolClient;
interface Checkout {
  /** Set when the connection can no longer be trusted; the pool then discards it. */
  broken?: Error;
}
/** How a statement runs: migrations pass no timeout, since they may legitimately run for long. */
interface RunOptions {
  queryTimeoutMs?: number;
  checkout?: Checkout;
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
  const statementTimeoutMs = config.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS;
  // Set per statement rather than on the pool, so that migrations can run without one.
  const timed: RunOptions = { queryTimeoutMs: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS };
  const pool = openPgPool(config.url, config.poolSize, statementTimeoutMs);
  // Without a listener, a server closing an idle connection would crash the process.
  pool.on('error', (error) => {
    metrics.failed('connection');
    log.warn({ err: describeError(error) }, 'idle database connection failed; the pool replaces it');
  });
  const untrackPool = trackPoolGauges(telemetry.metrics, pool);
  // SQL text → statement name, for the whole pool; never reassigned, so every connection agrees.
  const statementNames = new Map<string, string>();
  const statementName = (sql: string): string | undefined => {
    let name = statementNames.get(sql);
    if (name === undefined && statementNames.size < PREPARED_STATEMENTS) {
      name = `tern_${statementNames.size + 1}`;
      statementNames.set(sql, name);
    }
    return name;
  };
  let closing: Promise<void> | undefined;
  const reads = counter(
    telemetry.metrics,
    'tern_db_reads_total',
    'Replica-eligible reads, by where they ran and why (primary: none in rotation, behind the token, or a replica failed).',
    ['target', 'reason'],
  );

  try {
    await pool.query(queryConfig('SELECT 1', [], timed));
  } catch (error) {
    untrackPool();
    await pool.end();
    throw runtimeErrors.dependencyUnavailable('postgres', error);
  }
  /**
   * `insert`: at or past every commit so far (for tokens). `write`: what replicas can have
   * received, which an idle replica equals (for measuring lag; the insert position may sit past
   * a page header no replica reports reaching).
   */
  async function primaryPosition(which: 'insert' | 'write'): Promise<bigint | undefined> {
    const sql =
      which === 'insert'
        ? 'SELECT pg_current_wal_insert_lsn()::text AS position'
        : 'SELECT pg_current_wal_lsn()::text AS position';
    const { rows } = await run(pool, 'query', sql, [], timed);
    return parseConsistencyToken(String(rows[0]?.position ?? ''));
  }
  const replicas = config.replicas?.urls.length
    ? createReplicaSet({
        urls: config.replicas.urls,
        poolSize: config.poolSize,
        statementTimeoutMs,
        maxLagMs: config.replicas.maxLagMs ?? REPLICA_MAX_LAG_MS,
        checkIntervalMs: config.replicas.checkIntervalMs ?? REPLICA_CHECK_INTERVAL_MS,
        primaryPosition: () => primaryPosition('write'),
        log,
        registry: telemetry.metrics,
      })
    : undefined;
  // A replica that is down now only starts out of rotation; it never stops the store from opening.
  await replicas?.check();

  /** One statement, a span of the request's trace when it is sampled (the text has no values). */
  function run(
    connection: Connection,
    op: StoreOp,
    sql: string,
    params: readonly SqlParam[],
    options: RunOptions,
  ) {
    return childSpan(
      telemetry.tracer,
      `${op} postgres`,
      { 'db.system.name': 'postgresql', 'db.query.text': sql.slice(0, 1_000) },
      () => runStatement(connection, op, sql, params, options),
    );
  }

  async function runStatement(
    connection: Connection,
    op: StoreOp,
    sql: string,
    params: readonly SqlParam[],
    options: RunOptions,
  ) {
    const done = metrics.time(op);
    try {
      // Without values pg uses the simple protocol, which returns one result per statement.
      const name = params.length > 0 ? statementName(sql) : undefined;
      const result = (await connection.query(queryConfig(sql, params.map(toPg), options, name))) as
        pg.QueryResult<Row> | pg.QueryResult<Row>[];
      return Array.isArray(result) ? (result.at(-1) ?? { rows: [], rowCount: 0 }) : result;
    } catch (error) {
      metrics.failed(op);
      throw failure(error, options.checkout);
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
      throw failure(error);
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

  async function control(
    client: pg.PoolClient,
    sql: 'BEGIN' | 'COMMIT' | 'ROLLBACK' | typeof COMMIT_WITH_POSITION,
    options: RunOptions & { checkout: Checkout },
  ) {
    try {
      return await client.query(queryConfig(sql, [], options));
    } catch (error) {
      metrics.failed('transaction');
      throw failure(error, options.checkout);
    }
  }

  /** Runs `fn` between BEGIN and COMMIT; with `position`, also reads the commit's WAL position. */
  async function transactionOn<T>(
    client: pg.PoolClient,
    options: RunOptions & { checkout: Checkout },
    fn: (state: TxState) => Promise<T>,
    position = false,
  ): Promise<{ result: T; position?: bigint }> {
    const { checkout } = options;
    const state: TxState = { open: true };
    try {
      try {
        await control(client, 'BEGIN', options);
      } catch (error) {
        checkout.broken ??= error as Error;
        throw error;
      }
      try {
        const result = await fn(state);
        // A statement that failed inside `fn` (and was caught there) makes COMMIT roll back quietly.
        if (!position) {
          const commit = await control(client, 'COMMIT', options);
          if (commit.command === 'ROLLBACK') throw storeErrors.transactionAborted();
          return { result };
        }
        const [commit, read] = (await control(client, COMMIT_WITH_POSITION, options)) as unknown as [
          pg.QueryResult,
          pg.QueryResult<{ position: string }>,
        ];
        if (commit.command === 'ROLLBACK') throw storeErrors.transactionAborted();
        return { result, position: parseConsistencyToken(read.rows[0]?.position ?? '') };
      } catch (error) {
        // A connection that stopped answering would not answer ROLLBACK either; discarding it
        // ends the session, which rolls back.
        if (!checkout.broken) {
          try {
            await control(client, 'ROLLBACK', options);
          } catch (rollbackError) {
            checkout.broken = rollbackError as Error;
          }
        }
        throw error;
      }
    } finally {
      state.open = false;
    }
  }

  function transactionHandle(
    client: pg.PoolClient,
    state: TxState,
    options: RunOptions,
  ): MigrationTx & Queryable {
    const guard = () => {
      if (!state.open) throw storeErrors.transactionFinished();
    };
    return {
      async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) {
        guard();
        return (await run(client, 'query', sql, params, options)).rows as T[];
      },
      async execute(sql, params = []) {
        guard();
        return { rowCount: (await run(client, 'execute', sql, params, options)).rowCount ?? 0 };
      },
      async exec(sql) {
        guard();
        await run(client, 'execute', sql, [], options);
      },
    };
  }

  function runTransaction<T>(fn: (tx: Queryable) => Promise<T>, position: boolean) {
    return childSpan(telemetry.tracer, 'transaction postgres', { 'db.system.name': 'postgresql' }, () =>
      runTransactionNow(fn, position),
    );
  }

  async function runTransactionNow<T>(fn: (tx: Queryable) => Promise<T>, position: boolean) {
    const done = metrics.time('transaction');
    try {
      return await withClient((client, checkout) => {
        const options = { ...timed, checkout };
        return transactionOn(
          client,
          options,
          (state) => fn(transactionHandle(client, state, options)),
          position,
        );
      });
    } finally {
      done();
    }
  }

  /** `position` undefined: the caller needs the newest data, which only the primary has for sure. */
  async function readOnReplica<T extends Row>(
    set: ReplicaSet,
    position: bigint | undefined,
    sql: string,
    params: readonly SqlParam[],
  ): Promise<T[]> {
    if (closing) throw storeErrors.closed();
    const replica = position === undefined ? undefined : set.pick(position);
    if (!replica) {
      reads.inc({ target: 'primary', reason: position === undefined || position > 0n ? 'behind' : 'none' });
      return store.query<T>(sql, params);
    }
    replica.outstanding++;
    const done = metrics.time('query');
    try {
      const name = params.length > 0 ? statementName(sql) : undefined;
      const query = replica.pool.query(queryConfig(sql, params.map(toPg), timed, name));
      // A replica that stops answering without closing its connections would hold this read
      // until the statement timeout; the health check takes it out of rotation within seconds,
      // and the read goes to the primary then.
      query.catch(() => undefined);
      const result = await Promise.race([
        query,
        replica.leftRotation.then(() => {
          throw new Error('replica left rotation during the read');
        }),
      ]);
      reads.inc({ target: 'replica', reason: 'routed' });
      return result.rows as T[];
    } catch (error) {
      // A replica's own trouble (gone, shutting down, a query cancelled by replay) is not the
      // caller's: the primary answers instead. A bad statement fails there too, with its own error.
      if (!(error instanceof pg.DatabaseError) || /^(08|57)/.test(error.code ?? ''))
        set.markDown(replica, error);
      log.debug(
        { replica: replica.name, err: describeError(error as Error) },
        'replica read failed; reading the primary',
      );
      reads.inc({ target: 'primary', reason: 'replica-failed' });
      return store.query<T>(sql, params);
    } finally {
      done();
      replica.outstanding--;
    }
  }

  /**
   * Waits for the migration lock without a statement open: a session blocked in
   * `pg_advisory_lock` holds a snapshot, which the holder's CREATE INDEX CONCURRENTLY waits for.
   */
  async function acquireMigrationLock(client: pg.PoolClient): Promise<void> {
    const timeoutMs = config.migrationLockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ locked: boolean }>(MIGRATION_TRY_LOCK);
      if (rows[0]?.locked === true) return;
      if (Date.now() >= deadline) throw storeErrors.migrationLockTimeout(timeoutMs);
      await sleep(MIGRATION_LOCK_POLL_MS.min + Math.random() * MIGRATION_LOCK_POLL_MS.jitter);
    }
  }

  /** Discards connections a client-side failure left unusable, and makes timeouts retryable. */
  function failure(error: unknown, checkout?: Checkout): unknown {
    // A server error leaves the connection usable; anything else (a read timeout) may not.
    if (checkout && !(error instanceof pg.DatabaseError)) checkout.broken ??= error as Error;
    return isTimeout(error) ? runtimeErrors.dependencyUnavailable('postgres', error) : error;
  }

  const store: Store = {
    kind: 'postgres',
    async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) {
      if (closing) throw storeErrors.closed();
      return (await run(pool, 'query', sql, params, timed)).rows as T[];
    },
    async execute(sql, params = []) {
      if (closing) throw storeErrors.closed();
      return { rowCount: (await run(pool, 'execute', sql, params, timed)).rowCount ?? 0 };
    },
    async transaction(fn) {
      return (await runTransaction(fn, false)).result;
    },
    async transactionWithToken(fn) {
      const { result, position } = await runTransaction(fn, replicas !== undefined);
      if (position === undefined) return { result };
      return { result, consistency: formatConsistencyToken(position) };
    },
    async consistencyToken() {
      if (!replicas) return undefined;
      const position = await primaryPosition('insert');
      return position === undefined ? undefined : formatConsistencyToken(position);
    },
    reader(options = {}) {
      if (!replicas) return store;
      const set = replicas;
      const position = options.after === undefined ? 0n : parseConsistencyToken(options.after);
      return { query: (sql, params = []) => readOnReplica(set, position, sql, params) };
    },
    migrate(service, migrations) {
      // The advisory lock belongs to this session, so every migration runs on this one connection.
      return withClient(async (client, checkout) => {
        const options = { checkout };
        try {
          await acquireMigrationLock(client);
          try {
            // No timeout: building an index may take as long as the table is big.
            await client.query('SET statement_timeout = 0');
            const session: MigrationSession = {
              ...transactionHandle(client, { open: true }, options),
              transaction: async (fn) =>
                (
                  await transactionOn(client, options, (state) =>
                    fn(transactionHandle(client, state, options)),
                  )
                ).result,
            };
            return await applyMigrations('postgres', session, service, migrations, log);
          } finally {
            try {
              await client.query(MIGRATION_UNLOCK);
            } catch (error) {
              checkout.broken ??= error as Error;
            }
          }
        } finally {
          // Its session settings (no statement timeout) must not reach the pool; discarding the
          // connection also releases the lock if unlocking failed.
          checkout.broken ??= new Error('migration connection discarded');
        }
      });
    },
    appliedMigrations: (service) => readAppliedMigrations('postgres', store, service),
    async ping() {
      await store.query('SELECT 1');
    },
    close() {
      closing ??= closePool();
      return closing;
    },
  };
  /** A query stuck on a dead link keeps `pool.end()` waiting; shutdown must not wait with it. */
  async function closePool(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave-up'>((resolve) => {
      timer = setTimeout(() => resolve('gave-up'), CLOSE_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([pool.end().then(() => 'ended' as const), gaveUp]);
      if (outcome === 'gave-up') {
        log.warn(
          { waitedMs: CLOSE_TIMEOUT_MS },
          'database connections still busy at close; no longer waiting for them',
        );
      }
    } finally {
      clearTimeout(timer);
      untrackPool();
      await replicas?.close();
    }
  }

  log.info(
    { poolSize: config.poolSize, statementTimeoutMs, replicas: replicas?.status().map((r) => r.name) ?? [] },
    'store opened',
  );
  return store;
}
