import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Migration, Store } from './store';

export const ITEMS: Migration = {
  id: 1,
  name: 'create_items',
  sql: 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL DEFAULT 0)',
};
const ITEMS_NOTE: Migration = {
  id: 2,
  name: 'add_items_note',
  sql: 'ALTER TABLE items ADD COLUMN note TEXT',
};

/** Part of `runStoreContract`: how `migrate` and `appliedMigrations` behave on a fresh database. */
export function describeMigrationContract(current: () => Store): void {
  void describe('migrations', () => {
    let store!: Store;
    beforeEach(() => {
      store = current();
    });

    void it('creates a table through a migration and records it as applied', async () => {
      assert.deepEqual(await store.appliedMigrations('catalog'), []);
      const result = await store.migrate('catalog', [ITEMS]);
      assert.deepEqual(result, { applied: [{ id: 1, name: 'create_items' }], alreadyApplied: 0 });
      assert.deepEqual(await store.appliedMigrations('catalog'), [1]);
      assert.deepEqual(await store.appliedMigrations('billing'), []);
      await store.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'kettle']);
    });

    void it('applies nothing on a second run and only the new migration on a third', async () => {
      await store.migrate('catalog', [ITEMS]);
      assert.deepEqual(await store.migrate('catalog', [ITEMS]), { applied: [], alreadyApplied: 1 });
      assert.deepEqual(await store.migrate('catalog', [ITEMS, ITEMS_NOTE]), {
        applied: [{ id: 2, name: 'add_items_note' }],
        alreadyApplied: 1,
      });
      assert.deepEqual(await store.appliedMigrations('catalog'), [1, 2]);
    });

    void it('keeps the migrations of different services apart', async () => {
      await store.migrate('catalog', [ITEMS]);
      const other = await store.migrate('billing', [
        { id: 1, name: 'create_invoices', sql: 'CREATE TABLE invoices (id INTEGER)' },
      ]);
      assert.deepEqual(other.applied, [{ id: 1, name: 'create_invoices' }]);
    });

    void it('rejects duplicate or unordered ids before applying anything', async () => {
      await assert.rejects(store.migrate('catalog', [ITEMS, { ...ITEMS_NOTE, id: 1 }]), {
        code: 'store/invalid-migrations',
        message: /id 1 appears twice/,
      });
      await assert.rejects(store.migrate('catalog', [ITEMS_NOTE, ITEMS]), {
        code: 'store/invalid-migrations',
      });
      assert.deepEqual(await store.appliedMigrations('catalog'), []);
    });

    void it('rejects a migration renamed after it was applied', async () => {
      await store.migrate('catalog', [ITEMS]);
      await assert.rejects(store.migrate('catalog', [{ ...ITEMS, name: 'make_items' }]), {
        code: 'store/migration-conflict',
        message: /applied as "create_items" but is now named "make_items"/,
      });
    });

    void it('rejects a new migration whose id is below an applied one', async () => {
      await store.migrate('catalog', [{ ...ITEMS_NOTE, sql: 'CREATE TABLE notes (id INTEGER)' }]);
      await assert.rejects(
        store.migrate('catalog', [ITEMS, { ...ITEMS_NOTE, sql: 'CREATE TABLE notes (id INTEGER)' }]),
        {
          code: 'store/migration-conflict',
        },
      );
      assert.deepEqual(await store.appliedMigrations('catalog'), [2]);
    });

    void it('rolls back a failing migration with its bookkeeping, keeping the ones before it', async () => {
      const broken: Migration = {
        id: 2,
        name: 'half_done',
        sql: 'CREATE TABLE half (id INTEGER); INSERT INTO no_such_table VALUES (1)',
      };
      await assert.rejects(store.migrate('catalog', [ITEMS, broken]), {
        code: 'store/migration-failed',
        message: /Migration 2 \(half_done\) of catalog failed/,
      });
      assert.deepEqual(await store.appliedMigrations('catalog'), [1]);
      await assert.rejects(store.query('SELECT id FROM half'));
    });

    void it("picks the migration sql written for the store's dialect", async () => {
      await store.migrate('catalog', [
        {
          id: 1,
          name: 'dialect_marker',
          sql: {
            sqlite: "CREATE TABLE marker (dialect TEXT); INSERT INTO marker VALUES ('sqlite')",
            postgres: "CREATE TABLE marker (dialect TEXT); INSERT INTO marker VALUES ('postgres')",
          },
        },
      ]);
      assert.deepEqual(await store.query('SELECT dialect FROM marker'), [{ dialect: store.kind }]);
    });

    void it('runs a migration marked transactional: false outside a transaction', async () => {
      const index: Migration = {
        id: 2,
        name: 'index_items_qty',
        transactional: false,
        sql: {
          sqlite: 'CREATE INDEX IF NOT EXISTS items_qty ON items (qty)',
          postgres: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_qty ON items (qty)',
        },
      };
      const result = await store.migrate('catalog', [ITEMS, index]);
      assert.equal(result.applied.length, 2);
      assert.deepEqual(await store.appliedMigrations('catalog'), [1, 2]);
    });

    void it('agrees when another starter recorded a non-transactional migration while it ran', async () => {
      // The SQL writes the bookkeeping row itself: what a second SQLite process, running the same
      // idempotent migration at the same time, does between this one's check and its insert.
      const raced: Migration = {
        id: 2,
        name: 'raced',
        transactional: false,
        sql: "INSERT INTO tern_migrations (service, id, name, applied_at) VALUES ('catalog', 2, 'raced', '2024-01-01T00:00:00Z')",
      };
      assert.deepEqual(await store.migrate('catalog', [ITEMS, raced]), {
        applied: [{ id: 1, name: 'create_items' }],
        alreadyApplied: 1,
      });
      assert.deepEqual(await store.appliedMigrations('catalog'), [1, 2]);
    });
  });
}
