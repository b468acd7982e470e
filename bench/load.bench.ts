/**
 * tern load against autocannon (and wrk where installed), in one run, against the same target:
 * a bare `node:http` server answering 200 `{"status":"ok"}` (bench/reference/node-http-healthz.mjs)
 * pinned to the last core. Every generator runs as its own process pinned to core 0, so each has
 * one core and this process only waits.
 *
 * 1. The most each generator drives from one core: autocannon with 64 connections, tern load's
 *    closed model with 64 users (`--vus 64`), and its open model at a rate it cannot reach
 *    (`--rate 50000`, arrivals beyond 64 in flight dropped and counted).
 * 2. Whether they measure the same latencies at a fixed rate (1000 req/s): autocannon `-R 1000`,
 *    as it reports by default and with `-C` (no correction), against tern load `--rate 1000`.
 *
 * Interleaved rounds (every other one in reverse); the tables show medians.
 *
 *   npm run --workspace bench load                       # about 3 min
 *   BENCH_SECONDS=10 BENCH_ROUNDS=5 npm run --workspace bench load
 *   BENCH_LOAD_UNBOUNDED=1 npm run --workspace bench load   # also --rate 50000 with the default
 *                                                           # --max-in-flight (over a minute a run)
 */
import { join } from 'node:path';
import { noiseSince, sampleCpu } from './auth/cpu-noise';
import {
  envNumber,
  pinLayout,
  ROOT,
  round,
  saveResults,
  spawnServer,
  warnIfNoisy,
} from './lib/bench-process';
import { autocannonCli, findWrk, ternLoad, wrk, type GeneratorRun } from './load/generators';

const SECONDS = envNumber('BENCH_SECONDS', 5);
const ROUNDS = envNumber('BENCH_ROUNDS', 3);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 64);
/** The open model's "as fast as you can" rate. */
const MAX_RATE = envNumber('BENCH_LOAD_MAX_RATE', 50_000);
/** The fixed rate of part 2, and autocannon's connections for it. */
const FIXED_RATE = envNumber('BENCH_LOAD_RATE', 1_000);
const FIXED_CONNECTIONS = envNumber('BENCH_LOAD_RATE_CONNECTIONS', 16);
const UNBOUNDED = process.env.BENCH_LOAD_UNBOUNDED === '1';

interface Variant {
  name: string;
  part: 1 | 2;
  run(url: string, serverPid: number): Promise<GeneratorRun>;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const layout = pinLayout();
  const core = layout.pinned ? '0' : undefined;
  const wrkPath = findWrk();
  console.log(
    `cores: ${layout.cores}; server on core ${layout.serverCore ?? '(unpinned)'}, each load generator on core ${core ?? '(unpinned)'} in its own process`,
  );
  console.log(wrkPath ? `wrk: ${wrkPath}` : 'wrk: not installed, skipped');

  const server = await spawnServer({
    name: 'node:http',
    args: [join(ROOT, 'bench/reference/node-http-healthz.mjs')],
    cpus: layout.serverCore,
    env: process.env,
    listening: /listening on (http:\/\/\S+)/,
  });
  const url = `${server.url}/healthz`;

