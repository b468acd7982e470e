/**
 * The auth service's costs, each beside its reference, in one run (about 80 s):
 *
 *   1. logins/s against the argon2 ceiling: cores ÷ (one argon2id verification, timed in a
 *      separate process pinned to one core); Tern on every core, 8 concurrent logins.
 *   2. refreshes/s (each virtual client follows its own rotating chain) against GET /healthz/s
 *      on the same server, with the same load generator.
 *   3. access-token verifications/s, cold and cached, against jose.jwtVerify (in process).
 *   4. p99 of GET /v1/auth/me at a fixed 200 req/s (open model), quiet and under a login storm:
 *      first with Tern on core 1 and every load generator on core 0 (the target), then with Tern
 *      on every core, as it runs on a laptop.
 *
 * Every phase also reports the CPU other processes used meanwhile (a test suite running alongside
 * on a 2-core machine spoils the numbers; the run then ends with a warning), Tern's event-loop
 * delay, its SQLite transactions and, for logins, where the CPU went, thread by thread.
 *
 *   npm run --workspace bench auth
 *   BENCH_LOGIN_SECONDS=20 BENCH_PROBE_RATE=400 npm run --workspace bench auth
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { envNumber, pinLayout, round, saveResults, warnIfNoisy } from './lib/bench-process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { argon2VerifyMs } from './auth/argon2-time';
import { noiseSince, sampleCpu, type Noise } from './auth/cpu-noise';
import { closedLoop, createHttpClient, type HttpClient, type StepOutcome } from './auth/http-load';
import type { ProbeResult } from './lib/rate-probe';
import { runProbe } from './lib/run-probe';
import {
  lowPriorityThreads,
  metric,
  metricSum,
  scrapeMetrics,
  startTern,
  stopTern,
  threadCpu,
  type TernServer,
} from './auth/tern-server';
import { measureTokenVerification } from './lib/token-verification';

const env = envNumber;
const LOGIN_SECONDS = env('BENCH_LOGIN_SECONDS', 10);
const LOGIN_CONCURRENCY = env('BENCH_LOGIN_CONCURRENCY', 8);
const REFRESH_SECONDS = env('BENCH_REFRESH_SECONDS', 5);
const REFRESH_CLIENTS = env('BENCH_REFRESH_CLIENTS', 32);
const PROBE_SECONDS = env('BENCH_PROBE_SECONDS', 8);
const PROBE_RATE = env('BENCH_PROBE_RATE', 200);
const TOKENS = env('BENCH_TOKENS', 5000);
const ARGON2 = {
  memoryKiB: env('TERN_AUTH_ARGON2_MEMORY_KIB', 19_456),
  iterations: env('TERN_AUTH_ARGON2_ITERATIONS', 2),
};
// Counted before this process pins itself to core 0.
const { cores: CORES, pinned: PIN } = pinLayout();
const ONE_CORE = PIN ? String(CORES - 1) : undefined;
// Named explicitly: a child inherits this process's affinity (core 0 only) otherwise.
const ALL_CORES = PIN ? `0-${CORES - 1}` : undefined;
const PASSWORD = 'bench-password-1';
// prom-client samples the event loop with a 10 ms timer (packages/telemetry) and reports whole
// intervals; what is beyond the 10 ms is the delay.
const LOOP_SAMPLING_MS = 10;

interface Account {
  email: string;
  accessToken: string;
  refreshToken: string;
}

interface SignedIn {
  accessToken: string;
  refreshToken: string;
}

async function signUp(client: HttpClient, count: number): Promise<Account[]> {
  const accounts: Account[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const email = `bench-${next++}@example.com`;
        const response = await client.send('POST', '/v1/auth/signup', { email, password: PASSWORD });
        if (response.status !== 201) throw new Error(`signup: ${response.status} ${response.body}`);
        const body = JSON.parse(response.body) as SignedIn;
        accounts.push({ email, accessToken: body.accessToken, refreshToken: body.refreshToken });
      }
    }),
  );
  return accounts;
}

/** Logins with the right password, round robin over the accounts (so no throttling applies). */
function loginStep(client: HttpClient, accounts: Account[]) {
  let next = 0;
  return async (): Promise<StepOutcome> => {
    const account = accounts[next++ % accounts.length] as Account;
    const response = await client.send('POST', '/v1/auth/login', {
      email: account.email,
      password: PASSWORD,
    });
    return response.status === 200 ? 'ok' : 'failed';
  };
}

