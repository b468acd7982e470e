/**
 * Accepting background jobs: Tern's `POST /v1/jobs` on its embedded queue (SQLite store and
 * queue) and on PostgreSQL + NATS JetStream, against the Node reference, Fastify + BullMQ on the
 * same Redis (`bench/jobs/bullmq-server.ts`), in one run (about 1.5 min):
 *
 *   accept      closed loop (BENCH_CONNECTIONS, 1 s warm-up, BENCH_SECONDS): 202s per second
 *   to start    a fixed arrival rate (BENCH_RATE, default 1,000 jobs/s, BENCH_RATE_SECONDS): the
 *               accept latency from the intended send time, and enqueue-to-start (p50/p99), from
 *               each system's own records: Tern's job rows (`started_at − created_at`), BullMQ's
 *               `processedOn − timestamp`, both in ms
 *
 * Every server runs one no-op job type with 8 worker slots in the same process, pinned to core 1;
 * this process and the load generators run on core 0; PostgreSQL, NATS and Redis unpinned.
 * Durability differs and is part of the comparison: Tern answers 202 after the job row is
 * committed (SQLite: fsynced; PostgreSQL: its commit), BullMQ after Redis took the command
 * (this machine's Redis keeps nothing on disk).
 *
 *   npm run --workspace bench jobs
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { cannonLoop } from './data/cannon-loop';
import { processCpuMs } from './data/process-cpu';
import { createDatabase, dropDatabase, psql } from './data/servers';
import {
  envNumber,
  pinLayout,
  ROOT,
  round,
  saveResults,
  spawnServer,
  warnIfNoisy,
} from './lib/bench-process';
import type { ProbeRequest } from './lib/rate-probe';
import { runProbe } from './lib/run-probe';
import { noiseSince, sampleCpu } from './auth/cpu-noise';
import { deleteNatsStreams } from '@tern/testing';

const env = envNumber;
const SECONDS = env('BENCH_SECONDS', 5);
const CONNECTIONS = env('BENCH_CONNECTIONS', 32);
const RATE = env('BENCH_RATE', 1_000);
const RATE_SECONDS = env('BENCH_RATE_SECONDS', 5);
const { cores: CORES, pinned: PIN, serverCore: SERVER_CORE } = pinLayout();
const ADMIN_KEY = 'bench-jobs-admin-key-0123456789abcdef';

interface Target {
  name: 'tern, embedded' | 'tern, jetstream' | 'bullmq';
  url: string;
  pid: number;
  /** Enqueue-to-start delays (ms) of the jobs accepted since `reset`. */
  delays(): Promise<number[]>;
  /** Jobs accepted and not yet done. */
  pending(): Promise<number>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) : NaN;
}

