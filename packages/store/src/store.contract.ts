import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isUniqueViolation } from './is-unique-violation';
import { describeMigrationContract, ITEMS } from './migrations.contract';
import type { Migration, Store } from './store';

export interface OpenedStore {
  store: Store;
  cleanup(): Promise<void>;
}

const SAMPLES: Migration = {
  id: 1,
  name: 'create_samples',
  sql: {
    sqlite: `CREATE TABLE samples (id INTEGER PRIMARY KEY, label TEXT, amount INTEGER, ratio REAL, big BIGINT,
      flag BOOLEAN, missing TEXT, at TEXT, payload BLOB)`,
    postgres: `CREATE TABLE samples (id INTEGER PRIMARY KEY, label TEXT, amount INTEGER, ratio DOUBLE PRECISION,
      big BIGINT, flag BOOLEAN, missing TEXT, at TEXT, payload BYTEA)`,
  },
};
const INSERT_SAMPLE = `INSERT INTO samples (id, label, amount, ratio, big, flag, missing, at, payload)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** The behaviour every Store implementation promises, run against a real database. */
export function runStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  void describe(`${name} store contract`, () => {
    let opened: OpenedStore | undefined;
    let store!: Store;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    describeMigrationContract(() => store);

    void describe('queries', () => {
      void it('round-trips every parameter type', async () => {
        await store.migrate('lab', [SAMPLES]);
        const at = new Date('2024-02-29T12:34:56.789Z');
        const payload = Buffer.from([0, 1, 2, 255]);
        const huge = 9_007_199_254_740_993n;
        await store.execute(INSERT_SAMPLE, [1, "it's ünïcode", 42, 0.25, huge, true, null, at, payload]);
        await store.execute(INSERT_SAMPLE, [2, '', -7, -1.5, 42n, false, null, new Date(0), Buffer.alloc(0)]);

        const rows = await store.query('SELECT * FROM samples ORDER BY id');
        assert.equal(rows.length, 2);
        const [first, second] = rows;
        assert.equal(first?.label, "it's ünïcode");
        assert.equal(first?.amount, 42);
        assert.equal(first?.ratio, 0.25);
        assert.equal(first?.big, huge, 'integers beyond 2^53 come back exact, as bigint');
        assert.equal(second?.big, 42, 'safe integers come back as numbers');
        assert.equal(Boolean(first?.flag), true);
        assert.equal(Boolean(second?.flag), false);
        assert.equal(first?.missing, null);
        assert.equal(first?.at, '2024-02-29T12:34:56.789Z');
        assert.deepEqual(first?.payload, payload);
        assert.equal(second?.amount, -7);

        assert.deepEqual(await store.query('SELECT id FROM samples WHERE flag = $1', [true]), [{ id: 1 }]);
        assert.deepEqual(await store.query('SELECT id FROM samples WHERE at = $1', [at]), [{ id: 1 }]);
        assert.deepEqual(await store.query('SELECT COUNT(*) AS n FROM samples'), [{ n: 2 }]);
      });

      void it('returns the written row through RETURNING', async () => {
        await store.migrate('catalog', [ITEMS]);
        const rows = await store.query<{ id: number; name: string; qty: number }>(
          'INSERT INTO items (id, name, qty) VALUES ($1, $2, $3) RETURNING id, name, qty',
          [7, 'teapot', 3],
        );
        assert.deepEqual(rows, [{ id: 7, name: 'teapot', qty: 3 }]);
        const updated = await store.query('UPDATE items SET qty = qty + 1 WHERE id = $1 RETURNING qty', [7]);
        assert.deepEqual(updated, [{ qty: 4 }]);
      });

      void it('reports how many rows execute changed', async () => {
        await store.migrate('catalog', [ITEMS]);
        for (const [id, name] of [
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
        ] as const) {
          assert.deepEqual(await store.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [id, name]), {
            rowCount: 1,
          });
        }
        assert.deepEqual(await store.execute('UPDATE items SET qty = 5 WHERE id > $1', [1]), { rowCount: 2 });
        assert.deepEqual(await store.execute('DELETE FROM items WHERE id > $1', [99]), { rowCount: 0 });
      });

      void it('rejects a unique violation, recognisably', async () => {
        await store.migrate('catalog', [ITEMS]);
        await store.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'kettle']);
        await assert.rejects(
          store.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [2, 'kettle']),
          isUniqueViolation,
        );
        await assert.rejects(
          store.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'pan']),
          isUniqueViolation,
        );
        assert.equal(isUniqueViolation(new Error('other')), false);
      });

      void it('answers ping', async () => {
        await store.ping();
      });
    });

    void describe('transactions', () => {
      beforeEach(async () => {
        await store.migrate('catalog', [ITEMS]);
      });

      void it('commits when fn resolves and returns its value', async () => {
        const value = await store.transaction(async (tx) => {
          await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'kettle']);
          await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [2, 'pan']);
          return (await tx.query('SELECT COUNT(*) AS n FROM items'))[0]?.n;
        });
        assert.equal(value, 2);
        assert.deepEqual(await store.query('SELECT COUNT(*) AS n FROM items'), [{ n: 2 }]);
      });

      void it('transactionWithToken commits like transaction, and its token makes a reader see the commit', async () => {
        const { result, consistency } = await store.transactionWithToken(async (tx) => {
          await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [7, 'whisk']);
          return 'done';
        });
        assert.equal(result, 'done');
        // Without replicas every read sees every commit, so there is no token to carry.
        assert.ok(consistency === undefined || /^[0-9A-F]+\/[0-9A-F]+$/.test(consistency));
        const later = await store.consistencyToken();
        assert.equal(later === undefined, consistency === undefined, 'both tokens or neither');
        for (const options of [{ after: consistency }, {}]) {
          assert.deepEqual(await store.reader(options).query('SELECT name FROM items WHERE id = $1', [7]), [
            { name: 'whisk' },
          ]);
        }
        await assert.rejects(
          store.transactionWithToken(async (tx) => {
            await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [8, 'sieve']);
            throw new Error('changed my mind');
          }),
          /changed my mind/,
        );
        assert.deepEqual(await store.reader().query('SELECT name FROM items WHERE id = 8'), []);
      });

      void it('rolls back when fn throws and rethrows the same error', async () => {
        const boom = new Error('boom');
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'kettle']);
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepEqual(await store.query('SELECT COUNT(*) AS n FROM items'), [{ n: 0 }]);
      });

      void it('rolls back everything when a statement in it violates a constraint', async () => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'kettle']);
            await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [2, 'kettle']);
          }),
          isUniqueViolation,
        );
        assert.deepEqual(await store.query('SELECT COUNT(*) AS n FROM items'), [{ n: 0 }]);
      });

      void it('loses no update when 20 read-modify-write transactions run at once', async () => {
        await store.execute('INSERT INTO items (id, name, qty) VALUES (1, $1, 0)', ['counter']);
        const lockRow = store.kind === 'postgres' ? ' FOR UPDATE' : '';
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.transaction(async (tx) => {
              const [row] = await tx.query<{ qty: number }>(
                `SELECT qty FROM items WHERE id = $1${lockRow}`,
                [1],
              );
              assert.ok(row);
              await new Promise((resolve) => setImmediate(resolve));
              await tx.execute('UPDATE items SET qty = $1 WHERE id = $2', [row.qty + 1, 1]);
            }),
          ),
        );
        assert.deepEqual(await store.query('SELECT qty FROM items WHERE id = 1'), [{ qty: 20 }]);
      });

      void it('keeps a query issued while a transaction is open out of it', async () => {
        const inserted = deferred();
        const finish = deferred();
        const rolledBack = store.transaction(async (tx) => {
          await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'ghost']);
          inserted.resolve();
          await finish.promise;
          throw new Error('roll back');
        });
        await inserted.promise;
        const outside = store.query('SELECT COUNT(*) AS n FROM items');
        finish.resolve();
        await assert.rejects(rolledBack, /roll back/);
        assert.deepEqual(await outside, [{ n: 0 }]);
      });

      void it('rejects a transaction handle used after its transaction ended', async () => {
        const leaked = await store.transaction(async (tx) => tx);
        await assert.rejects(leaked.query('SELECT 1'), { code: 'store/transaction-finished' });
        await assert.rejects(leaked.execute('DELETE FROM items'), { code: 'store/transaction-finished' });
      });
    });

    void describe('close', () => {
      void it('rejects every call after close with store/closed', async () => {
        await store.close();
        await assert.rejects(store.query('SELECT 1'), { code: 'store/closed' });
        await assert.rejects(store.execute('SELECT 1'), { code: 'store/closed' });
        await assert.rejects(
          store.transaction(async () => 1),
          { code: 'store/closed' },
        );
        await assert.rejects(store.migrate('catalog', [ITEMS]), { code: 'store/closed' });
        await assert.rejects(store.ping(), { code: 'store/closed' });
        await store.close();
      });

      void it('waits for the open transaction to commit', async () => {
        await store.migrate('catalog', [ITEMS]);
        const entered = deferred();
        const finish = deferred();
        const committed = store.transaction(async (tx) => {
          entered.resolve();
          await finish.promise;
          await tx.execute('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'late']);
          return 'committed';
        });
        await entered.promise;
        let closed = false;
        const closing = store.close().then(() => (closed = true));
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(closed, false);
        finish.resolve();
        assert.equal(await committed, 'committed');
        await closing;
        await assert.rejects(store.query('SELECT 1'), { code: 'store/closed' });
      });
    });
  });
}
