/**
 * The cost of observability, in one run: the all-in-one Tern under the same mobile workload
 * (a signed-in user reading documents by id, listing them and writing new ones) with tracing
 * off, with 10 % of traces sampled and exported over OTLP/HTTP while /metrics is scraped every
 * second, and with every trace sampled. Variants run in interleaved rounds on the same core;
 * the table shows medians and the ratio to "off". Metrics are always collected in-process (they
 * cannot be turned off); "off" means no scrape.
 *
 *   npm run --workspace bench observability           # about 1.5 min
 *   BENCH_SECONDS=8 BENCH_ROUNDS=5 npm run --workspace bench observability
 *   BENCH_OBS_ONLY=0,3 BENCH_OBS_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run …
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { noiseSince, sampleCpu } from './auth/cpu-noise';
import { processCpuMs } from './data/process-cpu';
import {
  envNumber,
  pinLayout,
  ROOT,
  round,
  saveResults,
  spawnServer,
  warnIfNoisy,
} from './lib/bench-process';

const SECONDS = envNumber('BENCH_SECONDS', 5);
const ROUNDS = envNumber('BENCH_ROUNDS', 3);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 32);
const ADMIN_KEY = 'bench-observability-admin-key-0123456789abcdef';
/** Extra node flags for the server (`--cpu-prof --cpu-prof-dir=/tmp/prof`). */
const NODE_ARGS = (process.env.BENCH_OBS_NODE_ARGS ?? '').split(' ').filter(Boolean);
/**
 * A fixed arrival rate instead of as fast as possible (`BENCH_OBS_RATE=2000`): every variant
 * serves the same requests, and the cost is read from the server's CPU per request, which a
 * neighbour on the host disturbs far less than throughput at saturation.
 */
const FIXED_RATE = envNumber('BENCH_OBS_RATE', 0);
/** Only these variants, by index (`0,3`). */
const ONLY = process.env.BENCH_OBS_ONLY?.split(',').map(Number);

const OFF = 'off (no sampling, no scrape)';
const ON = 'on: 10 % sampled + OTLP, metrics scraped 1/s';

interface Variant {
  name: string;
  env: Record<string, string>;
  scrape: boolean;
}

/**
 * The OTLP/HTTP receiver, in its own process on the load generator's core. In this process it
 * shared autocannon's event loop: exports waited behind the load, the load generator slowed, and
 * "on" measured 15–26 % below "off" for that reason alone (bench/README.md).
 */
async function startSink(core: string | undefined): Promise<{ url: string; close(): Promise<string> }> {
  const { child, url } = await spawnServer({
    name: 'OTLP sink',
    args: [join(ROOT, 'bench/reference/otlp-sink.mjs')],
    cpus: core,
    env: process.env,
    listening: /listening on (http:\/\/\S+)/,
  });
  let said = '';
  child.stdout?.removeAllListeners('data');
  child.stdout?.on('data', (chunk: string) => (said += chunk));
  return {
    url,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      return /exports (\d+)/.exec(said)?.[1] ?? '?';
    },
  };
}

