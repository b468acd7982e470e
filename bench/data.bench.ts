/**
 * Tern's data service against Parse Server, both on the same PostgreSQL, in one run (about 2 min):
 *
 *   get by id, warm   the same 100 hot documents again and again (Tern's cache warm)
 *   get by id, cold   documents never read before (on Tern a cache miss each)
 *   create            a new document per request
 *   list              `score == k`, newest first, 20 per page, served by an index (score, createdAt)
 *
 * Each operation: a closed loop (BENCH_CONNECTIONS clients, 1 s warm-up, BENCH_SECONDS) on each
 * server, the ratio Tern ÷ Parse; then an open-model pass at a fixed arrival rate (BENCH_RATE_SHARE
 * of Parse's closed-loop throughput, the same rate on both) reporting p50/p99 counted from the
 * intended send time. Both sides: one user, signed in, reading and writing its own documents
 * (Tern: owner-only default rules, Bearer access token; Parse: CLP requiring a signed-in user, an
 * owner-only ACL on each object, session token). Each server is pinned to core 1, this process
 * and its load generators to core 0; PostgreSQL runs unpinned on the same machine. Each side gets
 * a fresh database, dropped at the end. Tern runs in the services shape (DATABASE_URL, admin key)
 * without REDIS_URL, so its cache is the in-process LRU.
 *
 *   npm run --workspace bench data
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 npm run --workspace bench data
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { envNumber, pinLayout, round, saveResults, warnIfNoisy } from './lib/bench-process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noiseSince, sampleCpu } from './auth/cpu-noise';
import { closedLoop, type ClosedLoopResult, type StepOutcome } from './auth/http-load';
import { startTern, stopTern, type TernServer } from './auth/tern-server';
import { cannonLoop } from './data/cannon-loop';
import { postgresCpuMs, processCpuMs } from './data/process-cpu';
import type { ProbeRequest, ProbeResult } from './lib/rate-probe';
import { runProbe } from './lib/run-probe';
import { createDatabase, dropDatabase, psql, startParse, stopParse, type ParseProcess } from './data/servers';
import { parse, SCORES, tern, type Target } from './data/targets';

const env = envNumber;
const SECONDS = env('BENCH_SECONDS', 5);
const WARMUP_SECONDS = 1;
const CONNECTIONS = env('BENCH_CONNECTIONS', 32);
const DOCS = env('BENCH_DOCS', 10_000);
const HOT = 100;
const RATE_SECONDS = env('BENCH_RATE_SECONDS', 5);
const RATE_SHARE = env('BENCH_RATE_SHARE', 0.6);
const { cores: CORES, pinned: PIN, serverCore: SERVER_CORE } = pinLayout();
const ADMIN_KEY = 'bench-data-admin-key-0123456789abcdef';
const PARSE_KEYS = { appId: 'bench-data', masterKey: 'bench-data-master-key-0123456789' };

const OPS = ['get warm', 'get cold', 'create', 'list'] as const;
type Op = (typeof OPS)[number];
const TARGETS: Record<Op, number> = { 'get warm': 10, 'get cold': 1, create: 5, list: 5 };

/** Waits until Tern's outbox holds no unpublished event (at most 60 s); returns how long that took. */
async function drainOutbox(database: string): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 60_000) {
    if (Number(psql('SELECT count(*) FROM tern_outbox WHERE failed_at IS NULL', database).trim()) === 0)
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Math.round(performance.now() - started);
}

function shuffle<T>(values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [values[i], values[j]] = [values[j] as T, values[i] as T];
  }
  return values;
}

/** What one side keeps between phases: its hot ids, the ids never read yet, the next document number. */
interface SideState {
  target: Target;
  hot: string[];
  unread: string[];
  nextDoc: number;
}

interface Measured extends ClosedLoopResult {
  /** CPU per request: the server process (every thread), PostgreSQL (every process). */
  serverCpuMs: number;
  postgresCpuMs: number;
  othersPctOfCore: number;
  stealPctOfCore: number;
}

