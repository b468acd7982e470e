import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '@tern/config';
import { startHost, type RunningHost } from '@tern/runtime';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  type TestDatabase,
} from '@tern/testing';
import { jobsService } from '@tern/jobs';
import { authService } from '../src/index';

export type Shape = 'embedded' | 'production';

/** The infrastructure one test owns: a data dir, and in the production shape a database, Redis prefix and stream. */
export interface TestInfrastructure {
  shape: Shape;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface AuthTestHost {
  url: string;
  adminKey: string;
  host: RunningHost;
  /** Every log line so far, raw: tests search them for leaked secrets. */
  rawLogs: string[];
  close(): Promise<void>;
}

// Cheap argon2 parameters keep the suite fast; the benchmarks use the production ones.
const FAST_HASHING = { TERN_AUTH_ARGON2_MEMORY_KIB: '8192', TERN_AUTH_ARGON2_ITERATIONS: '1' };

/**
 * Infrastructure for one test. Embedded: SQLite and in-process adapters in a temp dir.
 * Production: a fresh PostgreSQL database, a Redis key prefix and a NATS stream of its own, so
 * tests run in parallel and leave nothing behind. Several hosts may share it (two instances).
 */
export async function createTestInfrastructure(shape: Shape, extraEnv: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tern-auth-'));
  const env: Record<string, string> = {
    PORT: '0',
    TERN_HOST: '127.0.0.1',
    TERN_DATA_DIR: dataDir,
    TERN_LOG_LEVEL: 'debug',
    TERN_ADMIN_KEY: `test-admin-key-${uniqueName('k')}-0123456789abcdef`,
    ...FAST_HASHING,
    ...extraEnv,
  };
  let database: TestDatabase | undefined;
  const prefix = `${uniqueName('tern_t')}:`;
  const stream = uniqueName('TERNT')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .slice(0, 32);
  if (shape === 'production') {
    database = await createTestDatabase();
    Object.assign(env, {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      TERN_REDIS_KEY_PREFIX: prefix,
      NATS_URL: TEST_NATS_URL,
      TERN_NATS_STREAM: stream,
    });
  }
  return {
    shape,
    env,
    async cleanup() {
      if (shape === 'production') {
        await Promise.allSettled([database?.drop(), deleteRedisKeys(prefix), deleteNatsStreams(stream)]);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  } satisfies TestInfrastructure;
}

/**
 * Starts a real host with the auth service on a free loopback port, capturing its logs. The jobs
 * service is mounted beside it: auth's mails go out as its `email.send` jobs.
 */
export async function startAuthHost(
  infrastructure: TestInfrastructure,
  env: Record<string, string> = {},
): Promise<AuthTestHost> {
  const rawLogs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      rawLogs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const config = loadConfig({ env: { ...infrastructure.env, ...env } });
  const host = await startHost({ config, catalog: [authService, jobsService], logDestination: destination });
  return {
    url: host.url,
    adminKey: infrastructure.env.TERN_ADMIN_KEY as string,
    host,
    rawLogs,
    close: async () => {
      await host.stop();
    },
  };
}

/** A parsed JSON answer: tests read it field by field and assert each one, so it stays loosely typed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = Record<string, any>;

/** A small JSON client for one host. */
export function client(baseUrl: string) {
  async function call(
    method: string,
    path: string,
    options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: JsonBody; headers: Headers }> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(options.body !== undefined
        ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
        : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as JsonBody) : {},
      headers: response.headers,
    };
  }
  return {
    call,
    post: (path: string, body?: unknown, token?: string) =>
      call('POST', path, { body, ...(token ? { token } : {}) }),
    get: (path: string, token?: string) => call('GET', path, token ? { token } : {}),
    patch: (path: string, body: unknown, token?: string) =>
      call('PATCH', path, { body, ...(token ? { token } : {}) }),
    del: (path: string, token?: string) => call('DELETE', path, token ? { token } : {}),
    async signup(email = `${uniqueName('user')}@example.com`, password = 'correct horse battery') {
      const response = await call('POST', '/v1/auth/signup', { body: { email, password } });
      if (response.status !== 201) throw new Error(`signup failed: ${JSON.stringify(response.body)}`);
      return { ...(response.body as SignedIn), email, password };
    },
  };
}

export interface SignedIn {
  user: { id: string; email: string | null; anonymous: boolean; roles: string[] };
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export type Client = ReturnType<typeof client>;
