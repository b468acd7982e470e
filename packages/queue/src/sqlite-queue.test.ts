import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@tern/testing';
import type { Queue } from './queue';
import { runQueueContract, silentTelemetry } from './queue.contract';
import { createSqliteQueue } from './sqlite-queue';

function tempFile(): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tern-queue-'));
  return { file: join(dir, 'queue.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

runQueueContract('sqlite', async () => {
  const { file, remove } = tempFile();
  const telemetry = silentTelemetry();
  const opened: Queue[] = [await createSqliteQueue({ file }, telemetry)];
  return {
    queue: opened[0]!,
    metrics: telemetry.metrics,
    reopen: async () => {
      const queue = await createSqliteQueue({ file }, silentTelemetry());
      opened.push(queue);
      return queue;
    },
    async cleanup() {
      await Promise.all(opened.map((queue) => queue.close()));
      remove();
    },
  };
});

// node:test runs what is registered; the returned promise only reports completion.
void test(
  'two queue instances on one file never hold the same message at once',
  { timeout: 30_000 },
  async () => {
    const { file, remove } = tempFile();
    const queues = await Promise.all([1, 2, 3].map(() => createSqliteQueue({ file }, silentTelemetry())));
    try {
      const [publisher] = queues;
      const holding = new Set<string>();
      const overlaps: string[] = [];
      const handled: string[] = [];
      const consumers = await Promise.all(
        queues.map((queue) =>
          queue.consume(
            'jobs',
            async (m) => {
              if (holding.has(m.id)) overlaps.push(m.id);
              holding.add(m.id);
              await new Promise((resolve) => setImmediate(resolve));
              holding.delete(m.id);
              handled.push(m.id);
            },
            { group: 'g', concurrency: 4, ackWaitMs: 10_000 },
          ),
        ),
      );
      const ids = new Set<string>();
      for (let i = 0; i < 300; i++) ids.add((await publisher!.publish('jobs', { i })).id);
      await waitFor(() => handled.length >= ids.size, { timeoutMs: 20_000, what: 'all 300 handled' });
      await Promise.all(consumers.map((c) => c.stop()));
      assert.deepEqual(overlaps, []);
      assert.equal(handled.length, ids.size, 'each message handled exactly once');
      assert.deepEqual(new Set(handled), ids);
    } finally {
      await Promise.all(queues.map((queue) => queue.close()));
      remove();
    }
  },
);

void test('publishes made in one turn share a transaction and keep every result, duplicates included', async () => {
  const { file, remove } = tempFile();
  const queue = await createSqliteQueue({ file }, silentTelemetry());
  try {
    // 300 at once, as an outbox relay publishes a batch; every tenth repeats an earlier dedup id.
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        queue.publish('batch', { i }, { dedupId: `batch:${i % 10 === 9 ? i - 1 : i}` }),
      ),
    );
    assert.equal(results.filter((result) => result.duplicate).length, 30);
    results.forEach((result, i) => {
      assert.equal(result.id, `batch:${i % 10 === 9 ? i - 1 : i}`);
      assert.equal(result.duplicate, i % 10 === 9);
    });
    const seen = new Set<unknown>();
    const consumer = await queue.consume<{ i: number }>(
      'batch',
      async (message) => {
        seen.add(message.payload.i);
      },
      { group: 'g', concurrency: 8 },
    );
    await waitFor(() => seen.size === 270, { what: 'every stored message delivered' });
    await consumer.stop();
    assert.ok([...seen].every((i) => (i as number) % 10 !== 9));
  } finally {
    await queue.close();
    remove();
  }
});
