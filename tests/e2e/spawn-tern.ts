import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TERN_BIN = fileURLToPath(new URL('../../apps/tern/bin/tern.js', import.meta.url));
export const TERN_WITH_FIXTURES = fileURLToPath(new URL('./fixtures/tern-with-fixtures.ts', import.meta.url));

export interface TernProcess {
  child: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  /** Sends a signal and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs the CLI as its own OS process and waits for its "listening" line. */
export async function spawnTern(
  args: string[],
  env: Record<string, string>,
  { withFixtures = false, timeoutMs = 60_000 } = {},
): Promise<TernProcess> {
  const entry = withFixtures ? ['--import', 'tsx', TERN_WITH_FIXTURES] : [TERN_BIN];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERN_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      if (signal) stderr.push(`\n[spawn-tern] terminated by ${signal}\n`);
      resolve(code);
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tern did not start in ${timeoutMs} ms:\n${stderr.join('')}`)),
      timeoutMs,
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout.push(chunk);
      // At a line's start: `tern up` passes its processes' lines on, prefixed with their names.
      const match = /^Tern (?:gateway )?is listening on (http:\/\/\S+)/m.exec(stdout.join(''));
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tern exited with ${code} before listening:\n${stderr.join('')}`));
    });
  });
  return {
    child,
    url,
    stdout,
    stderr,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export async function runTern(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [TERN_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) =>
    child.on('exit', (exitCode) => resolve(exitCode)),
  );
  return { code, stdout, stderr };
}
