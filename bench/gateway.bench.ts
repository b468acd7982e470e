/**
 * Tern's gateway against nginx and @fastify/http-proxy, in one run (about 1 min), all in front of
 * the same trivial Tern service (`GET /.well-known/jwks.json` of an all-in-one Tern: a small JSON
 * answer from memory):
 *
 *   direct        the load generator straight to the service
 *   nginx         nginx as a plain reverse proxy, keep-alive upstream pool, one worker
 *   tern gateway  `tern start --service gateway`, verifying the access token (JWT, EdDSA, with its
 *                 cache) and counting every request against a Redis rate limit (GCRA, one
 *                 script call), then proxying
 *   node ref      Fastify + @fastify/http-proxy (undici), no auth, no limits
 *   node floor    node:http + an undici dispatch handler and nothing else: what any proxy on
 *                 Node's HTTP stack costs at least (a diagnosis row, like the two below)
 *   tern, no rate limit / tern, proxy only   the gateway with less switched on
 *
 * Each proxy and the service run on core 1, this process and autocannon on core 0; Redis is
 * unpinned. Closed loops (BENCH_CONNECTIONS, 1 s warm-up, BENCH_SECONDS) give each path's
 * maximum rate and each proxy's CPU per request; every path is measured BENCH_ROUNDS times,
 * interleaved, and the medians reported (this machine's speed drifts within a minute). Then an open-model pass at half the gateway's maximum, straight and through the
 * gateway, gives the latency the gateway adds (p50/p99, from the intended send time).
 *
 *   apt-get install -y nginx-light     # once; without nginx that row is skipped
 *   npm run --workspace bench gateway
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noiseSince, sampleCpu } from './auth/cpu-noise';
import { startTern, stopTern, type TernServer } from './auth/tern-server';
import { cannonLoop } from './data/cannon-loop';
import { processCpuMs } from './data/process-cpu';
import { nginxPath, startNginx } from './gateway/nginx';
import {
  envNumber,
  pinLayout,
  ROOT,
  round,
  saveResults,
  spawnServer,
  warnIfNoisy,
} from './lib/bench-process';
import { runProbe } from './lib/run-probe';
import type { ProbeRequest } from './lib/rate-probe';

const env = envNumber;
const SECONDS = env('BENCH_SECONDS', 5);
const CONNECTIONS = env('BENCH_CONNECTIONS', 32);
const RATE_SECONDS = env('BENCH_RATE_SECONDS', 5);
const ROUNDS = env('BENCH_ROUNDS', 3);
const { cores: CORES, pinned: PIN, serverCore: SERVER_CORE } = pinLayout();
const ADMIN_KEY = 'bench-gateway-admin-key-0123456789abcdef';
const PATH = '/.well-known/jwks.json';

interface Target {
  name:
    | 'direct'
    | 'nginx'
    | 'tern gateway'
    | 'node ref'
    | 'node floor'
    | 'tern, no rate limit'
    | 'tern, proxy only';
  url: string;
  /** The proxy's process (none for direct): its CPU per request is reported. */
  pid?: number;
  stop(): Promise<void>;
}

interface Measured {
  name: Target['name'];
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  proxyCpuMs: number | undefined;
  serviceCpuMs: number;
  othersPctOfCore: number;
}

