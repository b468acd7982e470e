/**
 * Side by side, in one run: the all-in-one Tern server's GET /healthz against a raw node:http
 * hello-world answering the same JSON. Each server runs pinned to core 1, the load generator
 * (autocannon, in this process) to core 0. Prints throughput, latency and the ratio; also the
 * time from spawn to the first /healthz 200, and idle RSS.
 *
 *   npm run bench                      # 10 s per target
 *   BENCH_SECONDS=30 npm run bench
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, saveResults, spawnServer } from './lib/bench-process';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PIN = hasTaskset();

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
  startupMs: number;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function startServer(name: string, args: string[], env: Record<string, string>): Promise<Server> {
  const started = performance.now();
  const { child, url } = await spawnServer({
    name,
    args,
    cpus: PIN ? '1' : undefined,
    cwd: ROOT,
    env: { ...process.env, ...env },
    listening: /listening on (http:\/\/\S+)/,
  });
  // Keep draining stdout (the server logs every request there) so the pipe never blocks it.
  child.stdout?.removeAllListeners('data').resume();
  for (;;) {
    const response = await fetch(`${url}/healthz`).catch(() => undefined);
    if (response?.status === 200) break;
    await sleep(5);
  }
  return { name, child, url, startupMs: performance.now() - started };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kib / 1024) * 10) / 10;
}

async function load(url: string, seconds: number) {
  const result = await autocannon({
    url: `${url}/healthz`,
    connections: CONNECTIONS,
    duration: seconds,
    pipelining: 1,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function stop(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.on('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tern-bench-'));
  const startTern = (level: 'info' | 'warn') =>
    startServer(`tern (log ${level})`, [join(ROOT, 'apps/tern/bin/tern.js'), 'start', '--port', '0'], {
      TERN_DATA_DIR: dataDir,
      TERN_HOST: '127.0.0.1',
      TERN_LOG_LEVEL: level,
    });
  const measure = async (server: Server) => {
    await load(server.url, 2); // warm-up: JIT, connection pools
    const result = await load(server.url, SECONDS);
    return { target: server.name, ...result, rssAfterMiB: rssMiB(server.child.pid ?? 0) };
  };

  const reference = await startServer('node:http', [join(ROOT, 'bench/reference/node-http-healthz.mjs')], {});
  const ternInfo = await startTern('info');
  await sleep(1000);
  const idleRss = rssMiB(ternInfo.child.pid ?? 0);

  const rows: Record<string, unknown>[] = [await measure(reference), await measure(ternInfo)];
  await stop(ternInfo);
  // One Tern at a time, so the two never compete for the server core.
  const ternWarn = await startTern('warn');
  rows.push(await measure(ternWarn));
  await stop(ternWarn);
  await stop(reference);
  rmSync(dataDir, { recursive: true, force: true });

  const referenceRps = Number(rows[0]?.requestsPerSecond);
  for (const row of rows)
    row.ratioToNodeHttp = Math.round((Number(row.requestsPerSecond) / referenceRps) * 100) / 100;
  console.table(rows);
  console.log(
    `tern startup (spawn → first /healthz 200): ${Math.round(ternInfo.startupMs)} ms; node:http: ${Math.round(reference.startupMs)} ms`,
  );
  console.log(`tern idle RSS: ${idleRss} MiB`);
  console.log(
    `pinned: ${PIN ? 'server core 1, load generator core 0' : 'no (taskset missing)'}; ${CONNECTIONS} connections, ${SECONDS} s`,
  );

  saveResults('healthz', {
    seconds: SECONDS,
    connections: CONNECTIONS,
    pinned: PIN,
    rows,
    startupMs: ternInfo.startupMs,
    idleRss,
  });
}

await main();
