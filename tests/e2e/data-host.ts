import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authService } from '@tern/auth';
import { loadConfig } from '@tern/config';
import { dataService } from '@tern/data';
import { startHost, type RunningHost, type ServiceDefinition } from '@tern/runtime';
import { createTestDatabase, uniqueName, type TestDatabase } from '@tern/testing';

/** A parsed JSON answer: tests read it field by field and assert each one. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  /** The parsed body; empty when the answer was not JSON (the test's assertions say what it expected). */
  body: Json;
  headers: Headers;
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as is, with a JSON content type unless headers say otherwise. */
  raw?: string;
  headers?: Record<string, string>;
}

/** The `notes` collection both data suites define. */
export const NOTES_SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 200 },
    score: { type: 'number' },
    tags: { type: 'object' },
  },
  required: ['title'],
  additionalProperties: false,
};

/**
 * Auth and data in one real host on a free port, embedded (SQLite) or on a fresh PostgreSQL
 * database, with cheap password hashing; `close()` removes everything it made.
 */
export async function startDataHost(
  shape: 'embedded' | 'production',
  env: Record<string, string> = {},
  catalog: readonly ServiceDefinition[] = [authService, dataService],
) {
  const dir = mkdtempSync(join(tmpdir(), 'tern-data-'));
  const adminKey = `data-test-admin-key-${uniqueName('k')}-0123456789`;
  let database: TestDatabase | undefined;
  let host: RunningHost | undefined;
  try {
    if (shape === 'production') database = await createTestDatabase();
    const config = loadConfig({
      env: {
        PORT: '0',
        TERN_HOST: '127.0.0.1',
        TERN_DATA_DIR: dir,
        TERN_LOG_LEVEL: 'silent',
        TERN_ADMIN_KEY: adminKey,
        TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
        TERN_AUTH_ARGON2_ITERATIONS: '1',
        ...(database ? { DATABASE_URL: database.url } : {}),
        ...env,
      },
    });
    host = await startHost({ config, catalog });
  } catch (error) {
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = host.url;

  async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const payload = options.raw ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
    const response = await fetch(`${url}${path}`, {
      method,
      // A hang fails the request instead of the whole file.
      signal: AbortSignal.timeout(5_000),
      headers: {
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const text = await response.text();
    let body: Json = {};
    try {
      body = text ? (JSON.parse(text) as Json) : {};
    } catch {
      // Left empty: the caller's assertions say what was expected.
    }
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      text,
      body,
      headers: response.headers,
    };
  }

  return {
    url,
    adminKey,
    dir,
    databaseUrl: database?.url,
    call,
    /** A new signed-in user. */
    async signup(): Promise<{ id: string; token: string }> {
      const answer = await call('POST', '/v1/auth/signup', {
        body: { email: `${uniqueName('u')}@example.com`, password: 'correct horse' },
      });
      assert.equal(answer.status, 201, answer.text);
      return { id: answer.body.user.id as string, token: answer.body.accessToken as string };
    },
    async close(): Promise<void> {
      await host?.stop();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type DataHost = Awaited<ReturnType<typeof startDataHost>>;