function send(side: SideState, request: ProbeRequest) {
  return side.target.client.send(request.method, request.path, request.body, request.headers);
}

function stepFor(side: SideState, op: Op): (client: number) => Promise<StepOutcome> {
  let next = 0;
  switch (op) {
    case 'get warm':
      return async () =>
        (await send(side, side.target.get(side.hot[next++ % HOT] as string))).status === 200
          ? 'ok'
          : 'failed';
    case 'get cold':
      return async () => {
        const id = side.unread.pop();
        if (id === undefined) return 'stop';
        return (await send(side, side.target.get(id))).status === 200 ? 'ok' : 'failed';
      };
    case 'create':
      return async () => {
        const response = await send(side, side.target.create(side.nextDoc++));
        if (response.status !== 201) return 'failed';
        side.unread.unshift(side.target.idOf(response.body));
        return 'ok';
      };
    case 'list':
      return async () => {
        const response = await send(side, side.target.list(Math.floor(Math.random() * SCORES)));
        return response.status === 200 && side.target.countOf(response.body) === 20 ? 'ok' : 'failed';
      };
  }
}

/**
 * Closed loop after a warm-up, with the CPU the server and PostgreSQL spent per request. Reads of
 * the hot documents go through autocannon, which drives about 1.7× what the node:http loop does
 * from the same core, so the loop is not what limits the faster server; the other operations
 * need per-request state (fresh ids, new bodies) and use the node:http loop.
 */
async function closed(side: SideState, op: Op): Promise<Measured> {
  const step = stepFor(side, op);
  const loop = (seconds: number) =>
    op === 'get warm'
      ? cannonLoop({
          url: side.target.url,
          connections: CONNECTIONS,
          seconds,
          requests: side.hot.map((id) => side.target.get(id)),
        })
      : closedLoop({ clients: CONNECTIONS, seconds, step });
  await loop(WARMUP_SECONDS);
  const cpu = sampleCpu();
  const serverBefore = processCpuMs(side.target.pid);
  const pgBefore = postgresCpuMs();
  const result = await loop(SECONDS);
  const pgMs = postgresCpuMs() - pgBefore;
  const serverMs = processCpuMs(side.target.pid) - serverBefore;
  const noise = noiseSince(cpu);
  const done = Math.max(1, result.ok);
  return {
    ...result,
    serverCpuMs: round(serverMs / done, 3),
    postgresCpuMs: round(pgMs / done, 3),
    // PostgreSQL is outside this process tree: not noise, it is the database under test.
    othersPctOfCore: Math.max(0, Math.round(noise.othersPctOfCore - (pgMs / 1000 / result.seconds) * 100)),
    stealPctOfCore: noise.stealPctOfCore,
  };
}

