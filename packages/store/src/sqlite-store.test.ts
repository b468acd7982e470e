import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLogger, Registry } from '@tern/telemetry';
import type { Telemetry } from '@tern/telemetry';
import { createSqliteStore } from './sqlite-store';
import { runStoreContract } from './store.contract';
import type { MigrationResult } from './store';

const execFileAsync = promisify(execFile);

async function migrateInChildProcess(file: string): Promise<string> {
  const script = `
    import { createLogger, Registry } from '@tern/telemetry';
    import { createSqliteStore } from ${JSON.stringify(new URL('./sqlite-store.ts', import.meta.url).href)};
    const log = createLogger({ level: 'silent', service: 'test', instance: 'child' });
    const store = await createSqliteStore({ file: ${JSON.stringify(file)} }, { log, metrics: new Registry() });
    const result = await store.migrate('svc', [
      { id: 1, name: 'create_runs', sql: 'CREATE TABLE runs (migration INTEGER)' },
      { id: 2, name: 'second', sql: 'INSERT INTO runs VALUES (2)' },
      { id: 3, name: 'third', sql: 'INSERT INTO runs VALUES (3)' },
    ]);
    await store.close();
    process.stdout.write(JSON.stringify(result));
  `;
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    },
  );
  return stdout;
}

function testTelemetry(): Telemetry {
  return {
    log: createLogger({ level: 'silent', service: 'test', instance: 'test' }),
    metrics: new Registry(),
  };
}

function tempFile(): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tern-store-'));
  // A missing parent directory is part of what the store must handle.
  return { file: join(dir, 'data', 'tern.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

void runStoreContract('sqlite', async () => {
  const temp = tempFile();
  const store = await createSqliteStore({ file: temp.file }, testTelemetry());
  return {
    store,
    async cleanup() {
      await store.close();
      temp.remove();
    },
  };
});

void describe('sqlite store', () => {
  void it('opens in WAL mode with NORMAL sync (durability comes from the group fsync), a busy timeout and foreign keys on', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    const store = await createSqliteStore({ file: temp.file }, testTelemetry());
    t.after(() => store.close());
    assert.deepEqual(await store.query('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
    assert.deepEqual(await store.query('PRAGMA synchronous'), [{ synchronous: 1 }]);
    assert.deepEqual(await store.query('PRAGMA foreign_keys'), [{ foreign_keys: 1 }]);
    assert.deepEqual(await store.query('PRAGMA busy_timeout'), [{ timeout: 5000 }]);
  });

  void it('keeps committed data across close and reopen', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    const first = await createSqliteStore({ file: temp.file }, testTelemetry());
    await first.migrate('notes', [{ id: 1, name: 'create_notes', sql: 'CREATE TABLE notes (body TEXT)' }]);
    await first.transaction((tx) => tx.execute('INSERT INTO notes (body) VALUES ($1)', ['kept']));
    await first.close();

    const second = await createSqliteStore({ file: temp.file }, testTelemetry());
    t.after(() => second.close());
    assert.deepEqual(await second.appliedMigrations('notes'), [1]);
    assert.deepEqual(await second.query('SELECT body FROM notes'), [{ body: 'kept' }]);
  });

  void it('rejects using the store inside its own transaction instead of waiting forever', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    const store = await createSqliteStore({ file: temp.file }, testTelemetry());
    t.after(() => store.close());
    const result = await store.transaction(async (tx) => {
      await assert.rejects(store.query('SELECT 1'), { code: 'store/nested-transaction' });
      await assert.rejects(
        store.transaction(async () => 1),
        { code: 'store/nested-transaction' },
      );
      return tx.query('SELECT 1 AS one');
    });
    assert.deepEqual(result, [{ one: 1 }]);
  });

  void it('enforces foreign keys', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    const store = await createSqliteStore({ file: temp.file }, testTelemetry());
    t.after(() => store.close());
    await store.migrate('shop', [
      {
        id: 1,
        name: 'create_orders',
        sql: `CREATE TABLE customers (id INTEGER PRIMARY KEY);
          CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id))`,
      },
    ]);
    await assert.rejects(store.execute('INSERT INTO orders (id, customer_id) VALUES (1, 42)'), {
      code: 'SQLITE_CONSTRAINT_FOREIGNKEY',
    });
  });

  void it('applies each migration once when two processes migrate one file at once', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    // Separate processes: in one process a second connection's busy wait would block the event
    // loop that has to finish the first connection's transaction.
    const runs = await Promise.all([1, 2, 3].map(() => migrateInChildProcess(temp.file)));
    const results = runs.map((output) => JSON.parse(output) as MigrationResult);
    assert.equal(
      results.reduce((total, result) => total + result.applied.length, 0),
      3,
    );
    const store = await createSqliteStore({ file: temp.file }, testTelemetry());
    t.after(() => store.close());
    assert.deepEqual(await store.query('SELECT migration FROM runs ORDER BY migration'), [
      { migration: 2 },
      { migration: 3 },
    ]);
  });

  void it('times operations and counts failures without labelling by SQL', async (t) => {
    const temp = tempFile();
    t.after(temp.remove);
    const telemetry = testTelemetry();
    const store = await createSqliteStore({ file: temp.file }, telemetry);
    t.after(() => store.close());
    await store.query('SELECT 1');
    await store.transaction((tx) => tx.execute('SELECT 1'));
    await assert.rejects(store.query('SELECT * FROM missing'));
    const duration = await telemetry.metrics.getSingleMetricAsString('tern_db_query_duration_seconds');
    assert.match(duration, /tern_db_query_duration_seconds_count\{store="sqlite",op="query"\} 2/);
    assert.match(duration, /tern_db_query_duration_seconds_count\{store="sqlite",op="transaction"\} 1/);
    assert.match(duration, /tern_db_query_duration_seconds_count\{store="sqlite",op="execute"\} 1/);
    const errors = await telemetry.metrics.getSingleMetricAsString('tern_db_errors_total');
    assert.match(errors, /tern_db_errors_total\{store="sqlite",op="query"\} 1/);
    assert.doesNotMatch(duration + errors, /SELECT/);
  });
});
