/** Databases and the Parse Server child process for the data benchmark (Tern: ../auth/tern-server). */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { spawnServer } from '../lib/bench-process';
import { fileURLToPath } from 'node:url';

export const PG_HOST = process.env.BENCH_PG_HOST ?? '127.0.0.1';
export const PG_USER = process.env.BENCH_PG_USER ?? 'postgres';

export function psql(sql: string, database = 'postgres'): string {
  return execFileSync('psql', ['-h', PG_HOST, '-U', PG_USER, '-d', database, '-qAtc', sql], {
    encoding: 'utf8',
  });
}

export function databaseUrl(name: string): string {
  return `postgres://${PG_USER}@${PG_HOST}:5432/${name}`;
}

export function createDatabase(name: string): string {
  psql(`CREATE DATABASE ${name}`);
  return databaseUrl(name);
}

export function dropDatabase(name: string): void {
  psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

export interface ParseProcess {
  child: ChildProcess;
  pid: number;
  /** The server's origin; the API is under /parse. */
  url: string;
}

/** Parse Server in its own process (./parse-child.ts), pinned with `taskset -c <cpus>` when given. */
export async function startParse(
  input: { databaseURI: string; appId: string; masterKey: string },
  cpus: string | undefined,
): Promise<ParseProcess> {
  const file = fileURLToPath(new URL('./parse-child.ts', import.meta.url));
  const { child, pid, url } = await spawnServer({
    name: 'parse-server',
    args: [...process.execArgv, file],
    cpus,
    // No log files (./logs by default); errors reach stderr, which is passed on.
    env: { ...process.env, BENCH_PARSE: JSON.stringify(input), PARSE_SERVER_LOGS_FOLDER: 'null' },
    listening: /listening on (http:\/\/[^/\s]+)\/parse/,
  });
  // Anything it logs from now on (errors only) goes to this process's stderr.
  child.stdout?.removeAllListeners('data').pipe(process.stderr);
  child.stderr?.removeAllListeners('data').pipe(process.stderr);
  return { child, pid, url };
}

export async function stopParse(server: ParseProcess): Promise<void> {
  const exited = new Promise((resolve) => server.child.on('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}