  const AUTOCANNON_MAX = `autocannon, ${CONNECTIONS} connections`;
  const TERN_CLOSED = `tern load --vus ${CONNECTIONS}`;
  const AUTOCANNON_FIXED = `autocannon -R ${FIXED_RATE} (${FIXED_CONNECTIONS} connections)`;
  const TERN_FIXED = `tern load --rate ${FIXED_RATE}`;
  /** The same after 3 s of unmeasured load: the generator's own JIT warm-up left out. */
  const TERN_FIXED_WARM = `tern load --rate ${FIXED_RATE} --warmup 3s`;
  const variants: Variant[] = [
    {
      name: AUTOCANNON_MAX,
      part: 1,
      run: (target, serverPid) =>
        autocannonCli({ url: target, connections: CONNECTIONS, seconds: SECONDS, core, serverPid }),
    },
    {
      name: TERN_CLOSED,
      part: 1,
      run: (target, serverPid) =>
        ternLoad({ url: target, flags: ['--vus', String(CONNECTIONS)], seconds: SECONDS, core, serverPid }),
    },
    {
      name: `tern load --rate ${MAX_RATE} --max-in-flight ${CONNECTIONS}`,
      part: 1,
      run: (target, serverPid) =>
        ternLoad({
          url: target,
          flags: ['--rate', String(MAX_RATE), '--max-in-flight', String(CONNECTIONS)],
          seconds: SECONDS,
          core,
          serverPid,
        }),
    },
    ...(UNBOUNDED
      ? [
          {
            name: `tern load --rate ${MAX_RATE} (default --max-in-flight)`,
            part: 1 as const,
            run: (target: string, serverPid: number) =>
              ternLoad({
                url: target,
                flags: ['--rate', String(MAX_RATE)],
                seconds: SECONDS,
                core,
                serverPid,
              }),
          },
        ]
      : []),
    ...(wrkPath
      ? [
          {
            name: `wrk -t1 -c${CONNECTIONS}`,
            part: 1 as const,
            run: (target: string, serverPid: number) =>
              wrk({
                path: wrkPath,
                url: target,
                connections: CONNECTIONS,
                seconds: SECONDS,
                core,
                serverPid,
              }),
          },
        ]
      : []),
    {
      name: AUTOCANNON_FIXED,
      part: 2,
      run: (target, serverPid) =>
        autocannonCli({
          url: target,
          connections: FIXED_CONNECTIONS,
          overallRate: FIXED_RATE,
          seconds: SECONDS,
          core,
          serverPid,
        }),
    },
    {
      name: `autocannon -R ${FIXED_RATE} -C (uncorrected)`,
      part: 2,
      run: (target, serverPid) =>
        autocannonCli({
          url: target,
          connections: FIXED_CONNECTIONS,
          overallRate: FIXED_RATE,
          ignoreCoordinatedOmission: true,
          seconds: SECONDS,
          core,
          serverPid,
        }),
    },
    {
      name: TERN_FIXED,
      part: 2,
      run: (target, serverPid) =>
        ternLoad({ url: target, flags: ['--rate', String(FIXED_RATE)], seconds: SECONDS, core, serverPid }),
    },
    {
      name: TERN_FIXED_WARM,
      part: 2,
      run: (target, serverPid) =>
        ternLoad({
          url: target,
          flags: ['--rate', String(FIXED_RATE), '--warmup', '3s'],
          seconds: SECONDS,
          core,
          serverPid,
        }),
    },
  ];

  const runs: Record<string, GeneratorRun[]> = {};
  let noisiest = 0;
  try {
    // The server's JIT warms up before anything is measured.
    await autocannonCli({ url, connections: CONNECTIONS, seconds: 1, core, serverPid: server.pid });
    for (let pass = 1; pass <= ROUNDS; pass++) {
      // Every other round in reverse, so no generator always runs first (or after the same one).
      for (const variant of pass % 2 === 1 ? variants : [...variants].reverse()) {
        const noise = sampleCpu();
        const run = await variant.run(url, server.pid);
        const others = noiseSince(noise).othersPctOfCore;
        noisiest = Math.max(noisiest, others);
        (runs[variant.name] ??= []).push(run);
        const l = run.latencyMs;
        console.log(
          `round ${pass}: ${variant.name}: ${round(run.rate, 0)} req/s, p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} max ${l.max} ms, ` +
            `${run.errors} errors, others ${others} % of a core, generator CPU ${round(run.cpu * 100, 0)} %, server CPU ${round(run.serverCpu * 100, 0)} %` +
            (run.self
              ? ` (tern's own: CPU mean ${round(run.self.cpuMean * 100, 0)} % peak ${round(run.self.cpuPeak * 100, 0)} %, late p99 ${run.self.lateP99Ms} ms, dropped ${run.self.dropped})`
              : '') +
            (run.samples !== undefined && run.samples !== run.requests
              ? ` (${run.samples} latency samples for ${run.requests} requests)`
              : ''),
        );
      }
    }
  } finally {
    server.child.kill('SIGTERM');
  }