/**
 * Runs one phase and reports, besides its result: other processes' CPU meanwhile, Tern's
 * event-loop delay (prom-client resets its histogram on every scrape), SQLite transactions
 * (timed from waiting for the lock to COMMIT) and CPU by thread role, Tern's and this process's.
 */
async function observed<T>(server: TernServer, run: () => Promise<T>) {
  const before = await scrapeMetrics(server.url);
  const threadsBefore = threadCpu(server.pid);
  const selfBefore = process.cpuUsage();
  const cpu = sampleCpu();
  const result = await run();
  const noise = noiseSince(cpu);
  const self = process.cpuUsage(selfBefore);
  const threadsAfter = threadCpu(server.pid);
  const after = await scrapeMetrics(server.url);
  const tx = ['store="sqlite"', 'op="transaction"'];
  // A histogram's series appears with its first observation: absent counts as zero.
  const orZero = (value: number) => (Number.isNaN(value) ? 0 : value);
  const delta = (name: string, ...labels: string[]) =>
    orZero(metric(after, name, ...labels)) - orZero(metric(before, name, ...labels));
  const transactions = delta('tern_db_query_duration_seconds_count', ...tx);
  const gc = (name: string, ...labels: string[]) =>
    metricSum(after, name, ...labels) - metricSum(before, name, ...labels);
  return {
    result,
    noise,
    cpuMs: {
      eventLoop: threadsAfter.eventLoopMs - threadsBefore.eventLoopMs,
      hashing: threadsAfter.hashingMs - threadsBefore.hashingMs,
      otherTernThreads: threadsAfter.otherMs - threadsBefore.otherMs,
      loadGenerator: Math.round((self.user + self.system) / 1000),
    },
    server: {
      loopDelayP99Ms: round(metric(after, 'nodejs_eventloop_lag_p99_seconds') * 1000 - LOOP_SAMPLING_MS, 1),
      loopDelayMaxMs: round(metric(after, 'nodejs_eventloop_lag_max_seconds') * 1000 - LOOP_SAMPLING_MS, 1),
      gcPausesOver10Ms:
        gc('nodejs_gc_duration_seconds_count') - gc('nodejs_gc_duration_seconds_bucket', 'le="0.01"'),
      gcMs: Math.round(gc('nodejs_gc_duration_seconds_sum') * 1000),
      transactions,
      transactionMeanMs:
        transactions > 0
          ? round((delta('tern_db_query_duration_seconds_sum', ...tx) / transactions) * 1000)
          : '-',
    },
  };
}

/** `GET /v1/auth/me` at PROBE_RATE for PROBE_SECONDS, the tokens taking turns (each used once first, unmeasured). */
function probe(url: string, tokens: string[]): Promise<ProbeResult> {
  const me = (token: string) => ({
    method: 'GET',
    path: '/v1/auth/me',
    headers: { authorization: `Bearer ${token}` },
  });
  return runProbe({
    url,
    rate: PROBE_RATE,
    warmup: tokens.map(me),
    requests: Array.from({ length: Math.round(PROBE_RATE * PROBE_SECONDS) }, (_, i) =>
      me(tokens[i % tokens.length] ?? ''),
    ),
  });
}

/** /me at a fixed rate, quiet, then while `LOGIN_CONCURRENCY` clients log in as fast as they can. */
async function meUnderStorm(server: TernServer, client: HttpClient, accounts: Account[]) {
  const tokens = accounts.slice(0, 8).map((account) => account.accessToken);
  const quiet = await observed(server, () => probe(server.url, tokens));
  const storm = await observed(server, async () => {
    const abort = new AbortController();
    const logins = closedLoop({
      clients: LOGIN_CONCURRENCY,
      seconds: PROBE_SECONDS + 60,
      step: loginStep(client, accounts),
      signal: abort.signal,
    });
    await sleep(1000);
    const me = await probe(server.url, tokens);
    abort.abort();
    return { me, logins: await logins };
  });
  return { quiet, storm, p99Ratio: storm.result.me.p99Ms / quiet.result.p99Ms };
}

async function timedArgon2() {
  const cpu = sampleCpu();
  const timing = await argon2VerifyMs(ARGON2, CORES, PIN);
  return { ...timing, noise: noiseSince(cpu) };
}

