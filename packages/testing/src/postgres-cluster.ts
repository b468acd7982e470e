import { execFile } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from './wait-for';

const run = promisify(execFile);
const PG_USER = 'postgres';

export interface PostgresNode {
  readonly port: number;
  /** A URL to the `postgres` database of this server. */
  readonly url: string;
  /** Stops the server: `fast` rolls back sessions and shuts down cleanly; `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
}

export interface PostgresCluster {
  primary: PostgresNode;
  standby: PostgresNode;
  /** Stops both servers and deletes their data directories. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL primary and a streaming standby of it, started from scratch on free ports: `initdb`,
 * `pg_basebackup -R` and `pg_ctl`, run as the `postgres` user when this process is root (PostgreSQL
 * refuses to run as root). For tests of read replicas; about 3 s to start on a small machine.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const root = mkdtempSync(join(tmpdir(), 'tern-pg-cluster-'));
  if (isRoot()) {
    const { uid, gid } = postgresAccount();
    chownSync(root, uid, gid);
  }
  const as = (tool: string, args: string[]) => runAs(join(bin, tool), args);
  const nodes: PostgresNode[] = [];
  try {
    const [primaryPort, standbyPort] = [await freePort(), await freePort()];
    const primaryDir = join(root, 'primary');
    await as('initdb', ['-D', primaryDir, '-U', PG_USER, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    appendFileSync(
      join(primaryDir, 'postgresql.conf'),
      [
        `port = ${primaryPort}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${root}'`,
        'wal_level = replica',
        'max_wal_senders = 4',
        'hot_standby = on',
        // Throwaway test clusters: durability buys nothing and costs seconds.
        'fsync = off',
        'full_page_writes = off',
        'shared_buffers = 16MB',
        '',
      ].join('\n'),
    );
    const primary = node(bin, primaryDir, primaryPort, join(root, 'primary.log'));
    nodes.push(primary);
    await primary.start();

    const standbyDir = join(root, 'standby');
    await as('pg_basebackup', [
      ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', PG_USER],
      ...['-D', standbyDir, '-R', '-X', 'stream', '-c', 'fast'],
    ]);
    writeFileSync(join(standbyDir, 'postgresql.auto.conf'), `port = ${standbyPort}\n`, { flag: 'a' });
    const standby = node(bin, standbyDir, standbyPort, join(root, 'standby.log'));
    nodes.push(standby);
    await standby.start();
    return {
      primary,
      standby,
      async destroy() {
        await Promise.allSettled(nodes.map((n) => n.stop('immediate')));
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.stop('immediate')));
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

function node(bin: string, dir: string, port: number, logFile: string): PostgresNode {
  const url = `postgres://${PG_USER}@127.0.0.1:${port}/postgres`;
  let running = false;
  return {
    port,
    url,
    async start() {
      await runAs(join(bin, 'pg_ctl'), ['-D', dir, '-l', logFile, '-w', '-t', '60', 'start']);
      running = true;
      await waitFor(() => canConnect(url), { timeoutMs: 30_000, what: `PostgreSQL on port ${port}` });
    },
    async stop(mode = 'fast') {
      if (!running) return;
      running = false;
      await runAs(join(bin, 'pg_ctl'), ['-D', dir, '-m', mode, '-w', 'stop']);
    },
  };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The newest installed server's binaries (Debian keeps them out of PATH). */
function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((name) => existsSync(join(base, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) throw new Error(`no PostgreSQL server binaries under ${base}`);
  return join(base, newest, 'bin');
}

async function runAs(file: string, args: string[]): Promise<void> {
  const [command, commandArgs] = isRoot() ? ['runuser', ['-u', PG_USER, '--', file, ...args]] : [file, args];
  try {
    await run(command, commandArgs, { cwd: tmpdir(), timeout: 120_000 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${file.split('/').pop()} failed: ${stderr || stdout || String(error)}`, {
      cause: error,
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

const isRoot = () => userInfo().uid === 0;

/** The `postgres` account's uid and gid, from /etc/passwd. */
function postgresAccount(): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${PG_USER}:`))
    ?.split(':');
  const [uid, gid] = [Number(entry?.[2]), Number(entry?.[3])];
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`no ${PG_USER} user on this machine`);
  return { uid, gid };
}
