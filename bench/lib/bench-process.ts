/** What every benchmark does around its servers and results: spawn pinned, save, warn on noise. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts `node <args>` (pinned with `taskset -c <cpus>` when given) and resolves with the URL it
 * prints, the first capture of `listening`. The child is killed should this process exit first;
 * it rejects, with the child's output, if the child exits before printing it.
 */
export async function spawnServer(options: {
  name: string;
  args: string[];
  cpus: string | undefined;
  env: NodeJS.ProcessEnv;
  listening: RegExp;
  cwd?: string;
  /** Environment variables to leave out (set in `env` or inherited). */
  without?: readonly string[];
}): Promise<{ child: ChildProcess; pid: number; url: string }> {
  const { args, cpus } = options;
  const env = { ...options.env };
  for (const name of options.without ?? []) delete env[name];
  const child = spawn(
    cpus === undefined ? process.execPath : 'taskset',
    cpus === undefined ? args : ['-c', cpus, process.execPath, ...args],
    { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Should the benchmark fail half-way, no server outlives it.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  child.on('exit', () => process.off('exit', killOnExit));
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = options.listening.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`${options.name} exited with ${code}: ${output}`)));
  });
  // taskset execs node in place, so the child's pid is the server's.
  return { child, pid: child.pid ?? 0, url };
}

/** Writes `bench/results/<name>-<time>.json` and says where. */
export function saveResults(name: string, results: unknown): string {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`results: ${file}`);
  return file;
}

/** Says so when other processes took more than a tenth of a core in some phase. */
export function warnIfNoisy(worstPctOfCore: number): void {
  if (worstPctOfCore > 10) {
    console.log(
      `WARNING: other processes used up to ${worstPctOfCore} % of a core during a phase; these numbers are not clean, run again on a quiet machine.`,
    );
  }
}

/** Pins this process to one core (`taskset`); false where taskset is missing. */
export function pinSelf(core: number): boolean {
  try {
    execFileSync('taskset', ['-cp', String(core), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A numeric setting from the environment (BENCH_SECONDS and the like). */
export const envNumber = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

/** `value` to `digits` decimals, for tables. */
export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The benchmarks' core layout: on two or more cores this process (and the load generators it
 * starts) is pinned to core 0 and servers go on the last core (`serverCore`, for `spawnServer`'s
 * `cpus`); on one core nothing is pinned.
 */
export function pinLayout(): { cores: number; pinned: boolean; serverCore: string | undefined } {
  const cores = availableParallelism();
  const pinned = cores >= 2 && pinSelf(0);
  return { cores, pinned, serverCore: pinned ? String(cores - 1) : undefined };
}
