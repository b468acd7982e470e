/**
 * The load generators of the load benchmark, each run as its own process pinned to one core
 * (`taskset -c <core>`), so each gets that core to itself and this process only waits: tern load
 * (`apps/tern/bin/tern.js load http`), the autocannon CLI (`-j`, JSON on stdout) and wrk when it
 * is installed. Each run also reads the generator's and the server's CPU every 100 ms.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuMs } from '../data/process-cpu';
import { ROOT } from '../lib/bench-process';

const TERN = join(ROOT, 'apps/tern/bin/tern.js');
const AUTOCANNON = join(ROOT, 'node_modules/autocannon/autocannon.js');

/** One generator run, as the tables need it. Latencies in ms. */
export interface GeneratorRun {
  /** Successful (2xx) requests per second of the load's length. */
  rate: number;
  requests: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** The generator's CPU, share of one core, while the server was answering it. */
  cpu: number;
  /** The server's CPU over the same window, share of one core. */
  serverCpu: number;
  /** Latency samples the generator recorded (autocannon adds synthetic ones at a fixed rate). */
  samples?: number;
  /** tern load's own report of itself: CPU mean and peak, late sends, dropped arrivals. */
  self?: { cpuMean: number; cpuPeak: number; lateP99Ms: number; dropped: number };
}

/** The generator's and the server's CPU, shares of one core, over the window the server was busy. */
function loadWindowCpu(samples: { at: number; cpu: number; server: number }[]): {
  cpu: number;
  serverCpu: number;
} {
  const first = samples.findIndex((sample) => sample.server > (samples[0]?.server ?? 0));
  let last = samples.length - 1;
  while (last > 0 && (samples[last]?.server ?? 0) <= (samples[last - 1]?.server ?? 0)) last--;
  const from = samples[Math.max(0, first - 1)];
  const to = samples[last];
  if (first < 0 || !from || !to || to.at <= from.at) return { cpu: Number.NaN, serverCpu: Number.NaN };
  return {
    cpu: (to.cpu - from.cpu) / (to.at - from.at),
    serverCpu: (to.server - from.server) / (to.at - from.at),
  };
}

/**
 * Runs `node <args>` (or `command <args>`) pinned to `core`, sampling its CPU and the server's
 * once a second, until it exits or, with `until`, until its stdout matches (then it is killed:
 * tern load stays alive for its request timeout after writing its report).
 */
async function runPinned(options: {
  command?: string;
  args: string[];
  core: string | undefined;
  serverPid: number;
  until?: RegExp;
}): Promise<{ stdout: string; stderr: string; cpu: number; serverCpu: number }> {
  const command = options.command ?? process.execPath;
  const child = spawn(
    options.core === undefined ? command : 'taskset',
    options.core === undefined ? options.args : ['-c', options.core, command, ...options.args],
    { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  // taskset execs the command in place, so the child's pid is the generator's.
  const pid = child.pid ?? 0;
  // CPU read every 100 ms; the load's window is from the sample before the server first used CPU
  // to the last sample at which it did (it is idle otherwise), so start-up and exit are left out.
  const samples: { at: number; cpu: number; server: number }[] = [];
  const sample = () => {
    const cpu = processCpuMs(pid);
    // A process that has just exited reads as 0.
    if (cpu > 0) samples.push({ at: performance.now(), cpu, server: processCpuMs(options.serverPid) });
  };
  sample();
  const sampler = setInterval(sample, 100);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (options.until?.test(stdout)) child.kill('SIGTERM');
      });
      child.on('error', reject);
      child.on('exit', (exitCode, signal) => resolve(signal === 'SIGTERM' && options.until ? 0 : exitCode));
    });
    if (code !== 0) {
      throw new Error(`${[command, ...options.args].join(' ')} exited with ${code}: ${stderr.slice(-2_000)}`);
    }
  } finally {
    clearInterval(sampler);
    process.off('exit', killOnExit);
  }
  return { stdout, stderr, ...loadWindowCpu(samples) };
}

interface TernReport {
  totals: {
    requests: number;
    rate: number;
    errors: number;
    latencyMs: { p50: number; p90: number; p99: number; max: number };
  };
  durationS: number;
  generator: { cpuMean: number; cpuPeak: number; lateP99Ms: number; dropped: number };
}