async function measureHealthz(server: TernServer, client: HttpClient) {
  const step = async (): Promise<StepOutcome> =>
    (await client.send('GET', '/healthz')).status === 200 ? 'ok' : 'failed';
  await closedLoop({ clients: REFRESH_CLIENTS, seconds: 1, step });
  return observed(server, () => closedLoop({ clients: REFRESH_CLIENTS, seconds: REFRESH_SECONDS, step }));
}

/** Each virtual client follows its own session's chain: every answer's refresh token is the next one sent. */
async function measureRefresh(server: TernServer, client: HttpClient, accounts: Account[]) {
  const chains = accounts.map((account) => account.refreshToken);
  const step = async (index: number): Promise<StepOutcome> => {
    const response = await client.send('POST', '/v1/auth/refresh', { refreshToken: chains[index] });
    if (response.status !== 200) return 'stop';
    chains[index] = (JSON.parse(response.body) as SignedIn).refreshToken;
    return 'ok';
  };
  await closedLoop({ clients: chains.length, seconds: 1, step });
  return observed(server, () => closedLoop({ clients: chains.length, seconds: REFRESH_SECONDS, step }));
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  console.log(
    `cores: ${CORES}; ${PIN ? 'this process and its load generators on core 0' : 'no pinning (taskset missing or one core)'}`,
  );

  // 3. Token verification: in process, no server running yet.
  const cpu = sampleCpu();
  const tokenRates = await measureTokenVerification(TOKENS);
  const tokenNoise = noiseSince(cpu);

  const dataDir = mkdtempSync(join(tmpdir(), 'tern-bench-auth-'));
  const serverEnv = {
    TERN_AUTH_ARGON2_MEMORY_KIB: String(ARGON2.memoryKiB),
    TERN_AUTH_ARGON2_ITERATIONS: String(ARGON2.iterations),
  };

  // Tern on one core: 2 (refresh) and 4 (/me under a login storm).
  const pinned = await startTern(dataDir, ONE_CORE, serverEnv);
  const pinnedHashWorkers = lowPriorityThreads(pinned.pid);
  let client = createHttpClient(pinned.url, REFRESH_CLIENTS + LOGIN_CONCURRENCY);
  const accounts = await signUp(client, REFRESH_CLIENTS);
  const health = await measureHealthz(pinned, client);
  const refresh = await measureRefresh(pinned, client, accounts);
  const stormPinned = await meUnderStorm(pinned, client, accounts);
  client.close();
  await stopTern(pinned);

  // The same refreshes with the data directory on tmpfs, where fsync costs nothing: what the
  // store's per-COMMIT fsync (synchronous=FULL, on the event loop) takes out of refresh.
  let refreshTmpfs: Awaited<ReturnType<typeof measureRefresh>> | undefined;
  if (existsSync('/dev/shm')) {
    const shmDir = mkdtempSync('/dev/shm/tern-bench-auth-');
    const onTmpfs = await startTern(shmDir, ONE_CORE, serverEnv);
    client = createHttpClient(onTmpfs.url, REFRESH_CLIENTS + 8);
    refreshTmpfs = await measureRefresh(onTmpfs, client, await signUp(client, REFRESH_CLIENTS));
    client.close();
    await stopTern(onTmpfs);
    rmSync(shmDir, { recursive: true, force: true });
  }

  // Tern on every core: 4 again, then 1 (login throughput) between two timings of argon2 alone
  // (Tern idle meanwhile), since a VM's speed drifts by 10-20 % within a minute.
  const everyCore = await startTern(dataDir, ALL_CORES, serverEnv);
  const hashWorkers = lowPriorityThreads(everyCore.pid);
  client = createHttpClient(everyCore.url, LOGIN_CONCURRENCY + 8);
  const stormAllCores = await meUnderStorm(everyCore, client, accounts);
  await closedLoop({ clients: LOGIN_CONCURRENCY, seconds: 1, step: loginStep(client, accounts) });
  const argon2Before = await timedArgon2();
  const logins = await observed(everyCore, () =>
    closedLoop({ clients: LOGIN_CONCURRENCY, seconds: LOGIN_SECONDS, step: loginStep(client, accounts) }),
  );
  const argon2After = await timedArgon2();
  client.close();
  await stopTern(everyCore);
  rmSync(dataDir, { recursive: true, force: true });

  const soloMs = (argon2Before.soloMs + argon2After.soloMs) / 2;
  const ceiling = CORES * (1000 / soloMs);
  const togetherCeiling =
    [argon2Before, argon2After]
      .flatMap((timing) => timing.togetherMs)
      .reduce((sum, ms) => sum + 1000 / ms, 0) / 2;
  const argon2Noise = {
    othersPctOfCore: Math.max(argon2Before.noise.othersPctOfCore, argon2After.noise.othersPctOfCore),
    stealPctOfCore: Math.max(argon2Before.noise.stealPctOfCore, argon2After.noise.stealPctOfCore),
  };
  const loginRatio = logins.result.perSecond / ceiling;
  const refreshRatio = refresh.result.perSecond / health.result.perSecond;
  const phases: Noise[] = [
    tokenNoise,
    argon2Noise,
    health.noise,
    refresh.noise,
    stormPinned.quiet.noise,
    stormPinned.storm.noise,
    stormAllCores.quiet.noise,
    stormAllCores.storm.noise,
    logins.noise,
    ...(refreshTmpfs ? [refreshTmpfs.noise] : []),
  ];
  const worstNoise = Math.max(...phases.map((noise) => noise.othersPctOfCore));
  const others = (noise: Noise) =>
    `other processes ${noise.othersPctOfCore} % of a core, hypervisor steal ${noise.stealPctOfCore} %`;

  console.log(
    `\n1. Logins/s: Tern on cores ${everyCore.cpus} (${hashWorkers} hashing workers), ${LOGIN_CONCURRENCY} concurrent logins from core 0, ${LOGIN_SECONDS} s; argon2id m=${ARGON2.memoryKiB} KiB t=${ARGON2.iterations} p=1`,
  );
  console.table([
    {
      measure: `ceiling: ${CORES} cores ÷ ${round(soloMs)} ms (verifySync alone on one core: ${round(argon2Before.soloMs, 1)} before, ${round(argon2After.soloMs, 1)} after)`,
      perSecond: Math.round(ceiling),
      ratioToCeiling: 1,
    },
    {
      measure: `every core verifying at once: ${[...argon2Before.togetherMs, ...argon2After.togetherMs].map((ms) => round(ms, 1)).join(' / ')} ms each`,
      perSecond: Math.round(togetherCeiling),
      ratioToCeiling: round(togetherCeiling / ceiling),
    },
    {
      measure: `Tern logins (p50 ${logins.result.p50Ms} ms, p99 ${logins.result.p99Ms} ms, ${logins.result.failed} failed)`,
      perSecond: logins.result.perSecond,
      ratioToCeiling: round(loginRatio),
    },
  ]);
  const perLogin = (ms: number) => round(ms / Math.max(1, logins.result.ok), 1);
  const cpuPerLogin = {
    hashingWorkers: perLogin(logins.cpuMs.hashing),
    eventLoop: perLogin(logins.cpuMs.eventLoop),
    otherTernThreads: perLogin(logins.cpuMs.otherTernThreads),
    loadGenerator: perLogin(logins.cpuMs.loadGenerator),
  };
  const totalPerLogin = Object.values(cpuPerLogin).reduce((sum, ms) => sum + ms, 0);
  console.log(
    `   CPU ms per login: ${JSON.stringify(cpuPerLogin)}; total ${round(totalPerLogin, 1)} ms, so ${CORES} cores allow ${Math.round((CORES * 1000) / totalPerLogin)}/s`,
  );
  console.log(`   argon2 timing: ${others(argon2Noise)}`);
  console.log(`   logins: ${others(logins.noise)}; Tern: ${JSON.stringify(logins.server)}`);

  console.log(
    `\n2. Refreshes/s vs GET /healthz/s: Tern on core ${pinned.cpus}, ${REFRESH_CLIENTS} clients on core 0, ${REFRESH_SECONDS} s each`,
  );
  console.table([
    { target: 'GET /healthz', perSecond: health.result.perSecond, p99Ms: health.result.p99Ms, ratio: 1 },
    {
      target: `POST /v1/auth/refresh (${refresh.result.stopped} chains broke)`,
      perSecond: refresh.result.perSecond,
      p99Ms: refresh.result.p99Ms,
      ratio: round(refreshRatio, 3),
    },
    ...(refreshTmpfs
      ? [
          {
            target: 'same, data dir on tmpfs (fsync free; not a reference, a diagnosis)',
            perSecond: refreshTmpfs.result.perSecond,
            p99Ms: refreshTmpfs.result.p99Ms,
            ratio: round(refreshTmpfs.result.perSecond / health.result.perSecond, 3),
          },
        ]
      : []),
  ]);
  console.log(`   healthz: ${others(health.noise)}`);
  console.log(`   refresh: ${others(refresh.noise)}; Tern: ${JSON.stringify(refresh.server)}`);
  if (refreshTmpfs) {
    console.log(
      `   refresh on tmpfs: ${others(refreshTmpfs.noise)}; Tern: ${JSON.stringify(refreshTmpfs.server)}`,
    );
  }
  const busy = (phase: typeof health) => Math.round(phase.cpuMs.loadGenerator / 10 / REFRESH_SECONDS);
  const perOp = (phase: typeof health) => round(phase.cpuMs.eventLoop / Math.max(1, phase.result.ok), 2);
  console.log(
    `   Tern event-loop CPU per request: refresh ${perOp(refresh)} ms, healthz ${perOp(health)} ms; load generator busy ${busy(refresh)} % / ${busy(health)} % of core 0`,
  );

  console.log(
    `\n3. Access-token verifications/s, in process on core 0, ${TOKENS} tokens (median of 5 rounds)`,
  );
  console.table(tokenRates);
  console.log(`   ${others(tokenNoise)}`);

  console.log(
    `\n4. GET /v1/auth/me at ${PROBE_RATE} req/s for ${PROBE_SECONDS} s, latency from the intended send time; probe and logins on core 0`,
  );
  type Observed = Awaited<ReturnType<typeof observed>>;
  const probeRow = (tern: string, load: string, me: ProbeResult, phase: Observed) => ({
    tern,
    load,
    failed: me.failed,
    p50Ms: me.p50Ms,
    p99Ms: me.p99Ms,
    maxMs: me.maxMs,
    probeLagP99Ms: me.sendLagP99Ms,
    loopDelayP99Ms: phase.server.loopDelayP99Ms,
    loopDelayMaxMs: phase.server.loopDelayMaxMs,
    gcOver10Ms: phase.server.gcPausesOver10Ms,
    txMeanMs: phase.server.transactionMeanMs,
    othersPct: phase.noise.othersPctOfCore,
    stealPct: phase.noise.stealPctOfCore,
  });
  const stormRows = (where: string, workers: number, run: typeof stormPinned) => [
    probeRow(where, 'quiet', run.quiet.result, run.quiet),
    probeRow(
      `${where} (${workers} hashing)`,
      `storm ${LOGIN_CONCURRENCY}× ${run.storm.result.logins.perSecond}/s`,
      run.storm.result.me,
      run.storm,
    ),
  ];
  console.table([
    ...stormRows(`core ${pinned.cpus}`, pinnedHashWorkers, stormPinned),
    ...stormRows(`cores ${everyCore.cpus}`, hashWorkers, stormAllCores),
  ]);

  const summary = [
    {
      measure: '1. logins/s ÷ argon2 ceiling',
      value: round(loginRatio),
      target: '≥ 0.90',
      met: loginRatio >= 0.9 ? 'yes' : 'NO',
    },
    { measure: '2. refreshes/s ÷ healthz/s', value: round(refreshRatio, 3), target: '-', met: '-' },
    {
      measure: '3. cold / cached verifications/s ÷ jose',
      value: tokenRates
        .slice(1)
        .map((row) => row.ratioToReference)
        .join(' / '),
      target: '-',
      met: '-',
    },
    {
      measure: `4. /me p99 storm ÷ quiet, Tern on core ${pinned.cpus}`,
      value: round(stormPinned.p99Ratio),
      target: '≤ 2.0',
      met: stormPinned.p99Ratio <= 2 ? 'yes' : 'NO',
    },
    {
      measure: `4. /me p99 storm ÷ quiet, Tern on cores ${everyCore.cpus}`,
      value: round(stormAllCores.p99Ratio),
      target: '≤ 2.0',
      met: stormAllCores.p99Ratio <= 2 ? 'yes' : 'NO',
    },
  ];
  console.log('\nSummary');
  console.table(summary);
  console.log(`total ${round((performance.now() - startedAt) / 1000, 1)} s`);
  warnIfNoisy(worstNoise);

  saveResults('auth', {
    cores: CORES,
    pinned: PIN,
    argon2: { ...ARGON2, before: argon2Before, after: argon2After, soloMs, ceiling, togetherCeiling },
    refreshTmpfs,
    logins: { ...logins, cpuPerLogin },
    health,
    refresh,
    tokens: { rates: tokenRates, noise: tokenNoise },
    stormPinned,
    stormAllCores,
    summary,
    worstNoise,
  });
}

await main();
