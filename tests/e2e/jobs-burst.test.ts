import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authService } from '@tern/auth';
import { createJobsService, type JobType } from '@tern/jobs';
import { waitFor } from '@tern/testing';
import { Agent, request } from 'undici';
import { startDataHost, type DataHost } from './data-host';

const JOBS = Number(process.env.JOBS_BURST ?? 20_000);
const SENDERS = 64;

/** Effects of each job by its number: how many times the work was done, and how many deliveries came. */
const done = new Map<number, number>();
const deliveries = new Map<number, number>();

const burstType = {
  type: 'test.burst',
  description: 'A slow, idempotent piece of work.',
  access: 'user',
  payloadSchema: {
    type: 'object',
    required: ['n'],
    additionalProperties: false,
    properties: { n: { type: 'integer', minimum: 0 } },
  },
  async run({ n }: { n: number }) {
    deliveries.set(n, (deliveries.get(n) ?? 0) + 1);
    // Idempotent: the effect happens once whatever the deliveries.
    if (done.has(n)) return { n, duplicate: true };
    await new Promise((resolve) => setTimeout(resolve, 2));
    done.set(n, 1);
    return { n };
  },
} as JobType<{ n: number }> as JobType<never>;

/**
 * A peak: JOBS jobs sent as fast as the API accepts them, against four worker slots that each take
 * a few milliseconds a job. Every accept answers 202 at once (after the job is stored); the
 * backlog then drains, with every job's effect done exactly once and none lost.
 */
describe('a burst of jobs against a slow worker pool', { timeout: 170_000 }, () => {
  let host: DataHost;
  before(async () => {
    host = await startDataHost('embedded', { TERN_JOBS_CONCURRENCY: '4' }, [
      authService,
      { name: 'jobs', create: (deps) => createJobsService(deps, { extraTypes: [burstType] }) },
    ]);
  });
  after(async () => host?.close());

  it(`accepts ${JOBS} jobs at once, then processes every one exactly once in its effects`, async (t) => {
    const user = await host.signup();
    const agent = new Agent({ connections: SENDERS });
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < JOBS) {
          const n = next++;
          const sent = performance.now();
          const answer = await request(`${host.url}/v1/jobs`, {
            method: 'POST',
            headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'test.burst', payload: { n } }),
            dispatcher: agent,
          });
          await answer.body.dump();
          latencies.push(performance.now() - sent);
          statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
        }
      }),
    );
    const acceptSeconds = (performance.now() - started) / 1000;
    await agent.close();
    latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round((latencies[Math.floor(q * (latencies.length - 1))] ?? 0) * 10) / 10;
    const backlogAfterAccept = JOBS - done.size;
    t.diagnostic(
      `accepted ${JOBS} in ${acceptSeconds.toFixed(1)} s (${Math.round(JOBS / acceptSeconds)}/s); accept latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; ${backlogAfterAccept} still to process`,
    );
    assert.deepEqual([...statuses], [[202, JOBS]]);
    assert.ok(backlogAfterAccept > JOBS / 4, 'the workers are far slower than the accepts (a real backlog)');

    await waitFor(() => done.size === JOBS, {
      timeoutMs: 150_000,
      intervalMs: 250,
      what: 'the backlog to drain',
    });
    const drainSeconds = (performance.now() - started) / 1000 - acceptSeconds;
    const redelivered = [...deliveries.values()].filter((count) => count > 1).length;
    t.diagnostic(
      `drained in ${drainSeconds.toFixed(1)} s more; ${redelivered} jobs delivered more than once`,
    );
    for (let n = 0; n < JOBS; n++) assert.equal(done.get(n), 1, `job ${n}`);
    // The jobs table agrees: all succeeded, none left queued or running.
    const metrics = await (await fetch(`${host.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`tern_jobs_attempts_total\\{type="test.burst",outcome="succeeded"[^}]*\\} ${JOBS}\\b`),
    );
  });
});
