import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Registry } from '@tern/telemetry';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  quietTelemetry,
  startPostgresCluster,
  startTcpProxy,
  waitFor,
  type PostgresCluster,
} from '@tern/testing';
import { createPostgresStore } from '../src/postgres-store';
import type { Store } from '../src/store';

/**
 * Read replicas against a real streaming standby: a primary and a standby started from scratch
 * (initdb, pg_basebackup, pg_ctl) on free ports.
 */
void describe('postgres store with a read replica', { timeout: 120_000 }, () => {
  let cluster: PostgresCluster;
  let store: Store;
  const metrics = new Registry();

  before(async () => {
    cluster = await startPostgresCluster();
    store = await createPostgresStore(
      {
        url: cluster.primary.url,
        poolSize: 4,
        replicas: { urls: [cluster.standby.url], maxLagMs: 1_000, checkIntervalMs: 100 },
      },
      { ...quietTelemetry(), metrics },
    );
    await store.migrate('lab', [
      { id: 1, name: 'items', sql: 'CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)' },
    ]);
  });
  after(async () => {
    await store?.close();
    await cluster?.destroy();
  });

  const onStandby = async (options = {}) =>
    (await store.reader(options).query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby'))[0]
      ?.standby;

  async function insert(id: number): Promise<string> {
    const { consistency } = await store.transactionWithToken((tx) =>
      tx.execute('INSERT INTO items (id, label) VALUES ($1, $2)', [id, `item ${id}`]),
    );
    assert.match(consistency ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    return consistency!;
  }

  async function readCount(): Promise<number> {
    const metric = await metrics.getSingleMetricAsString('tern_db_reads_total');
    const line = metric.split('\n').find((l) => l.includes('target="replica"'));
    return Number(line?.split(' ').at(-1) ?? 0);
  }

  it('sends reads to the replica once it is in rotation, and writes to the primary', async () => {
    await waitFor(() => onStandby(), { what: 'a read served by the standby' });
    const before = await readCount();
    for (let i = 0; i < 10; i++) assert.equal(await onStandby(), true);
    assert.equal(await readCount(), before + 10);
    const [primary] = await store.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
    assert.equal(primary?.standby, false);
  });

  it('reads its own writes with the token, every time, wherever the read runs', async () => {
    for (let id = 100; id < 300; id++) {
      const token = await insert(id);
      const rows = await store.reader({ after: token }).query('SELECT label FROM items WHERE id = $1', [id]);
      assert.deepEqual(rows, [{ label: `item ${id}` }], `read after write ${id}`);
    }
  });

  it('takes a lagging replica out of rotation and puts it back when it catches up', async () => {
    const standby = new pg.Client({ connectionString: cluster.standby.url });
    await standby.connect();
    try {
      await standby.query('SELECT pg_wal_replay_pause()');
      await insert(5_000);
      // Keep the primary's WAL moving while replay is paused, so the lag grows.
      await waitFor(
        async () => {
          await insert(5_000 + Math.floor(Math.random() * 1e6) + 1);
          return (await onStandby()) === false;
        },
        { what: 'the paused replica to leave rotation', intervalMs: 100 },
      );
      // Out of rotation: reads still answer, from the primary, with the newest data.
      const rows = await store.reader().query('SELECT id FROM items WHERE id = 5000');
      assert.deepEqual(rows, [{ id: 5_000 }]);
      await standby.query('SELECT pg_wal_replay_resume()');
      await waitFor(() => onStandby(), { what: 'the caught-up replica back in rotation' });
    } finally {
      await standby.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await standby.end();
    }
  });

  it('fails no read when the replica stops, and uses it again once it is back', async () => {
    await waitFor(() => onStandby(), { what: 'the replica in rotation' });
    let reads = 0;
    let failures = 0;
    let running = true;
    const readers = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          await store.reader().query('SELECT count(*) AS n FROM items');
          reads++;
        } catch {
          failures++;
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await cluster.standby.stop('immediate');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await onStandby(), false, 'reads go to the primary while the replica is down');
    await cluster.standby.start();
    await waitFor(() => onStandby(), { timeoutMs: 20_000, what: 'the restarted replica back in rotation' });
    running = false;
    await Promise.all(readers);
    assert.equal(failures, 0, `${failures} of ${reads + failures} reads failed`);
    assert.ok(reads > 50, `only ${reads} reads ran`);
  });

  it('does not admit a replica found far behind when the store opens', async () => {
    const standby = new pg.Client({ connectionString: cluster.standby.url });
    await standby.connect();
    try {
      await waitFor(() => onStandby(), { what: 'the replica in rotation' });
      await standby.query('SELECT pg_wal_replay_pause()');
      await insert(7_000);
      await sleep(1_500); // older than maxLagMs (1 s) before the new store ever looks
      const late = await createPostgresStore(
        {
          url: cluster.primary.url,
          poolSize: 2,
          replicas: { urls: [cluster.standby.url], maxLagMs: 1_000, checkIntervalMs: 100 },
        },
        quietTelemetry(),
      );
      try {
        for (let i = 0; i < 10; i++) {
          const rows = await late.reader().query('SELECT id FROM items WHERE id = 7000');
          assert.deepEqual(rows, [{ id: 7_000 }], 'a read sees the write the paused replica lacks');
          await sleep(50);
        }
      } finally {
        await late.close();
      }
    } finally {
      await standby.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await standby.end();
    }
  });

  it('gives up within seconds on a replica that stops answering mid-read, and reads the primary', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.standby.port });
    const viaProxy = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
    const silent = await createPostgresStore(
      {
        url: cluster.primary.url,
        poolSize: 2,
        replicas: { urls: [viaProxy], maxLagMs: 1_000, checkIntervalMs: 100 },
      },
      quietTelemetry(),
    );
    try {
      const standbyFlag = async () =>
        (await silent.reader().query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby'))[0]
          ?.standby;
      await waitFor(() => standbyFlag(), { what: 'the proxied replica in rotation' });
      proxy.freeze(); // connections stay open, nothing comes back: a dropped route
      const started = Date.now();
      assert.equal(await standbyFlag(), false, 'the read was answered by the primary');
      assert.ok(Date.now() - started < 10_000, `the read waited ${Date.now() - started} ms`);
    } finally {
      proxy.thaw();
      await silent.close();
      await proxy.close();
    }
  });
});
