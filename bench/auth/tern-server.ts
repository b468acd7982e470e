/** Starts and stops the all-in-one Tern (`tern start`) for the auth benchmark, optionally pinned. */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, spawnServer } from '../lib/bench-process';

export { ROOT };

export interface TernServer {
  child: ChildProcess;
  pid: number;
  url: string;
  /** The `taskset -c` CPU list it runs on, or `all`. */
  cpus: string;
}

/**
 * `cpus`: a `taskset -c` list such as `1`, or undefined to run unpinned. `nodeArgs` go to node
 * before the script, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS).
 */
export async function startTern(
  dataDir: string,
  cpus: string | undefined,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<TernServer> {
  const { child, pid, url } = await spawnServer({
    name: 'tern',
    args: [...nodeArgs, join(ROOT, 'apps/tern/bin/tern.js'), 'start', '--port', '0'],
    cpus,
    cwd: ROOT,
    env: {
      ...process.env,
      TERN_DATA_DIR: dataDir,
      TERN_HOST: '127.0.0.1',
      TERN_LOG_LEVEL: 'warn',
      ...env,
    },
    listening: /listening on (http:\/\/\S+)/,
  });
  child.stdout?.removeAllListeners('data').resume();
  for (;;) {
    const response = await fetch(`${url}/healthz`).catch(() => undefined);
    if (response?.status === 200) break;
    await sleep(5);
  }
  return { child, pid, url, cpus: cpus ?? 'all' };
}

export async function stopTern(server: TernServer): Promise<void> {
  const exited = new Promise((resolve) => server.child.on('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** Threads of the process running at nice 19: the password-hashing workers. */
export function lowPriorityThreads(pid: number): number {
  let count = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces), from field 3 (state): utime is
      // field 14, stime 15, nice 19.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[16]) === 19) count++;
    } catch {
      // The thread ended while listing.
    }
  }
  return count;
}

/** Prometheus text from `/metrics`, as `name{labels}` → value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** The first metric named `name` whose labels include every one of `labels` (`op="verify"`). */
export function metric(values: Map<string, number>, name: string, ...labels: string[]): number {
  for (const [key, value] of values) {
    const bare = key.split('{')[0];
    if (bare === name && labels.every((label) => key.includes(label))) return value;
  }
  return Number.NaN;
}

/** CPU time of a process by thread role: the main thread (event loop), the nice-19 hashing workers, the rest. */
export interface ThreadCpu {
  eventLoopMs: number;
  hashingMs: number;
  otherMs: number;
}

const MS_PER_TICK = 10;

export function threadCpu(pid: number): ThreadCpu {
  const cpu: ThreadCpu = { eventLoopMs: 0, hashingMs: 0, otherMs: 0 };
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
      if (Number(task) === pid) cpu.eventLoopMs += ms;
      else if (Number(fields[16]) === 19) cpu.hashingMs += ms;
      else cpu.otherMs += ms;
    } catch {
      // The thread ended while listing.
    }
  }
  return cpu;
}

/** The sum over every series named `name` whose labels include all of `labels` (0 when none). */
export function metricSum(values: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [key, value] of values) {
    if (key.split('{')[0] === name && labels.every((label) => key.includes(label))) sum += value;
  }
  return sum;
}