/** `tern load http --target <url> <flags> --duration <seconds>s --quiet --report <tmp dir>`. */
export async function ternLoad(options: {
  url: string;
  flags: string[];
  seconds: number;
  core: string | undefined;
  serverPid: number;
}): Promise<GeneratorRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tern-bench-load-'));
  try {
    const run = await runPinned({
      args: [
        TERN,
        'load',
        'http',
        '--target',
        options.url,
        ...options.flags,
        '--duration',
        `${options.seconds}s`,
        '--quiet',
        '--report',
        dir,
      ],
      core: options.core,
      serverPid: options.serverPid,
      until: /^reports: /m,
    });
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TernReport;
    const { totals, generator } = report;
    return {
      rate: (totals.requests - totals.errors) / options.seconds,
      requests: totals.requests,
      errors: totals.errors,
      latencyMs: totals.latencyMs,
      cpu: run.cpu,
      serverCpu: run.serverCpu,
      self: {
        cpuMean: generator.cpuMean,
        cpuPeak: generator.cpuPeak,
        lateP99Ms: generator.lateP99Ms,
        dropped: generator.dropped,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface AutocannonJson {
  errors: number;
  non2xx: number;
  '2xx': number;
  requests: { total: number };
  latency: { p50: number; p90: number; p99: number; max: number; totalCount: number };
}

/** The autocannon CLI: `-c <connections> -d <seconds> -j [-R <rate>] [-C] <url>`. */
export async function autocannonCli(options: {
  url: string;
  connections: number;
  seconds: number;
  /** `-R`: requests per second over all connections. */
  overallRate?: number;
  /** `-C`: record latencies as measured, without autocannon's correction for the expected interval. */
  ignoreCoordinatedOmission?: boolean;
  core: string | undefined;
  serverPid: number;
}): Promise<GeneratorRun> {
  const run = await runPinned({
    args: [
      AUTOCANNON,
      '-c',
      String(options.connections),
      '-d',
      String(options.seconds),
      '-j',
      ...(options.overallRate === undefined ? [] : ['-R', String(options.overallRate)]),
      ...(options.ignoreCoordinatedOmission ? ['-C'] : []),
      options.url,
    ],
    core: options.core,
    serverPid: options.serverPid,
  });
  const result = JSON.parse(run.stdout) as AutocannonJson;
  return {
    rate: result['2xx'] / options.seconds,
    requests: result.requests.total,
    errors: result.errors + result.non2xx,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    samples: result.latency.totalCount,
    cpu: run.cpu,
    serverCpu: run.serverCpu,
  };
}

/** wrk's path, or undefined where it is not installed. */
export function findWrk(): string | undefined {
  try {
    return execFileSync('which', ['wrk'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `wrk -t1 -c<connections> -d<seconds>s --latency <url>`: one thread, closed model. */
export async function wrk(options: {
  path: string;
  url: string;
  connections: number;
  seconds: number;
  core: string | undefined;
  serverPid: number;
}): Promise<GeneratorRun> {
  const run = await runPinned({
    command: options.path,
    args: ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', options.url],
    core: options.core,
    serverPid: options.serverPid,
  });
  const ms = (text: string | undefined) => {
    const match = /([\d.]+)(us|ms|s)/.exec(text ?? '');
    if (!match) return Number.NaN;
    return Number(match[1]) * (match[2] === 'us' ? 0.001 : match[2] === 's' ? 1_000 : 1);
  };
  const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? 0);
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0) +
    [...run.stdout.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  return {
    rate: (requests - errors) / options.seconds,
    requests,
    errors,
    latencyMs: {
      p50: ms(/50%\s+(\S+)/.exec(run.stdout)?.[1]),
      p90: ms(/90%\s+(\S+)/.exec(run.stdout)?.[1]),
      p99: ms(/99%\s+(\S+)/.exec(run.stdout)?.[1]),
      max: ms(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(run.stdout)?.[1]),
    },
    cpu: run.cpu,
    serverCpu: run.serverCpu,
  };
}
