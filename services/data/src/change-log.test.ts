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

    it('gives positions in commit order: a change committed after a later-appended one was read is still read next', async () => {
      const log = createChangeLog(dialect);
      const start = await log.head(store, 'orders');
      if (dialect === 'postgres') {
        // A appends first (the lower seq) but commits last; B commits meanwhile without waiting for A.
        let commitA!: () => void;
        const aMayCommit = new Promise<void>((resolve) => (commitA = resolve));
        let aAppended!: () => void;
        const appended = new Promise<void>((resolve) => (aAppended = resolve));
        const a = store.transaction(async (tx) => {
          await log.append(tx, 'orders', 'create', doc('a', new Date().toISOString()));
          aAppended();
          await aMayCommit;
        });
        await appended;
        await store.transaction((tx) =>
          log.append(tx, 'orders', 'create', doc('b', new Date().toISOString())),
        );
        const first = await log.read(store, 'orders', start, 10, () => 'all');
        assert.deepEqual(
          first.items.map((item) => item.id),
          ['b'],
          'only the committed change',
        );
        commitA();
        await a;
        const next = await log.read(store, 'orders', first.position, 10, () => 'all');
        assert.deepEqual(
          next.items.map((item) => item.id),
          ['a'],
          'the change committed later comes after the cursor',
        );
        assert.ok(next.position > first.position);
        assert.equal(await log.head(store, 'orders'), next.position);
      } else {
        for (const id of ['a', 'b']) {
          await store.transaction((tx) =>
            log.append(tx, 'orders', 'create', doc(id, new Date().toISOString())),
          );
        }
        const page = await log.read(store, 'orders', start, 10, () => 'all');
        assert.deepEqual(
          page.items.map((item) => item.id),
          ['a', 'b'],
        );
      }
    });

    it('reads every change exactly once while many transactions commit concurrently', async () => {
      const log = createChangeLog(dialect);
      let cursor = await log.head(store, 'events');
      const seen: string[] = [];
      const ids = Array.from({ length: 60 }, (_, i) => `e${i}`);
      const writes = Promise.all(
        ids.map((id) =>
          store.transaction((tx) => log.append(tx, 'events', 'create', doc(id, new Date().toISOString()))),
        ),
      );
      let done = false;
      void writes.then(() => (done = true));
      for (let more = true; more || !done;) {
        const page = await log.read(store, 'events', cursor, 7, () => 'all');
        seen.push(...page.items.map((item) => item.id));
        cursor = page.position;
        more = page.hasMore;
      }
      await writes;
      for (let more = true; more;) {
        const page = await log.read(store, 'events', cursor, 7, () => 'all');
        seen.push(...page.items.map((item) => item.id));
        cursor = page.position;
        more = page.hasMore;
      }
      assert.deepEqual([...seen].sort(), [...ids].sort(), 'each change once, none skipped');
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
      const rest = await log.read(store, 'notes', watermark, 10, () => 'all');
      assert.deepEqual(
        rest.items.map((item) => item.id),
        ['c'],
      );
      assert.equal(await log.prune(store, new Date(Date.now() - 86_400_000)), 0, 'nothing more to prune');
      assert.equal(await log.prunedThrough(store, 'notes'), watermark, 'the watermark never moves back');
    });
  });
}