/** One fixed-rate pass of `op` on one side; creates feed the cold reads that follow. */
async function fixedRate(side: SideState, op: Op, rate: number): Promise<ProbeResult & { rate: number }> {
  const count = Math.round(rate * RATE_SECONDS);
  let requests: ProbeRequest[];
  switch (op) {
    case 'get warm':
      for (const id of side.hot) await send(side, side.target.get(id));
      requests = Array.from({ length: count }, (_, i) => side.target.get(side.hot[i % HOT] as string));
      break;
    case 'get cold':
      requests = side.unread.splice(-count).map((id) => side.target.get(id));
      break;
    case 'create':
      requests = Array.from({ length: count }, () => side.target.create(side.nextDoc++));
      break;
    case 'list':
      requests = Array.from({ length: count }, () => side.target.list(Math.floor(Math.random() * SCORES)));
      break;
  }
  const result = await runProbe({ url: side.target.url, rate, requests, collectIds: op === 'create' });
  if (op === 'create') side.unread.push(...result.ids);
  return { ...result, ids: [], rate };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  console.log(
    `cores: ${CORES}; ${PIN ? `servers on core ${SERVER_CORE}, this process and its load generators on core 0` : 'no pinning'}; PostgreSQL unpinned`,
  );
  const suffix = `${process.pid}_${Date.now()}`;
  const ternDb = `bench_data_tern_${suffix}`;
  const parseDb = `bench_data_parse_${suffix}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tern-bench-data-'));
  let ternServer: TernServer | undefined;
  let parseServer: ParseProcess | undefined;
  try {
    const ternUrl = createDatabase(ternDb);
    const parseUrl = createDatabase(parseDb);
    const ternStart = performance.now();
    ternServer = await startTern(dataDir, SERVER_CORE, {
      DATABASE_URL: ternUrl,
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
      TERN_AUTH_ARGON2_ITERATIONS: '1',
    });
    const ternStartMs = Math.round(performance.now() - ternStart);
    const parseStart = performance.now();
    parseServer = await startParse({ databaseURI: parseUrl, ...PARSE_KEYS }, SERVER_CORE);
    const parseStartMs = Math.round(performance.now() - parseStart);
    console.log(`started: Tern in ${ternStartMs} ms, Parse Server in ${parseStartMs} ms`);

    const seedStart = performance.now();
    const [ternSeed, parseSeed] = await Promise.all([
      tern(ternServer.url, ternServer.pid, ADMIN_KEY, DOCS, CONNECTIONS + 8),
      parse(parseServer.url, parseServer.pid, { ...PARSE_KEYS, database: parseDb }, DOCS, CONNECTIONS + 8),
    ]);
    console.log(`seeded ${DOCS} documents on each in ${round((performance.now() - seedStart) / 1000, 1)} s`);
    // Statistics, as autovacuum would have gathered after 10,000 inserts; a PostgreSQL run with
    // autovacuum off (as on the bench machine) has none, and Tern's planner then intersects the
    // owner index (every document of the user) with the query's index on each list.
    for (const database of [ternDb, parseDb]) psql('VACUUM ANALYZE', database);
    // Every write's event goes out through Tern's outbox relay after the write answered; the
    // events of the seeding must not be published during the first measurement.
    console.log(`outbox drained ${await drainOutbox(ternDb)} ms after the seeding`);
    const sides = [ternSeed, parseSeed].map(({ target, ids }): SideState => {
      const shuffled = shuffle([...ids]);
      return { target, hot: shuffled.slice(0, HOT), unread: shuffled.slice(HOT), nextDoc: DOCS };
    });
    for (const side of sides) {
      const response = await send(side, side.target.list(7));
      if (response.status !== 200 || side.target.countOf(response.body) !== 20) {
        throw new Error(`${side.target.name} list: ${response.status} ${response.body.slice(0, 300)}`);
      }
      // Warm: every hot id read once before measuring.
      for (const id of side.hot) {
        const read = await send(side, side.target.get(id));
        if (read.status !== 200) throw new Error(`${side.target.name} get: ${read.status} ${read.body}`);
      }
    }

    // Closed loops; the side that goes first alternates, since a VM's speed drifts within a minute.
    const closedResults = {} as Record<Op, { tern: Measured; parse: Measured }>;
    const drained = {} as Record<Op, number>;
    for (const [i, op] of OPS.entries()) {
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      const measured: Measured[] = [];
      for (const side of order) {
        measured.push(await closed(side, op));
        // Work a phase left behind belongs to it, not to the next one; shown when there was any.
        if (side.target.name === 'Tern') drained[op] = await drainOutbox(ternDb);
      }
      const [tern, parse] = i % 2 === 0 ? measured : [...measured].reverse();
      closedResults[op] = { tern: tern as Measured, parse: parse as Measured };
      console.log(
        `${op}: Tern ${tern?.perSecond}/s, Parse ${parse?.perSecond}/s; Tern's outbox drained ${drained[op]} ms after`,
      );
    }

    // Fixed arrival rate: a share of Parse's closed-loop throughput, the same on both sides.
    const rateResults = {} as Record<Op, { rate: number; tern: ProbeResult; parse: ProbeResult }>;
    for (const op of ['get warm', 'create', 'get cold', 'list'] as const) {
      const rate = Math.max(10, Math.round(closedResults[op].parse.perSecond * RATE_SHARE));
      const [ternSide, parseSide] = sides as [SideState, SideState];
      rateResults[op] = {
        rate,
        tern: await fixedRate(ternSide, op, rate),
        parse: await fixedRate(parseSide, op, rate),
      };
    }

    console.log(
      `\nClosed loop: ${CONNECTIONS} connections, ${SECONDS} s after ${WARMUP_SECONDS} s warm-up; CPU per request in ms (server process / PostgreSQL)`,
    );
    console.table(
      OPS.map((op) => {
        const { tern: t, parse: p } = closedResults[op];
        const ratio = t.perSecond / p.perSecond;
        return {
          op,
          'Tern /s': t.perSecond,
          'Parse /s': p.perSecond,
          'Tern ÷ Parse': round(ratio),
          target: op === 'get cold' ? '(none)' : `≥ ${TARGETS[op]}`,
          met: op === 'get cold' ? '-' : ratio >= TARGETS[op] ? 'yes' : 'NO',
          'Tern p50/p99 ms': `${t.p50Ms} / ${t.p99Ms}`,
          'Parse p50/p99 ms': `${p.p50Ms} / ${p.p99Ms}`,
          'Tern CPU ms (srv/pg)': `${t.serverCpuMs} / ${t.postgresCpuMs}`,
          'Parse CPU ms (srv/pg)': `${p.serverCpuMs} / ${p.postgresCpuMs}`,
          // The machine's work per request on each side, server and database together: less at
          // the mercy of scheduling on a shared 2-core VM than the throughput ratio.
          'CPU Parse ÷ Tern': round(
            (p.serverCpuMs + p.postgresCpuMs) / Math.max(0.001, t.serverCpuMs + t.postgresCpuMs),
          ),
          failed: `${t.failed - t.stopped} / ${p.failed - p.stopped}`,
          'ran out of unread ids': op === 'get cold' ? `${t.stopped > 0} / ${p.stopped > 0}` : '-',
        };
      }),
    );
    console.log(
      `\nFixed arrival rate: ${RATE_SHARE} of Parse's closed-loop throughput, ${RATE_SECONDS} s, latency from the intended send time`,
    );
    console.table(
      OPS.map((op) => {
        const { rate, tern: t, parse: p } = rateResults[op];
        return {
          op,
          'rate /s': rate,
          'Tern p50 ms': t.p50Ms,
          'Tern p99 ms': t.p99Ms,
          'Tern max ms': t.maxMs,
          'Parse p50 ms': p.p50Ms,
          'Parse p99 ms': p.p99Ms,
          'Parse max ms': p.maxMs,
          'p99 Parse ÷ Tern': round(p.p99Ms / t.p99Ms, 1),
          'sent (T/P)': `${t.sent} / ${p.sent}`,
          'failed (T/P)': `${t.failed} / ${p.failed}`,
          'probe lag p99 ms': Math.max(t.sendLagP99Ms, p.sendLagP99Ms),
        };
      }),
    );
    const phases = OPS.flatMap((op) => [closedResults[op].tern, closedResults[op].parse]);
    const worstOthers = Math.max(...phases.map((phase) => phase.othersPctOfCore));
    const worstSteal = Math.max(...phases.map((phase) => phase.stealPctOfCore));
    console.log(
      `other processes (PostgreSQL excluded): up to ${worstOthers} % of a core in a closed-loop phase; hypervisor steal up to ${worstSteal} %`,
    );
    console.log(`total ${round((performance.now() - startedAt) / 1000, 1)} s`);
    warnIfNoisy(worstOthers);
    saveResults('data', {
      cores: CORES,
      pinned: PIN,
      connections: CONNECTIONS,
      seconds: SECONDS,
      docs: DOCS,
      closedResults,
      rateResults,
    });
  } finally {
    if (ternServer) await stopTern(ternServer);
    if (parseServer) await stopParse(parseServer);
    dropDatabase(ternDb);
    dropDatabase(parseDb);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