async function startTernJobs(name: Target['name'], extraEnv: Record<string, string>): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'tern-bench-jobs-'));
  const server = await spawnServer({
    name,
    args: [
      '--import',
      'tsx',
      fileURLToPath(new URL('./jobs/tern-jobs.ts', import.meta.url)),
      'start',
      '--service',
      'jobs',
      '--port',
      '0',
    ],
    cpus: SERVER_CORE,
    cwd: ROOT,
    env: {
      ...process.env,
      TERN_DATA_DIR: dir,
      TERN_HOST: '127.0.0.1',
      TERN_LOG_LEVEL: 'warn',
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_JOBS_CONCURRENCY: '8',
      ...extraEnv,
    },
    listening: /Tern is listening on (http:\/\/\S+)/,
  });
  server.child.stdout?.resume();
  const database = extraEnv.BENCH_DATABASE;
  let since = Date.now();
  const query = `SELECT started_at - created_at AS delay FROM jobs WHERE created_at >= ${'$SINCE'} AND started_at IS NOT NULL`;
  return {
    name,
    url: server.url,
    pid: server.pid,
    async delays() {
      const sql = query.replace('$SINCE', String(since));
      if (database) {
        return psql(sql, database).split('\n').filter(Boolean).map(Number);
      }
      const db = new Database(join(dir, 'tern.db'), { readonly: true });
      try {
        return (db.prepare(sql).all() as { delay: number }[]).map((row) => Number(row.delay));
      } finally {
        db.close();
      }
    },
    async pending() {
      const sql = `SELECT count(*) AS pending FROM jobs WHERE status IN ('queued', 'running')`;
      if (database) return Number(psql(sql, database).trim());
      const db = new Database(join(dir, 'tern.db'), { readonly: true });
      try {
        return Number((db.prepare(sql).get() as { pending: number }).pending);
      } finally {
        db.close();
      }
    },
    async reset() {
      since = Date.now();
    },
    async stop() {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => server.child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startBullmq(): Promise<Target> {
  const server = await spawnServer({
    name: 'bullmq',
    args: [...process.execArgv, fileURLToPath(new URL('./jobs/bullmq-server.ts', import.meta.url))],
    cpus: SERVER_CORE,
    env: { ...process.env, BENCH_REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    listening: /listening on (http:\/\/\S+)/,
  });
  server.child.stdout?.resume();
  return {
    name: 'bullmq',
    url: server.url,
    pid: server.pid,
    async delays() {
      return ((await (await fetch(`${server.url}/stats`)).json()) as { delays: number[] }).delays;
    },
    async pending() {
      return ((await (await fetch(`${server.url}/stats`)).json()) as { pending: number }).pending;
    },
    async reset() {
      await fetch(`${server.url}/stats/reset`, { method: 'POST' });
    },
    async stop() {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => server.child.once('exit', resolve));
    },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `cores: ${CORES}; ${PIN ? `servers on core ${SERVER_CORE}, load generators on core 0` : 'no pinning'}; PostgreSQL, NATS, Redis unpinned`,
  );
  const database = `bench_jobs_${process.pid}`;
  const stream = `BENCHJOBS${process.pid}`;
  const databaseUrl = createDatabase(database);
  const headers = { authorization: `Bearer ${ADMIN_KEY}` };
  const requests: ProbeRequest[] = [
    { method: 'POST', path: '/v1/jobs', headers, body: { type: 'bench.noop', payload: { n: 1 } } },
  ];
  const rows: Record<string, unknown>[] = [];
  const results: Record<string, unknown> = {};
  let noisiest = 0;
  try {
    // One server at a time, so an idle one never shares the core.
    const starts: (() => Promise<Target>)[] = [
      () => startTernJobs('tern, embedded', {}),
      () =>
        startTernJobs('tern, jetstream', {
          DATABASE_URL: databaseUrl,
          NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
          TERN_NATS_STREAM: stream,
          BENCH_DATABASE: database,
        }),
      () => startBullmq(),
    ];
    // BENCH_JOBS_ONLY=1 (or 0,2): only those systems, by their place in the table.
    const only = process.env.BENCH_JOBS_ONLY?.split(',').map(Number);
    for (const [index, start] of starts.entries()) {
      if (only && !only.includes(index)) continue;
      const target = await start();
      try {
        await cannonLoop({ url: target.url, connections: CONNECTIONS, seconds: 1, requests });
        const noise = sampleCpu();
        const cpuBefore = processCpuMs(target.pid);
        const accept = await cannonLoop({
          url: target.url,
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests,
        });
        const cpuMs = (processCpuMs(target.pid) - cpuBefore) / Math.max(1, accept.ok);
        const others = noiseSince(noise).othersPctOfCore;
        noisiest = Math.max(noisiest, others);
        // The closed loop's backlog drains before the fixed-rate pass (how long it took is reported).
        const drainStarted = performance.now();
        while ((await target.pending()) > 0 && performance.now() - drainStarted < 120_000) {
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const drainSeconds = (performance.now() - drainStarted) / 1000;
        await target.reset();
        const probe = await runProbe({
          url: target.url,
          rate: RATE,
          requests: Array.from({ length: RATE * RATE_SECONDS }, () => requests[0] as ProbeRequest),
        });
        const settleStarted = performance.now();
        while ((await target.pending()) > 0 && performance.now() - settleStarted < 30_000) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const delays = (await target.delays()).sort((a, b) => a - b);
        rows.push({
          system: target.name,
          'accepts/s': accept.perSecond,
          'server CPU ms/accept': round(cpuMs, 3),
          'backlog drained s': round(drainSeconds, 1),
          [`accept p50/p99 ms @${RATE}/s`]: `${probe.p50Ms} / ${probe.p99Ms}`,
          [`to start p50/p99 ms @${RATE}/s`]: `${quantile(delays, 0.5)} / ${quantile(delays, 0.99)}`,
          started: `${delays.length}/${probe.ok}`,
          failed: accept.failed + probe.failed,
          'others % core': others,
        });
        results[target.name] = {
          accept,
          cpuMs,
          probe: { ...probe, ids: undefined },
          delays: delays.length,
          p50: quantile(delays, 0.5),
          p99: quantile(delays, 0.99),
        };
        console.log(`${target.name}: ${accept.perSecond} accepts/s`);
      } finally {
        await target.stop();
      }
    }
  } finally {
    dropDatabase(database);
    await deleteNatsStreams(stream);
  }
  console.log(
    `\nAccept: closed loop, ${CONNECTIONS} connections, ${SECONDS} s; fixed rate ${RATE}/s for ${RATE_SECONDS} s`,
  );
  console.table(rows);
  const rate = (name: string) => Number(rows.find((row) => row.system === name)?.['accepts/s'] ?? 0);
  console.log(
    `targets: JetStream-backed accept ÷ BullMQ add ${round(rate('tern, jetstream') / Math.max(1, rate('bullmq')))} (≥ 2); ` +
      `enqueue-to-start p99 at ${RATE}/s: ${rows.map((row) => `${String(row.system)} ${String(row[`to start p50/p99 ms @${RATE}/s`]).split(' / ')[1]} ms`).join(', ')} (< 10 ms)`,
  );
  warnIfNoisy(noisiest);
  saveResults('jobs', { rows, results, seconds: SECONDS, connections: CONNECTIONS, rate: RATE });
  console.log(`total ${round((performance.now() - started) / 1000, 1)} s`);
}

await main();
