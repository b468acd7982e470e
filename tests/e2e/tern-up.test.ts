import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  type TestDatabase,
} from '@tern/testing';
import { spawnTern, type TernProcess } from './spawn-tern';

describe('tern up: the services shape on one machine', () => {
  let database: TestDatabase;
  const stream = uniqueName('UP').toUpperCase();
  const redisPrefix = `${uniqueName('up')}:`;
  const adminKey = 'e2e-up-admin-key-that-is-long-enough-0123456';
  let up: TernProcess;

  before(async () => {
    database = await createTestDatabase();
    up = await spawnTern(
      // Two of the services, so the test starts five processes rather than seven on a 2-core machine.
      ['up', '--port', '0', '--instances', '2', '--service', 'auth', '--service', 'data'],
      {
        DATABASE_URL: database.url,
        REDIS_URL: TEST_REDIS_URL,
        NATS_URL: TEST_NATS_URL,
        TERN_NATS_STREAM: stream,
        TERN_REDIS_KEY_PREFIX: redisPrefix,
        TERN_ADMIN_KEY: adminKey,
        TERN_DATA_DIR: mkdtempSync(join(tmpdir(), 'tern-up-')),
        TERN_LOG_LEVEL: 'warn',
        TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
        TERN_AUTH_ARGON2_ITERATIONS: '1',
      },
      { timeoutMs: 90_000 },
    );
  });

  after(async () => {
    await up?.stop();
    await database?.drop();
    await deleteNatsStreams(stream);
    await deleteRedisKeys(redisPrefix);
  });

  it('serves the public API through its gateway, two registered instances of each service asked for behind it', async () => {
    const routes = await fetch(`${up.url}/v1/admin/routes`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(routes.status, 200);
    const { services } = (await routes.json()) as {
      services: Record<string, { versions: Record<string, { available: boolean }[]> }>;
    };
    assert.deepEqual(Object.keys(services).sort(), ['auth', 'data']);
    for (const service of ['auth', 'data']) {
      const instances = Object.values(services[service]?.versions ?? {}).flat();
      assert.equal(instances.filter((instance) => instance.available).length, 2, service);
    }
    const signup = await fetch(`${up.url}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'up-user@example.com', password: 'correct horse battery' }),
    });
    assert.equal(signup.status, 201, await signup.clone().text());
    const { accessToken } = (await signup.json()) as { accessToken: string };
    const collection = await fetch(`${up.url}/v1/admin/collections/notes`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: { type: 'object' } }),
    });
    assert.equal(collection.status, 201, await collection.clone().text());
    // The data instances verify the token with keys fetched through the gateway.
    const created = await fetch(`${up.url}/v1/data/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'from tern up' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
  });

  it('stops every process gracefully on SIGTERM and exits 0', async () => {
    const code = await up.stop('SIGTERM');
    assert.equal(code, 0, `${up.stderr.join('').slice(-3000)}\n${up.stdout.join('').slice(-3000)}`);
    const refused = await fetch(`${up.url}/healthz`).catch(() => undefined);
    assert.equal(refused, undefined, 'the gateway is gone');
  });
});