async function json(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const answer = await fetch(url, init);
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${answer.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const layout = pinLayout();
  const sink = await startSink(layout.pinned ? '0' : undefined);
  // Or another receiver: `BENCH_OBS_SINK=http://127.0.0.1:4318`.
  const sinkUrl = process.env.BENCH_OBS_SINK ?? sink.url;
  const variants: Variant[] = [
    { name: OFF, env: { OTEL_TRACES_SAMPLER_ARG: '0' }, scrape: false },
    {
      name: ON,
      env: { OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
      scrape: true,
    },
    // Where the cost goes: each part alone.
    { name: 'metrics scraped 1/s only', env: { OTEL_TRACES_SAMPLER_ARG: '0' }, scrape: true },
    { name: '10 % sampled, no export, no scrape', env: { OTEL_TRACES_SAMPLER_ARG: '0.1' }, scrape: false },
    {
      name: '10 % sampled + OTLP, no scrape',
      env: { OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
      scrape: false,
    },
    { name: '10 % sampled, no export, scraped 1/s', env: { OTEL_TRACES_SAMPLER_ARG: '0.1' }, scrape: true },
    {
      name: 'on: every trace sampled + OTLP, scraped 1/s',
      env: { OTEL_TRACES_SAMPLER_ARG: '1', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
      scrape: true,
    },
  ];
  if (ONLY) variants.splice(0, variants.length, ...variants.filter((_, index) => ONLY.includes(index)));
  console.log(
    `cores: ${layout.cores}; server on core ${layout.serverCore ?? '(unpinned)'}, load generator and OTLP sink on core 0`,
  );
  const rates: Record<string, number[]> = {};
  const p99s: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  let noisiest = 0;
  for (let pass = 1; pass <= ROUNDS; pass++) {
    // Every other round in reverse, so no variant always runs first (or after the same one).
    for (const variant of pass % 2 === 1 ? variants : [...variants].reverse()) {
      const dir = mkdtempSync(join(tmpdir(), 'tern-bench-obs-'));
      const { child, pid, url } = await spawnServer({
        name: variant.name,
        args: [...NODE_ARGS, join(ROOT, 'apps/tern/bin/tern.js'), 'start', '--port', '0'],
        cpus: layout.serverCore,
        cwd: ROOT,
        env: {
          ...process.env,
          TERN_DATA_DIR: dir,
          TERN_ADMIN_KEY: ADMIN_KEY,
          TERN_LOG_LEVEL: 'warn',
          ...variant.env,
        },
        without: variant.env.OTEL_EXPORTER_OTLP_ENDPOINT ? [] : ['OTEL_EXPORTER_OTLP_ENDPOINT'],
        listening: /listening on (http:\/\/\S+)/,
      });
      child.stdout?.removeAllListeners('data').resume();
      try {
        const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
        await json(`${url}/v1/admin/collections/notes`, {
          method: 'PUT',
          headers: admin,
          body: JSON.stringify({ schema: { type: 'object' } }),
        });
        const { accessToken } = (await json(`${url}/v1/auth/signup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'bench@example.com', password: 'correct horse battery' }),
        })) as { accessToken: string };
        const user = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
        const ids: string[] = [];
        for (let index = 0; index < 50; index++) {
          ids.push(
            (
              (await json(`${url}/v1/data/notes`, {
                method: 'POST',
                headers: user,
                body: JSON.stringify({ title: `note ${index}` }),
              })) as { id: string }
            ).id,
          );
        }
        // 8 reads by id, a list and a write: a feed-reading app's mix.
        const requests = [
          ...ids
            .slice(0, 8)
            .map((id) => ({ method: 'GET' as const, path: `/v1/data/notes/${id}`, headers: user })),
          { method: 'GET' as const, path: '/v1/data/notes?limit=10', headers: user },
          {
            method: 'POST' as const,
            path: '/v1/data/notes',
            headers: user,
            body: JSON.stringify({ title: 'written under load' }),
          },
        ];
        const scraper = variant.scrape
          ? setInterval(() => {
              void fetch(`${url}/metrics`)
                .then((answer) => answer.text())
                .catch(() => undefined);
            }, 1_000)
          : undefined;
        await autocannon({ url, connections: CONNECTIONS, duration: 1, requests }); // warm-up
        const noise = sampleCpu();
        const before = processCpuMs(pid);
        const result = await autocannon({
          url,
          connections: CONNECTIONS,
          duration: SECONDS,
          requests,
          ...(FIXED_RATE > 0 ? { overallRate: FIXED_RATE } : {}),
        });
        const usedMs = processCpuMs(pid) - before;
        noisiest = Math.max(noisiest, noiseSince(noise).othersPctOfCore);
        clearInterval(scraper);
        const ok = result.requests.total - result.non2xx - result.errors;
        (rates[variant.name] ??= []).push(ok / SECONDS);
        (p99s[variant.name] ??= []).push(result.latency.p99);
        (cpu[variant.name] ??= []).push(usedMs / Math.max(1, result.requests.total));
        console.log(
          `round ${pass}: ${variant.name}: ${round(ok / SECONDS, 0)} req/s, p99 ${result.latency.p99} ms, ${result.non2xx} non-2xx`,
        );
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(`OTLP exports received: ${await sink.close()}`);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const base = median(rates[variants[0]?.name ?? ''] ?? []);
  const table = variants.map((variant) => ({
    variant: variant.name,
    'req/s (median)': round(median(rates[variant.name] ?? []), 0),
    'ratio to off': round(median(rates[variant.name] ?? []) / base, 3),
    'p99 ms (median)': median(p99s[variant.name] ?? []),
    'server CPU ms/request': round(median(cpu[variant.name] ?? []), 3),
    runs: (rates[variant.name] ?? []).map((rate) => round(rate, 0)).join(' · '),
  }));
  console.table(table);
  // The target compares "on" with "off"; a run of other variants only (BENCH_OBS_ONLY) has none.
  const on = table.find((row) => row.variant === ON);
  if (on && table[0]?.variant === OFF && FIXED_RATE > 0) {
    // The same requests served: the throughput a core gives is inversely proportional to the CPU
    // each request takes.
    const off = table[0]['server CPU ms/request'];
    console.log(
      `at ${FIXED_RATE} req/s: server CPU per request ${off} → ${on['server CPU ms/request']} ms; ` +
        `target: throughput cost ≤ 10 %: ${round((1 - off / on['server CPU ms/request']) * 100, 1)} %`,
    );
  } else if (on && table[0]?.variant === OFF) {
    console.log(
      `target: throughput cost with metrics and 10 % sampling ≤ 10 %: ${round((1 - on['ratio to off']) * 100, 1)} %`,
    );
  }
  warnIfNoisy(noisiest);
  saveResults('observability', {
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    fixedRate: FIXED_RATE || undefined,
    table,
  });
}

await main();
