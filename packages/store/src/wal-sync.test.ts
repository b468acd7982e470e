import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { quietTelemetry } from '@tern/testing';
import { createSqliteStore } from './sqlite-store';
import { createWalSync } from './wal-sync';

describe('WAL group commit', () => {
  it('shares one fsync among the commits that finished before it began; later ones wait for the next', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-wal-'));
    try {
      const file = join(dir, 'db-wal');
      writeFileSync(file, 'frames');
      const syncs: number[] = [];
      const wal = createWalSync(file, (ms) => syncs.push(ms));
      const first = wal.sync();
      // These arrive while the first fsync runs: it may not cover them, so they share the next.
      const [second, third] = [wal.sync(), wal.sync()];
      assert.equal(second, third, 'one queued fsync for both');
      await Promise.all([first, second, third]);
      assert.equal(syncs.length, 2);
      await wal.sync();
      assert.equal(syncs.length, 3, 'a commit after all that gets its own');
      await wal.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after a failed fsync, refuses to call any later write durable', async () => {
    // fsync on /dev/null fails with EINVAL: a stand-in for a disk that lost the writes.
    const wal = createWalSync('/dev/null', () => assert.fail('nothing synced'));
    await assert.rejects(wal.sync(), /fsync of the SQLite WAL failed/);
    await assert.rejects(wal.sync(), /fsync of the SQLite WAL failed/);
    await assert.rejects(wal.whenSynced(), /fsync of the SQLite WAL failed/);
    assert.ok(wal.failure);
    await wal.close();
  });

  it('resolves at once when there is no WAL file to sync', async () => {
    const wal = createWalSync(join(tmpdir(), 'no-such-dir-tern', 'db-wal'), () =>
      assert.fail('nothing synced'),
    );
    await wal.sync();
  });

  it('lets concurrent SQLite transactions share fsyncs, and every one is durable when it resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-wal-'));
    const telemetry = quietTelemetry();
    const store = await createSqliteStore({ file: join(dir, 'tern.db') }, telemetry);
    try {
      await store.migrate('notes', [{ id: 1, name: 'create', sql: 'CREATE TABLE notes (n INTEGER)' }]);
      const syncCount = async () => {
        const metric = await telemetry.metrics.getSingleMetricAsString('tern_db_query_duration_seconds');
        const line = metric.split('\n').find((l) => l.includes('_count') && l.includes('op="wal-sync"'));
        return Number(line?.split(' ').pop() ?? 0);
      };
      const before = await syncCount();
      await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          store.transaction((tx) => tx.execute('INSERT INTO notes (n) VALUES ($1)', [n])),
        ),
      );
      const used = (await syncCount()) - before;
      assert.ok(used >= 1 && used < 50, `${used} fsyncs for 50 transactions`);
      await store.execute('INSERT INTO notes (n) VALUES (50)');
      assert.equal((await syncCount()) - before, used + 1, 'a write outside a transaction is synced too');
      await store.query('SELECT COUNT(*) AS c FROM notes');
      assert.equal((await syncCount()) - before, used + 1, 'a read is not');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
