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
  waitFor,
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
      // Three of the services, talking to each other through the gateway: auth hands its mail to
      // jobs, and an export job reads auth and data (seven processes rather than nine).
      [
        'up',
        '--port',
        '0',
        '--instances',
        '2',
        '--service',
        'auth',
        '--service',
        'data',
        '--service',
        'jobs',
      ],
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
    assert.deepEqual(Object.keys(services).sort(), ['auth', 'data', 'jobs']);
    for (const service of ['auth', 'data', 'jobs']) {
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
    const user = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
    const admin = { authorization: `Bearer ${adminKey}` };

    // Auth hands its mail to the jobs service through the gateway (TERN_API_URL), which sends it.
    const requested = await fetch(`${up.url}/v1/auth/verify-email/request`, {
      method: 'POST',
      headers: { authorization: user.authorization },
    });
    assert.equal(requested.status, 202, await requested.clone().text());
    const mail = await waitFor(
      async () => {
        const answer = await fetch(`${up.url}/v1/admin/mail?to=up-user%40example.com`, { headers: admin });
        const { items } = (await answer.json()) as { items: { text: string }[] };
        return items[0];
      },
      { timeoutMs: 30_000, what: 'the verification mail' },
    );
    const code = /^ {2}([A-Za-z0-9_-]{43})$/m.exec(mail.text)?.[1];
    assert.ok(code, mail.text);
    const confirmed = await fetch(`${up.url}/v1/auth/verify-email/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: code }),
    });
    assert.equal(confirmed.status, 200, await confirmed.clone().text());

    const collection = await fetch(`${up.url}/v1/admin/collections/notes`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: { type: 'object' } }),
    });
    assert.equal(collection.status, 201, await collection.clone().text());
    // The data and jobs instances verify the token with keys fetched through the gateway.
    const created = await fetch(`${up.url}/v1/data/notes`, {
      method: 'POST',
      headers: user,
      body: JSON.stringify({ title: 'from tern up' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    // The export job gathers from auth's and data's admin API through the gateway.
    const accepted = await fetch(`${up.url}/v1/jobs`, {
      method: 'POST',
      headers: user,
      body: JSON.stringify({ type: 'account.export', payload: {} }),
    });
    assert.equal(accepted.status, 202, await accepted.clone().text());
    const { statusUrl } = (await accepted.json()) as { statusUrl: string };
    let seen: unknown;
    const done = await waitFor(
      async () => {
        const job = (await (await fetch(`${up.url}${statusUrl}`, { headers: user })).json()) as {
          status: string;
          result: { downloadUrl: string } | null;
        };
        seen = job;
        return ['succeeded', 'failed', 'dead'].includes(job.status) ? job : undefined;
      },
      { timeoutMs: 30_000, what: 'the export' },
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; last seen ${JSON.stringify(seen)}\n${up.stderr.join('').slice(-4000)}`,
      );
    });
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    void seen;
    const file = await fetch(`${up.url}${done.result?.downloadUrl}`, { headers: user });
    assert.equal(file.status, 200);
    const exported = (await file.json()) as {
      user: { email: string; emailVerified: boolean };
      documents: { notes?: { title: string }[] };
      unavailable: string[];
    };
    assert.equal(exported.user.email, 'up-user@example.com');
    assert.equal(exported.user.emailVerified, true);
    assert.deepEqual(
      exported.documents.notes?.map((note) => note.title),
      ['from tern up'],
    );
    assert.deepEqual(exported.unavailable, []);
  });

  it('stops every process gracefully on SIGTERM and exits 0', async () => {
    const code = await up.stop('SIGTERM');
    assert.equal(code, 0, `${up.stderr.join('').slice(-3000)}\n${up.stdout.join('').slice(-3000)}`);
    const refused = await fetch(`${up.url}/healthz`).catch(() => undefined);
    assert.equal(refused, undefined, 'the gateway is gone');
  });
});
