import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  freePort,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@tern/testing';
import { metricSum } from './metric-sum';
import { spawnTern, type TernProcess } from './spawn-tern';

const ADMIN_KEY = 'e2e-gateway-admin-key-that-is-long-enough-0123';

/** Requests an instance served on a route, from its own /metrics. */
const served = (instance: TernProcess, route: string) =>
  metricSum(instance, 'tern_http_request_duration_seconds_count', { route });

describe('the services shape behind `tern start --service gateway`', () => {
  let database: TestDatabase;
  const stream = uniqueName('GW').toUpperCase();
  const redisPrefix = `${uniqueName('gw')}:`;
  let instances: TernProcess[] = [];
  let gateway: TernProcess;

  const serviceEnv = (instance: string) => ({
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    NATS_URL: TEST_NATS_URL,
    TERN_NATS_STREAM: stream,
    TERN_REDIS_KEY_PREFIX: redisPrefix,
    TERN_ADMIN_KEY: ADMIN_KEY,
    TERN_INSTANCE_ID: instance,
    TERN_LOG_LEVEL: 'warn',
    TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
    TERN_AUTH_ARGON2_ITERATIONS: '1',
  });

  /** A new user signed up through the gateway; its Authorization header. */
  async function signIn(): Promise<Record<string, string>> {
    const signup = await fetch(`${gateway.url}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `${uniqueName('gw')}@example.com`, password: 'correct horse battery' }),
    });
    assert.equal(signup.status, 201, await signup.clone().text());
    return { authorization: `Bearer ${((await signup.json()) as { accessToken: string }).accessToken}` };
  }

  before(async () => {
    database = await createTestDatabase();
    instances = await Promise.all(
      ['svc-1', 'svc-2'].map((id) =>
        spawnTern(['start', '--port', '0'], serviceEnv(id), { timeoutMs: 40_000 }),
      ),
    );
    const origins = instances.map((instance) => instance.url).join(',');
    gateway = await spawnTern(
      ['start', '--service', 'gateway', '--port', '0'],
      {
        TERN_GATEWAY_UPSTREAMS: `auth=${origins};data=${origins};system=${origins}`,
        TERN_INSTANCE_ID: 'gw-1',
        TERN_LOG_LEVEL: 'warn',
        TERN_ADMIN_KEY: ADMIN_KEY,
        REDIS_URL: TEST_REDIS_URL,
        TERN_REDIS_KEY_PREFIX: redisPrefix,
      },
      { timeoutMs: 60_000 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await Promise.all(instances.map((instance) => instance.stop()));
    await database?.drop();
    await deleteNatsStreams(stream);
    await deleteRedisKeys(redisPrefix);
  });

  it('serves the public API through the gateway, spread over both instances', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const collection = await fetch(`${gateway.url}/v1/admin/collections/notes`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ schema: { type: 'object', properties: { title: { type: 'string' } } } }),
    });
    assert.equal(collection.status, 201, await collection.clone().text());
    const signup = await fetch(`${gateway.url}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'gw-user@example.com', password: 'correct horse battery' }),
    });
    assert.equal(signup.status, 201, await signup.clone().text());
    const { accessToken } = (await signup.json()) as { accessToken: string };
    const user = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
    const ids: string[] = [];
    for (let index = 0; index < 20; index++) {
      const created = await fetch(`${gateway.url}/v1/data/notes`, {
        method: 'POST',
        headers: user,
        body: JSON.stringify({ title: `note ${index}` }),
      });
      assert.equal(created.status, 201);
      assert.ok(created.headers.get('x-request-id'));
      ids.push(((await created.json()) as { id: string }).id);
    }
    for (const id of ids) {
      const read = await fetch(`${gateway.url}/v1/data/notes/${id}`, { headers: user });
      assert.equal(read.status, 200);
    }
    const list = await fetch(`${gateway.url}/v1/data/notes?limit=100`, { headers: user });
    assert.equal(list.headers.get('ratelimit-policy')?.endsWith('name="caller"'), true);
    assert.equal(((await list.json()) as { items: unknown[] }).items.length, 20);
    const system = await fetch(`${gateway.url}/v1/admin/system`, { headers: admin });
    assert.equal(system.status, 200);
    for (const instance of instances) {
      assert.ok((await served(instance, '/v1/data/:collection/:id')) > 0, `${instance.url} served no reads`);
    }
  });

  it('refuses what it cannot route, and passes the services’ own refusals through unchanged', async () => {
    const unknown = await fetch(`${gateway.url}/v1/nowhere`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'gateway/route-not-found');
    const unauthenticated = await fetch(`${gateway.url}/v1/data/notes`);
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.headers.get('content-type') ?? '', /problem\+json/);
    // The same request straight to an instance, bypassing the gateway, is refused the same way.
    const bypass = await fetch(`${instances[0]?.url}/v1/data/notes`);
    assert.equal(bypass.status, 401);
    const forged = await fetch(`${gateway.url}/v1/data/notes`, {
      headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
    });
    assert.equal(forged.status, 401);
  });

  it('sends traffic to an instance that registers itself, and none once it deregisters on SIGTERM', async () => {
    const port = await freePort();
    const late = await spawnTern(
      ['start', '--port', String(port)],
      { ...serviceEnv('svc-3'), TERN_ADVERTISE_URL: `http://127.0.0.1:${port}` },
      { timeoutMs: 60_000 },
    );
    const user = await signIn();
    await waitFor(
      async () => {
        const me = await fetch(`${gateway.url}/v1/auth/me`, { headers: user });
        assert.equal(me.status, 200);
        return (await served(late, '/v1/auth/me')) > 0;
      },
      { timeoutMs: 30_000, what: 'the registered instance to take traffic' },
    );
    assert.equal(await late.stop('SIGTERM'), 0, late.stderr.join(''));
    for (let i = 0; i < 20; i++) {
      const me = await fetch(`${gateway.url}/v1/auth/me`, { headers: user });
      assert.equal(me.status, 200, 'the remaining instances answer');
    }
  });

  it('drains and exits 0 on SIGTERM', async () => {
    assert.equal(await gateway.stop('SIGTERM'), 0, gateway.stderr.join(''));
  });
});
