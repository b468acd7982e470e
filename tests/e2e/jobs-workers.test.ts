import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  TEST_NATS_URL,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@tern/testing';
import { spawnTern, type TernProcess } from './spawn-tern';

/**
 * Jobs across real processes, on each queue adapter: a worker killed with SIGKILL in the middle
 * of a job, and the job redelivered to a worker process (`tern start --service worker`) that
 * completes it.
 */
for (const adapter of ['sqlite', 'nats'] as const) {
  describe(`jobs across processes (${adapter} queue)`, { timeout: 150_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-jobs-workers-'));
    const stream = uniqueName('JOBW').toUpperCase();
    const adminKey = `jobs-workers-admin-key-${uniqueName('k')}`;
    let database: TestDatabase | undefined;
    const processes: TernProcess[] = [];
    /** The receiver holds the first delivery open (the job is mid-way) and answers the others. */
    const deliveries: { at: number; response: ServerResponse }[] = [];
    const receiver = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        deliveries.push({ at: Date.now(), response });
        if (deliveries.length > 1) response.writeHead(200).end();
      });
    });
    let env: Record<string, string> = {};

    before(async () => {
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      if (adapter === 'nats') database = await createTestDatabase();
      env = {
        TERN_DATA_DIR: dir,
        TERN_ADMIN_KEY: adminKey,
        TERN_LOG_LEVEL: 'warn',
        TERN_WEBHOOK_SECRET: 'jobs-workers-webhook-secret-0123',
        TERN_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        // An attempt's limit is 2.5 s: the queue redelivers about 5.5 s after the worker died.
        TERN_WEBHOOK_TIMEOUT_MS: '1500',
        ...(database
          ? { DATABASE_URL: database.url, NATS_URL: TEST_NATS_URL, TERN_NATS_STREAM: stream }
          : {}),
      };
    });
    after(async () => {
      for (const process of processes) await process.stop('SIGKILL');
      for (const delivery of deliveries) delivery.response.destroy();
      receiver.close();
      await database?.drop();
      if (adapter === 'nats') await deleteNatsStreams(stream);
      rmSync(dir, { recursive: true, force: true });
    });

    const start = async (service: 'jobs' | 'worker') => {
      const process = await spawnTern(['start', '--service', service, '--port', '0'], env);
      processes.push(process);
      return process;
    };

    it('redelivers a job whose worker was killed mid-way to a worker process, which completes it', async () => {
      const first = await start('jobs');
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const accepted = await fetch(`${first.url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'webhook.deliver', payload: { url, event: 'e', data: { n: 1 } } }),
      });
      assert.equal(accepted.status, 202, await accepted.clone().text());
      const { id } = (await accepted.json()) as { id: string };
      await waitFor(() => deliveries.length === 1, { timeoutMs: 15_000, what: 'the first delivery' });
      first.child.kill('SIGKILL');
      assert.equal(await first.exited, null);

      // Only a worker process is left to take it.
      await start('worker');
      await waitFor(() => deliveries.length >= 2, { timeoutMs: 30_000, what: 'the redelivery' });
      assert.ok(
        (deliveries[1]?.at ?? 0) - (deliveries[0]?.at ?? 0) >= 2_500,
        'not before the attempt timed out',
      );

      // An API process to read the outcome (its own workers find nothing left to do).
      const reader = await start('jobs');
      const job = await waitFor(
        async () => {
          const answer = await fetch(`${reader.url}/v1/jobs/${id}`, {
            headers: { authorization: `Bearer ${adminKey}` },
          });
          const body = (await answer.json()) as Record<string, unknown>;
          return body.status === 'succeeded' ? body : undefined;
        },
        { timeoutMs: 15_000, what: 'the job to succeed' },
      );
      assert.equal(job.attempts, 2);
      assert.match(String(job.lastError), /did not finish/);
      assert.equal(deliveries.length, 2, 'delivered once more, not again and again');
      for (const process of processes.splice(0))
        assert.equal((await process.stop('SIGTERM')) ?? 0, 0, process.stderr.join(''));
    });
  });
}