  const of = (name: string, pick: (run: GeneratorRun) => number) => median((runs[name] ?? []).map(pick));
  const baseRate = of(AUTOCANNON_MAX, (run) => run.rate);
  const maxTable = variants
    .filter((variant) => variant.part === 1)
    .map((variant) => ({
      generator: variant.name,
      'req/s (median)': round(
        of(variant.name, (run) => run.rate),
        0,
      ),
      'ratio to autocannon': round(of(variant.name, (run) => run.rate) / baseRate, 2),
      'generator CPU %': round(of(variant.name, (run) => run.cpu) * 100, 0),
      'server CPU %': round(of(variant.name, (run) => run.serverCpu) * 100, 0),
      'p50 ms': round(
        of(variant.name, (run) => run.latencyMs.p50),
        1,
      ),
      'p99 ms': round(
        of(variant.name, (run) => run.latencyMs.p99),
        1,
      ),
      errors: (runs[variant.name] ?? []).reduce((sum, run) => sum + run.errors, 0),
      runs: (runs[variant.name] ?? []).map((run) => round(run.rate, 0)).join(' · '),
    }));
  console.log(`\n1. The most each generator drives from one core (${SECONDS} s, ${ROUNDS} rounds)`);
  console.table(maxTable);

  const fixedTable = variants
    .filter((variant) => variant.part === 2)
    .map((variant) => ({
      generator: variant.name,
      'req/s': round(
        of(variant.name, (run) => run.rate),
        0,
      ),
      'p50 ms': round(
        of(variant.name, (run) => run.latencyMs.p50),
        2,
      ),
      'p90 ms': round(
        of(variant.name, (run) => run.latencyMs.p90),
        2,
      ),
      'p99 ms': round(
        of(variant.name, (run) => run.latencyMs.p99),
        2,
      ),
      'max ms': round(
        of(variant.name, (run) => run.latencyMs.max),
        2,
      ),
      'generator CPU %': round(of(variant.name, (run) => run.cpu) * 100, 0),
      'p99 runs': (runs[variant.name] ?? []).map((run) => round(run.latencyMs.p99, 1)).join(' · '),
    }));
  console.log(`\n2. Latencies at ${FIXED_RATE} req/s (${SECONDS} s, ${ROUNDS} rounds)`);
  console.table(fixedTable);
  // autocannon records whole milliseconds (rounded down): a p50 of 0 ms gives no ratio (null).
  const ratio = (percentile: 'p50' | 'p99', tern = TERN_FIXED) => {
    const ac = of(AUTOCANNON_FIXED, (run) => run.latencyMs[percentile]);
    return ac > 0 ? round(of(tern, (run) => run.latencyMs[percentile]) / ac, 2) : null;
  };
  const ternVsAutocannon = {
    rate: round(of(TERN_CLOSED, (run) => run.rate) / baseRate, 2),
    p50: ratio('p50'),
    p99: ratio('p99'),
    p99Warm: ratio('p99', TERN_FIXED_WARM),
  };
  const shown = (value: number | null) => value ?? 'n/a (autocannon: 0 ms)';
  console.log(
    `tern load / autocannon: max rate (closed, ${CONNECTIONS}) ${ternVsAutocannon.rate}; at ${FIXED_RATE} req/s p50 ${shown(ternVsAutocannon.p50)}, p99 ${shown(ternVsAutocannon.p99)} (with --warmup 3s: ${shown(ternVsAutocannon.p99Warm)})`,
  );
  if (!wrkPath) console.log('wrk: not installed, skipped');
  warnIfNoisy(noisiest);
  saveResults('load', {
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    maxRate: MAX_RATE,
    fixedRate: FIXED_RATE,
    fixedConnections: FIXED_CONNECTIONS,
    wrk: wrkPath ?? null,
    noisiestPctOfCore: noisiest,
    maxTable,
    fixedTable,
    ternVsAutocannon,
    runs,
  });
}

await main();
