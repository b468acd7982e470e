import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@tern/testing';
import { createSqliteQueue, type QueueMessage } from '@tern/queue';
import { silentTelemetry } from '../src/queue.contract';
import { spawnFixture } from './spawn-fixture';

function tempFile(): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tern-queue-crash-'));
  return { file: join(dir, 'queue.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// node:test runs what is registered; the returned promise only reports completion.
void test(
  'every message a SIGKILLed publisher saw acknowledged is delivered',
  { timeout: 60_000 },
  async () => {
    const { file, remove } = tempFile();
    try {
      const publisher = spawnFixture('publish-until-killed.ts', [file, 'orders']);
      await waitFor(() => publisher.lines.length >= 200, {
        timeoutMs: 30_000,
        what: '200 acknowledged publishes',
      });
      publisher.process.kill('SIGKILL');
      await publisher.closed;
      const acknowledged = new Set(publisher.lines);
      assert.ok(acknowledged.size >= 200);

      const queue = await createSqliteQueue({ file }, silentTelemetry());
      try {
        const delivered = new Set<string>();
        const consumer = await queue.consume(
          'orders',
          async (m) => {
            delivered.add(m.id);
          },
          { group: 'audit', concurrency: 8 },
        );
        await waitFor(() => [...acknowledged].every((id) => delivered.has(id)), {
          timeoutMs: 30_000,
          what: 'every acknowledged id delivered',
        });
        await consumer.stop();
        const lost = [...acknowledged].filter((id) => !delivered.has(id));
        assert.deepEqual(lost, []);
        // At most the one publish in flight at the kill can exist beyond what was acknowledged.
        assert.ok(
          delivered.size - acknowledged.size <= 1,
          `${delivered.size} delivered, ${acknowledged.size} acked`,
        );
      } finally {
        await queue.close();
      }
    } finally {
      remove();
    }
  },
);

void test(
  'a message leased by a worker SIGKILLed mid-handler is redelivered after ackWait',
  { timeout: 60_000 },
  async () => {
    const { file, remove } = tempFile();
    const queue = await createSqliteQueue({ file }, silentTelemetry());
    try {
      const worker = spawnFixture('consume-worker.ts', [file, 'jobs', 'workers', 'hang', '500']);
      await waitFor(() => worker.lines.includes('ready'), { timeoutMs: 30_000, what: 'the worker to start' });
      const { id } = await queue.publish('jobs', { job: 1 });
      await waitFor(() => worker.lines.includes(`started ${id}`), { what: 'the worker to take the job' });
      worker.process.kill('SIGKILL');
      await worker.closed;
      const killedAt = Date.now();

      const received: QueueMessage[] = [];
      const consumer = await queue.consume(
        'jobs',
        async (m) => {
          received.push(m);
        },
        { group: 'workers', ackWaitMs: 500 },
      );
      await waitFor(() => received.length === 1, { timeoutMs: 10_000, what: 'the redelivery' });
      await consumer.stop();
      const [message] = received;
      assert.equal(message?.id, id);
      assert.equal(message?.deliveries, 2);
      assert.ok(Date.now() - killedAt < 5_000);
    } finally {
      await queue.close();
      remove();
    }
  },
);

void test(
  'workers in two processes on one file split the messages and never both take one',
  { timeout: 60_000 },
  async () => {
    const { file, remove } = tempFile();
    const queue = await createSqliteQueue({ file }, silentTelemetry());
    const workers = [1, 2].map(() =>
      // Slow enough that one worker cannot keep up, so a split is owed to the other, not to luck.
      spawnFixture('consume-worker.ts', [file, 'jobs', 'workers', 'ack', '30000', '10']),
    );
    try {
      await waitFor(() => workers.every((w) => w.lines.includes('ready')), {
        timeoutMs: 30_000,
        what: 'workers ready',
      });
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) ids.push((await queue.publish('jobs', { i })).id);
      const handled = () =>
        workers.flatMap((w) => w.lines.filter((l) => l.startsWith('handled ')).map((l) => l.slice(8)));
      await waitFor(() => handled().length >= ids.length, { timeoutMs: 30_000, what: 'all 300 handled' });
      for (const worker of workers) worker.process.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.closed));
      const all = handled();
      assert.equal(all.length, ids.length, 'no message handled twice');
      assert.deepEqual(new Set(all), new Set(ids));
      for (const worker of workers)
        assert.ok(
          worker.lines.some((l) => l.startsWith('handled ')),
          'both workers take work',
        );
    } finally {
      for (const worker of workers) if (worker.process.exitCode === null) worker.process.kill('SIGKILL');
      await queue.close();
      remove();
    }
  },
);
