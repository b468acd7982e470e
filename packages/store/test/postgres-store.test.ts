import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createLogger, Registry } from '@tern/telemetry';
import type { Telemetry } from '@tern/telemetry';
import { createTestDatabase, startTcpProxy, TEST_POSTGRES_URL, waitFor } from '@tern/testing';
import type { TestDatabase } from '@tern/testing';
import { createPostgresStore } from '../src/postgres-store';
import { runStoreContract } from '../src/store.contract';
import type { Migration, Store } from '../src/store';

const PASSWORD = 'pw-must-not-leak';

function testTelemetry(): Telemetry & { lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    service: 'test',
    instance: 'test',
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { log, metrics: new Registry(), lines };
}

/** Trust auth ignores the password, so a URL carrying one still connects and shows what gets logged. */
function withPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = PASSWORD;
  return parsed.toString();
}

async function openStore(t: { after(fn: () => Promise<unknown>): void }, poolSize = 4) {
  const database = await createTestDatabase();
  const telemetry = testTelemetry();
  const store = await createPostgresStore({ url: withPassword(database.url), poolSize }, telemetry);
  t.after(async () => {
    await store.close();
    await database.drop();
  });
  return { database, telemetry, store };
}

/** Ends the server side of connections, as a restart or an idle-timeout proxy would. */
async function terminateConnections(database: TestDatabase, where = 'true'): Promise<number> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    const result = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ${where}`,
      [database.name],
    );
    return result.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

void runStoreContract('postgres', async () => {
  const database = await createTestDatabase();
  const store = await createPostgresStore({ url: database.url, poolSize: 4 }, testTelemetry());
  return {
    store,
    async cleanup() {
      await store.close();
      await database.drop();
    },
  };
});

void describe('postgres store', () => {
  void it('applies each migration exactly once when five stores migrate one database at once', async (t) => {
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const stores: Store[] = await Promise.all(
      Array.from({ length: 5 }, () =>
        createPostgresStore({ url: database.url, poolSize: 2 }, testTelemetry()),
      ),
    );
    t.after(() => Promise.all(stores.map((store) => store.close())));
    const migrations: Migration[] = [
      { id: 1, name: 'create_runs', sql: 'CREATE TABLE runs (migration INTEGER NOT NULL)' },
      // The sleep widens the window in which an unlocked second starter would apply it again.
      { id: 2, name: 'second', sql: 'SELECT pg_sleep(0.05); INSERT INTO runs VALUES (2)' },
      { id: 3, name: 'third', sql: 'INSERT INTO runs VALUES (3)' },
    ];
    const results = await Promise.all(stores.map((store) => store.migrate('svc', migrations)));
    assert.equal(
      results.reduce((total, result) => total + result.applied.length, 0),
      3,
    );
    assert.equal(
      results.reduce((total, result) => total + result.alreadyApplied, 0),
      12,
    );
    const [first] = stores;
    assert.ok(first);
    assert.deepEqual(await first.query('SELECT migration FROM runs ORDER BY migration'), [
      { migration: 2 },
      { migration: 3 },
    ]);
    assert.deepEqual(await first.appliedMigrations('svc'), [1, 2, 3]);
  });

  void it('prepares a statement once per connection and runs texts beyond the prepared limit unnamed', async (t) => {
    const { store } = await openStore(t, 1);
    const prepared = async () =>
      Number((await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM pg_prepared_statements'))[0]?.n);
    for (let i = 0; i < 3; i++) assert.deepEqual(await store.query('SELECT $1::int AS v', [7]), [{ v: 7 }]);
    assert.equal(await prepared(), 1, 'one text, one prepared statement, reused');
    for (let i = 0; i < 520; i++) {
      assert.deepEqual(await store.query(`SELECT $1::int + ${i} AS v`, [1]), [{ v: i + 1 }]);
    }
    assert.equal(await prepared(), 500, 'bounded per connection');
    await store.transaction(async (tx) => {
      assert.deepEqual(await tx.query('SELECT $1::int + 519 AS v', [1]), [{ v: 520 }]);
    });
  });

  void it('runs a prepared statement again after its table failed to exist, and after it was dropped and made again', async (t) => {
    const { store } = await openStore(t, 1);
    const read = () => store.query('SELECT v FROM later WHERE v = $1', [1]);
    for (let i = 0; i < 2; i++) await assert.rejects(read(), { code: '42P01' });
    await store.execute('CREATE TABLE later (v INTEGER)');
    await store.execute('INSERT INTO later VALUES ($1)', [1]);
    assert.deepEqual(await read(), [{ v: 1 }]);
    await store.execute('DROP TABLE later');
    await store.execute('CREATE TABLE later (v INTEGER)');
    await store.execute('INSERT INTO later VALUES ($1)', [1]);
    assert.deepEqual(await read(), [{ v: 1 }]);
  });

  void it('logs an idle connection the server killed, without crashing, and keeps serving', async (t) => {
    const { database, telemetry, store } = await openStore(t);
    await Promise.all([store.query('SELECT pg_sleep(0.02)'), store.query('SELECT pg_sleep(0.02)')]);
    const terminated = await terminateConnections(database);
    assert.ok(terminated > 0);
    // Every killed connection must have been noticed, or the next query may be handed one.
    await waitFor(
      () =>
        telemetry.lines.filter((line) => line.includes('idle database connection failed')).length >=
        terminated,
      { what: 'every pool error to be logged' },
    );
    assert.deepEqual(await store.query('SELECT 1 AS one'), [{ one: 1 }]);
    assert.ok(!telemetry.lines.join('\n').includes(PASSWORD), 'no log line carries the password');
  });

  void it('rejects a transaction whose connection dies, discards that connection and keeps serving', async (t) => {
    const { store, telemetry } = await openStore(t);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    assert.deepEqual(await store.query('SELECT 1 AS one'), [{ one: 1 }]);
    assert.ok(!telemetry.lines.join('\n').includes(PASSWORD));
  });

  void it('rejects a transaction in which a statement failed even though fn caught the error', async (t) => {
    const { store } = await openStore(t);
    await store.migrate('svc', [{ id: 1, name: 'create_notes', sql: 'CREATE TABLE notes (body TEXT)' }]);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.execute('INSERT INTO notes VALUES ($1)', ['lost']);
        await tx.query('SELECT * FROM missing').catch(() => undefined);
      }),
      { code: 'store/transaction-aborted' },
    );
    assert.deepEqual(await store.query('SELECT body FROM notes'), []);
  });

  void it('reports pool gauges and never labels metrics with SQL', async (t) => {
    const { store, telemetry } = await openStore(t);
    await store.query('SELECT 1');
    await store.transaction((tx) => tx.query('SELECT 2'));
    const text = await telemetry.metrics.metrics();
    assert.match(text, /^tern_db_pool_total [1-9]/m);
    assert.match(text, /^tern_db_pool_waiting 0/m);
    assert.match(text, /tern_db_query_duration_seconds_count\{store="postgres",op="transaction"\} 1/);
    assert.doesNotMatch(text, /SELECT/);
  });

  void it('fails to open an unreachable database as a retryable dependency error that hides the password', async () => {
    const telemetry = testTelemetry();
    const error: unknown = await createPostgresStore(
      { url: `postgres://tern:${PASSWORD}@127.0.0.1:1/nothing`, poolSize: 1 },
      telemetry,
    ).then(
      () => assert.fail('expected the store to fail to open'),
      (rejection: unknown) => rejection,
    );
    assert.ok(error instanceof Error);
    assert.equal((error as { code?: string }).code, 'runtime/dependency-unavailable');
    assert.equal((error as { retryable?: boolean }).retryable, true);
    const cause = error.cause instanceof Error ? error.cause.message : '';
    assert.ok(!`${error.message} ${cause} ${telemetry.lines.join('\n')}`.includes(PASSWORD));
  });

  void it('builds an index concurrently once, without deadlock, when three stores migrate at once', async (t) => {
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const stores: Store[] = await Promise.all(
      Array.from({ length: 3 }, () =>
        createPostgresStore({ url: database.url, poolSize: 2 }, testTelemetry()),
      ),
    );
    t.after(() => Promise.all(stores.map((store) => store.close())));
    const migrations: Migration[] = [
      {
        id: 1,
        name: 'create_notes',
        sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, created_at TEXT); INSERT INTO notes SELECT g, g::text FROM generate_series(1, 1000) g',
      },
      {
        id: 2,
        name: 'index_notes_created_at',
        transactional: false,
        sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_created_at ON notes (created_at)',
      },
    ];
    // The starters that wait for the lock must not hold a snapshot the index build waits for.
    const results = await Promise.all(stores.map((store) => store.migrate('notes', migrations)));
    assert.equal(
      results.reduce((total, result) => total + result.applied.length, 0),
      2,
    );
    const [first] = stores;
    assert.ok(first);
    assert.deepEqual(
      await first.query(
        `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'notes_created_at'`,
      ),
      [{ valid: true }],
    );
  });

  void it('never records a non-transactional migration while an invalid index is left behind', async (t) => {
    const { store } = await openStore(t);
    const create: Migration = {
      id: 1,
      name: 'create_items',
      sql: "CREATE TABLE items (name TEXT); INSERT INTO items VALUES ('kettle'), ('kettle')",
    };
    const unique: Migration = {
      id: 2,
      name: 'unique_items_name',
      transactional: false,
      sql: 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_name ON items (name)',
    };
    // The duplicate fails the build and leaves items_name invalid; IF NOT EXISTS then skips it.
    await assert.rejects(store.migrate('svc', [create, unique]), { code: 'store/migration-failed' });
    await assert.rejects(store.migrate('svc', [create, unique]), {
      code: 'store/migration-failed',
      message: /invalid indexes \(items_name\)/,
    });
    assert.deepEqual(await store.appliedMigrations('svc'), [1]);

    // What an operator does: drop the invalid index, fix the data, restart.
    await store.execute('DROP INDEX CONCURRENTLY items_name');
    await store.execute(
      "DELETE FROM items WHERE ctid <> (SELECT min(ctid) FROM items WHERE name = 'kettle')",
    );
    assert.deepEqual((await store.migrate('svc', [create, unique])).applied, [
      { id: 2, name: 'unique_items_name' },
    ]);
  });

  void it(
    'fails with a clear error when another session keeps the migration lock',
    { timeout: 10_000 },
    async (t) => {
      const database = await createTestDatabase();
      const store = await createPostgresStore(
        { url: database.url, poolSize: 1, migrationLockTimeoutMs: 300 },
        testTelemetry(),
      );
      const holder = new pg.Client({ connectionString: database.url });
      // In this order: a store still waiting for the lock could not close, and dropping the
      // database would kill the holder's session under it.
      t.after(async () => {
        await holder.end();
        await store.close();
        await database.drop();
      });
      await holder.connect();
      await holder.query(`SELECT pg_advisory_lock(hashtext('tern.migrations'))`);
      await assert.rejects(
        store.migrate('svc', [{ id: 1, name: 'create_t', sql: 'CREATE TABLE t (id INTEGER)' }]),
        {
          code: 'store/migration-lock-timeout',
        },
      );
      // The store stays usable: waiting never blocked its pool.
      assert.deepEqual(await store.query('SELECT 1 AS one'), [{ one: 1 }]);
    },
  );

  void it('cancels a statement past statementTimeoutMs as a retryable 503, but not a migration', async (t) => {
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const store = await createPostgresStore(
      { url: database.url, poolSize: 1, statementTimeoutMs: 200 },
      testTelemetry(),
    );
    t.after(() => store.close());
    await assert.rejects(store.query('SELECT pg_sleep(1)'), {
      code: 'runtime/dependency-unavailable',
      status: 503,
    });
    await assert.rejects(
      store.transaction((tx) => tx.query('SELECT pg_sleep(1)')),
      { code: 'runtime/dependency-unavailable' },
    );
    const result = await store.migrate('svc', [{ id: 1, name: 'slow', sql: 'SELECT pg_sleep(0.4)' }]);
    assert.equal(result.applied.length, 1);
    // The migration's session had no timeout; the pooled connections still have theirs.
    assert.deepEqual(await store.query('SHOW statement_timeout'), [{ statement_timeout: '200ms' }]);
  });

  void it(
    'rejects queries on a link that went silent as retryable 503s, and still closes',
    { timeout: 10_000 },
    async (t) => {
      const database = await createTestDatabase();
      t.after(() => database.drop());
      const proxy = await startTcpProxy({
        host: '127.0.0.1',
        port: Number(new URL(database.url).port || 5432),
      });
      t.after(() => proxy.close());
      const url = new URL(database.url);
      url.port = String(proxy.port);
      const store = await createPostgresStore(
        { url: url.toString(), poolSize: 2, statementTimeoutMs: 200 },
        testTelemetry(),
      );
      // Two connections in the pool, so neither call below has to open one through the silent link.
      await Promise.all([store.query('SELECT pg_sleep(0.05)'), store.query('SELECT pg_sleep(0.05)')]);
      proxy.freeze();
      const started = Date.now();
      const [query, transaction] = await Promise.allSettled([
        store.query('SELECT 1'),
        store.transaction((tx) => tx.query('SELECT 1')),
      ]);
      for (const outcome of [query, transaction]) {
        assert.equal(outcome.status, 'rejected');
        assert.equal((outcome.reason as { code?: string }).code, 'runtime/dependency-unavailable');
      }
      await store.close();
      assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    },
  );
});