async function closed(
  target: Target,
  service: TernServer,
  headers: Record<string, string>,
): Promise<Measured> {
  const requests: ProbeRequest[] = [{ method: 'GET', path: PATH, headers }];
  await cannonLoop({ url: target.url, connections: CONNECTIONS, seconds: 1, requests });
  const noise = sampleCpu();
  const proxyBefore = target.pid ? processCpuMs(target.pid) : 0;
  const serviceBefore = processCpuMs(service.pid);
  const result = await cannonLoop({ url: target.url, connections: CONNECTIONS, seconds: SECONDS, requests });
  const done = Math.max(1, result.ok);
  return {
    name: target.name,
    perSecond: result.perSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    failed: result.failed,
    proxyCpuMs: target.pid ? round((processCpuMs(target.pid) - proxyBefore) / done, 4) : undefined,
    serviceCpuMs: round((processCpuMs(service.pid) - serviceBefore) / done, 4),
    othersPctOfCore: noiseSince(noise).othersPctOfCore,
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `cores: ${CORES}; ${PIN ? `service and proxies on core ${SERVER_CORE}, load generators on core 0` : 'no pinning'}; Redis unpinned`,
  );
  const targets: Target[] = [];
  let service: TernServer | undefined;
  try {
    service = await startTern(mkdtempSync(join(tmpdir(), 'tern-bench-gw-')), SERVER_CORE, {
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
      TERN_AUTH_ARGON2_ITERATIONS: '1',
    });
    const signup = await fetch(`${service.url}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench-gateway@example.com', password: 'bench-password-1' }),
    });
    if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${await signup.text()}`);
    const { accessToken } = (await signup.json()) as { accessToken: string };
    const headers = { authorization: `Bearer ${accessToken}` };
    const upstream = service.url;
    targets.push({ name: 'direct', url: upstream, stop: async () => undefined });

    const nginx = nginxPath();
    if (nginx) {
      const proxy = await startNginx(nginx, upstream, SERVER_CORE);
      targets.push({
        name: 'nginx',
        url: proxy.url,
        pid: proxy.pid,
        stop: async () => {
          proxy.child.kill('SIGTERM');
        },
      });
    } else {
      console.log('nginx not installed (apt-get install -y nginx-light): its row is skipped');
    }

    /** A proxy process as a row: its URL, its pid (for CPU), and how to stop it. */
    const addTarget = (name: Target['name'], server: { url: string; pid: number; child: ChildProcess }) => {
      targets.push({
        name,
        url: server.url,
        pid: server.pid,
        stop: async () => {
          server.child.kill('SIGTERM');
        },
      });
    };

    // The gateway guards the path as a private route: a token is verified on every request.
    const startGateway = async (name: Target['name'], extraEnv: Record<string, string | undefined>) => {
      const removed = Object.keys(extraEnv).filter((key) => extraEnv[key] === undefined);
      const server = await spawnServer({
        name,
        // BENCH_GATEWAY_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the gateway.
        args: [
          ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
          join(ROOT, 'apps/tern/bin/tern.js'),
          'start',
          '--service',
          'gateway',
          '--port',
          '0',
        ],
        cpus: SERVER_CORE,
        cwd: ROOT,
        env: {
          ...process.env,
          TERN_HOST: '127.0.0.1',
          TERN_LOG_LEVEL: 'warn',
          TERN_ADMIN_KEY: ADMIN_KEY,
          REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          TERN_REDIS_KEY_PREFIX: `bench-gw-${process.pid}:`,
          TERN_GATEWAY_UPSTREAMS: `auth=${upstream}`,
          TERN_GATEWAY_ROUTES: JSON.stringify([{ prefix: PATH, service: 'auth', access: 'private' }]),
          TERN_GATEWAY_RATE_LIMITS: JSON.stringify([
            { name: 'bench', by: 'user', limit: 1_000_000_000, windowMs: 1_000, burst: 1_000_000_000 },
          ]),
          ...extraEnv,
        },
        listening: /Tern gateway is listening on (http:\/\/\S+)/,
        without: removed,
      });
      server.child.stdout?.resume();
      addTarget(name, server);
      return server;
    };
    const gateway = await startGateway('tern gateway', {});
    const check = await fetch(`${gateway.url}${PATH}`, { headers });
    if (check.status !== 200 || !check.headers.get('ratelimit-limit')) {
      throw new Error(`gateway check: ${check.status} ${await check.text()}`);
    }

    const startNodeProxy = async (name: 'node ref' | 'node floor', script: string) => {
      const server = await spawnServer({
        name,
        args: [...process.execArgv, fileURLToPath(new URL(script, import.meta.url))],
        cpus: SERVER_CORE,
        env: { ...process.env, BENCH_UPSTREAM: upstream },
        listening: /listening on (http:\/\/\S+)/,
      });
      addTarget(name, server);
    };
    await startNodeProxy('node ref', './gateway/fastify-proxy.ts');
    await startNodeProxy('node floor', './gateway/minimal-proxy.ts');

    // Diagnosis: what the rate limit (a Redis call) and authentication cost, row by row.
    await startGateway('tern, no rate limit', { TERN_GATEWAY_RATE_LIMITS: '[]' });
    // No Redis (so no registry), no auth instance listed and no JWKS URL: nothing but the proxy.
    await startGateway('tern, proxy only', {
      REDIS_URL: undefined,
      TERN_GATEWAY_RATE_LIMITS: '[]',
      TERN_GATEWAY_UPSTREAMS: `bench=${upstream}`,
      TERN_GATEWAY_ROUTES: JSON.stringify([{ prefix: PATH, service: 'bench' }]),
    });

    // Every path once per round, interleaved, so a drift of the machine's speed hits them alike.
    const rounds = new Map<Target['name'], Measured[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of targets) {
        const result = await closed(target, service, headers);
        rounds.set(target.name, [...(rounds.get(target.name) ?? []), result]);
        console.log(
          `round ${round}, ${target.name}: ${result.perSecond}/s, proxy CPU ${result.proxyCpuMs ?? '-'} ms`,
        );
      }
    }
    const measured = targets.map((target) => medianOf(rounds.get(target.name) ?? []));
    const by = (name: Target['name']) => measured.find((m) => m.name === name);
    const gatewayRow = by('tern gateway');
    const gatewayRate = gatewayRow?.perSecond ?? 0;
    const gatewayCpu = gatewayRow?.proxyCpuMs ?? 0;
    console.log(
      `\nClosed loop: ${CONNECTIONS} connections, ${SECONDS} s after 1 s warm-up, medians of ${ROUNDS} rounds; CPU ms per request`,
    );
    console.table(
      measured.map((m) => ({
        path: m.name,
        'req/s': m.perSecond,
        'gateway ÷ this': m.name === 'tern gateway' ? '-' : round(gatewayRate / Math.max(1, m.perSecond)),
        'p50/p99 ms': `${m.p50Ms} / ${m.p99Ms}`,
        'proxy CPU ms': m.proxyCpuMs ?? '-',
        // Requests per CPU-second, gateway ÷ this: the ratio with each proxy on a core of its own.
        'gateway ÷ this per core': m.proxyCpuMs && gatewayCpu ? round(m.proxyCpuMs / gatewayCpu) : '-',
        'service CPU ms': m.serviceCpuMs,
        failed: m.failed,
        'others % core': m.othersPctOfCore,
      })),
    );
    const nginxRow = by('nginx');
    const reference = by('node ref');
    const perCore = (other: Measured | undefined) =>
      other?.proxyCpuMs && gatewayCpu ? round(other.proxyCpuMs / gatewayCpu) : 'n/a';
    console.log(
      `targets: gateway ÷ nginx ${nginxRow ? round(gatewayRate / nginxRow.perSecond) : 'n/a'} (≥ 0.75; per core ${perCore(nginxRow)}), ` +
        `gateway ÷ node ref ${reference ? round(gatewayRate / reference.perSecond) : 'n/a'} (≥ 2; per core ${perCore(reference)})`,
    );

    // Latency added at half the gateway's maximum rate, straight vs through the gateway.
    const rate = Math.max(50, Math.round(gatewayRate / 2));
    const count = rate * RATE_SECONDS;
    const requests = Array.from({ length: count }, () => ({ method: 'GET', path: PATH, headers }));
    const direct = await runProbe({ url: upstream, rate, requests });
    const through = await runProbe({ url: gateway.url, rate, requests });
    console.log(`\nFixed arrival rate ${rate}/s (half the gateway's maximum), ${RATE_SECONDS} s`);
    console.table([
      { path: 'direct', ...pick(direct) },
      { path: 'tern gateway', ...pick(through) },
      {
        path: 'added by the gateway',
        'p50 ms': round(through.p50Ms - direct.p50Ms),
        'p99 ms': round(through.p99Ms - direct.p99Ms),
      },
    ]);
    console.log(`target: adds ≤ 1 ms at p99 → ${round(through.p99Ms - direct.p99Ms)} ms`);
    warnIfNoisy(Math.max(...measured.map((m) => m.othersPctOfCore)));
    saveResults('gateway', {
      measured,
      rounds: Object.fromEntries(rounds),
      rate,
      direct,
      through,
      seconds: SECONDS,
      connections: CONNECTIONS,
    });
    console.log(`total ${round((performance.now() - started) / 1000, 1)} s`);
  } finally {
    for (const target of targets) await target.stop();
    // A profiled gateway writes its profile on exit.
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (service) await stopTern(service);
  }
}

/** Each figure's median over the rounds (CPU and rate medians taken separately). */
function medianOf(results: Measured[]): Measured {
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)] as number;
  };
  const first = results[0] as Measured;
  const proxy = results.map((r) => r.proxyCpuMs).filter((v): v is number => v !== undefined);
  return {
    name: first.name,
    perSecond: median(results.map((r) => r.perSecond)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    proxyCpuMs: proxy.length ? median(proxy) : undefined,
    serviceCpuMs: median(results.map((r) => r.serviceCpuMs)),
    othersPctOfCore: Math.max(...results.map((r) => r.othersPctOfCore)),
  };
}

function pick(result: { p50Ms: number; p99Ms: number; maxMs: number; failed: number; sendLagP99Ms: number }) {
  return {
    'p50 ms': result.p50Ms,
    'p99 ms': result.p99Ms,
    'max ms': result.maxMs,
    failed: result.failed,
    'probe lag p99 ms': result.sendLagP99Ms,
  };
}

await main();
