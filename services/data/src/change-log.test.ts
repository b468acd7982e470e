import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStore, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import { createChangeLog } from './change-log';
import { DATA_MIGRATIONS } from './data-migrations';
import type { DocumentView } from './document-store';

const doc = (id: string, updatedAt: string): DocumentView => ({
  id,
  ownerId: 'u1',
  version: 1,
  createdAt: updatedAt,
  updatedAt,
  title: id,
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`change log (${dialect})`, () => {
    let store: Store;
    let dir: string;
    let database: TestDatabase | undefined;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tern-changes-'));
      if (dialect === 'postgres') {
        database = await createTestDatabase();
        store = await createStore({ kind: 'postgres', url: database.url, poolSize: 4 }, quietTelemetry());
      } else {
        store = await createStore({ kind: 'sqlite', file: join(dir, 'tern.db') }, quietTelemetry());
      }
      await store.migrate('data', DATA_MIGRATIONS);
    });
    after(async () => {
      await store?.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('prunes old changes per collection and records how far, so older cursors can be told to resync', async () => {
      const log = createChangeLog(dialect);
      const old = '2020-01-01T00:00:00.000Z';
      const recent = new Date().toISOString();
      for (const [collection, id, at] of [
        ['notes', 'a', old],
        ['notes', 'b', old],
        ['notes', 'c', recent],
        ['tasks', 'x', recent],
      ] as const) {
        await store.transaction((tx) => log.append(tx, collection, 'create', doc(id, at)));
      }
      const head = await log.head(store, 'notes');
      assert.equal(await log.prunedThrough(store, 'notes'), 0);
      const removed = await log.prune(store, new Date(Date.now() - 86_400_000));
      assert.equal(removed, 2);
      const watermark = await log.prunedThrough(store, 'notes');
      assert.ok(watermark > 0 && watermark < head);
      assert.equal(await log.prunedThrough(store, 'tasks'), 0, 'other collections untouched');
      const rest = await log.read(store, 'notes', watermark, 10, undefined);
      assert.deepEqual(
        rest.items.map((item) => item.id),
        ['c'],
      );
      assert.equal(await log.prune(store, new Date(Date.now() - 86_400_000)), 0, 'nothing more to prune');
      assert.equal(await log.prunedThrough(store, 'notes'), watermark, 'the watermark never moves back');
    });
  });
}
