import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteQueue } from '@tern/queue';
import { createSqliteStore } from '@tern/store';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { quietTelemetry, waitFor } from '@tern/testing';
import { createOutbox, OUTBOX_MIGRATIONS } from './outbox';
import { createOutboxRelay } from './outbox-relay';
import { runOutboxContract } from './outbox.contract';

runOutboxContract('SQLite store + SQLite queue', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-outbox-'));
  const telemetry = quietTelemetry();
  const store = await createSqliteStore({ file: join(dir, 'tern.db') }, telemetry);
  const queue = await createSqliteQueue({ file: join(dir, 'queue.db') }, telemetry);
  return {
    store,
    queue,
    async cleanup() {
      await queue.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

it('retries an event the queue could not take, and hands the rest of the batch back at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-outbox-'));
  const telemetry = quietTelemetry();
  const store = await createSqliteStore({ file: join(dir, 'tern.db') }, telemetry);
  const down = await createSqliteQueue({ file: join(dir, 'down.db') }, telemetry);
  const queue = await createSqliteQueue({ file: join(dir, 'queue.db') }, telemetry);
  try {
    await store.migrate('tern.outbox', OUTBOX_MIGRATIONS);
    const outbox = createOutbox();
    await store.transaction((tx) =>
      outbox.add(
        tx,
        [1, 2, 3].map((n) => ({ topic: 'items.retry', payload: { n } })),
      ),
    );
    await down.close(); // publishing now fails as an unreachable queue would: retryable
    const failing = createOutboxRelay({ store, queue: down, telemetry, relayId: 'failing' });
    assert.equal(await failing.flush(), 0);
    const rows = await store.query<{
      attempts: number;
      failed_at: unknown;
      claimed_until: unknown;
      last_error: string;
    }>('SELECT attempts, failed_at, claimed_until, last_error FROM tern_outbox ORDER BY id');
    assert.equal(rows[0]?.attempts, 1, 'the first event counts a failed attempt');
    assert.equal(rows[0]?.failed_at, null, 'a transient failure is never parked');
    assert.ok(Number(rows[0]?.claimed_until) > Date.now(), 'and waits for its backoff');
    for (const row of rows.slice(1)) {
      assert.equal(row.attempts, 0);
      assert.equal(row.claimed_until, null, 'the untried rows are handed back at once');
    }

    const seen: number[] = [];
    const consumer = await queue.consume(
      'items.retry',
      async (message) => void seen.push((message.payload as { n: number }).n),
      {
        group: 'g',
      },
    );
    const healthy = createOutboxRelay({ store, queue, telemetry, relayId: 'healthy' });
    assert.equal(await healthy.flush(), 2);
    await waitFor(() => seen.length === 2, { what: 'the handed-back rows' });
    await waitFor(async () => (await healthy.flush()) === 1, {
      timeoutMs: 5_000,
      what: 'the retried row after its backoff',
    });
    await waitFor(() => seen.length === 3, { what: 'the retried event' });
    assert.deepEqual(seen.sort(), [1, 2, 3]);
    await consumer.stop();
  } finally {
    await queue.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
