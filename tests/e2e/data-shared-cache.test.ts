import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  quietTelemetry,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@tern/testing';
import { Redis } from 'ioredis';
import { createQueue } from '@tern/queue';
import { NOTES_SCHEMA, startDataHost, type DataHost } from './data-host';

/**
 * Two data-service instances on one PostgreSQL database, one Redis and one NATS stream (the
 * services shape): the by-id cache is Redis with an L1 in each process. A write on one instance
 * is never read stale on the other once the write answered and the reader sends its token, and
 * without the token within moments (the L1 drops the key when Redis announces the delete).
 */
void describe('the document cache shared by two instances', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  const stream = uniqueName('DATA').toUpperCase();
  const redisPrefix = `${uniqueName('datacache')}:`;
  let a: DataHost;
  let b: DataHost;
  let user: { id: string; token: string };

  before(async () => {
    database = await createTestDatabase();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      TERN_REDIS_KEY_PREFIX: redisPrefix,
      NATS_URL: TEST_NATS_URL,
      TERN_NATS_STREAM: stream,
    };
    a = await startDataHost('embedded', env);
    b = await startDataHost('embedded', env);
    const created = await a.call('PUT', '/v1/admin/collections/notes', {
      token: a.adminKey,
      body: { schema: NOTES_SCHEMA },
    });
    assert.equal(created.status, 201, created.text);
    user = await a.signup();
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    await deleteRedisKeys(redisPrefix);
    await deleteNatsStreams(stream);
  });

  async function metric(host: DataHost, name: string): Promise<number> {
    const text = await (await fetch(`${host.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(name))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  it('serves hot reads from the L1, and never a stale copy after a write on the other instance', async () => {
    const created = await a.call('POST', '/v1/data/notes', { token: user.token, body: { title: 'v0' } });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    const read = (host: DataHost, headers: Record<string, string> = {}) =>
      host.call('GET', `/v1/data/notes/${id}`, { token: user.token, headers });

    const hitsBefore = await metric(b, 'tern_cache_l1_hits_total');
    for (let i = 0; i < 5; i++) assert.equal((await read(b)).body.title, 'v0');
    assert.ok((await metric(b, 'tern_cache_l1_hits_total')) >= hitsBefore + 3, 'B answers from its L1');

    for (let round = 1; round <= 20; round++) {
      const patched = await a.call('PATCH', `/v1/data/notes/${id}`, {
        token: user.token,
        body: { title: `v${round}` },
      });
      assert.equal(patched.status, 200, patched.text);
      const token = patched.headers.get('tern-consistency') ?? '';
      // With the token: this very read sees the write, on either instance.
      const withToken = await read(b, token ? { 'tern-consistency': token } : {});
      assert.equal(withToken.body.title, `v${round}`, `round ${round}, with the token`);
      // Without it: B's L1 lets go within moments.
      await waitFor(async () => ((await read(b)).body.title === `v${round}` ? true : undefined), {
        timeoutMs: 2_000,
        intervalMs: 5,
        what: `B to drop v${round - 1}`,
      });
      // And the cache is warm again for the next reads.
      assert.equal((await read(b)).body.title, `v${round}`);
    }
  });

  it('drops a cached copy when the change event arrives, even one the writer never deleted', async () => {
    const created = await a.call('POST', '/v1/data/notes', { token: user.token, body: { title: 'fresh' } });
    const id = created.body.id as string;
    const stale = { ...created.body, title: 'stale' };
    // A stale copy in Redis, as a load racing a write on a third instance could leave behind.
    const redis = new Redis(TEST_REDIS_URL);
    const queue = await createQueue({ kind: 'nats', url: TEST_NATS_URL, stream }, quietTelemetry());
    try {
      // A read caches it; its key carries the collection's incarnation.
      assert.equal((await b.call('GET', `/v1/data/notes/${id}`, { token: user.token })).body.title, 'fresh');
      const [key] = await redis.keys(`${redisPrefix}cache:data:doc:notes:*:${id}`);
      assert.ok(key, 'the document is cached in Redis');
      await redis.set(key, JSON.stringify(stale), 'PX', 60_000);
      assert.equal((await b.call('GET', `/v1/data/notes/${id}`, { token: user.token })).body.title, 'stale');
      // The event every write emits through the outbox; one of the two instances consumes it.
      await queue.publish('data.notes.changed', { op: 'update', collection: 'notes', id, version: 1 });
      await waitFor(async () => ((await redis.exists(key)) === 0 ? true : undefined), {
        timeoutMs: 10_000,
        what: 'the change event to delete the cached copy',
      });
      const read = await b.call('GET', `/v1/data/notes/${id}`, { token: user.token });
      assert.equal(read.body.title, 'fresh');
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
  it('answers 404, not 500, on an instance that has not yet seen a collection dropped on another', async () => {
    const defined = await a.call('PUT', '/v1/admin/collections/ephemeral', {
      token: a.adminKey,
      body: { schema: NOTES_SCHEMA },
    });
    assert.equal(defined.status, 201, defined.text);
    const created = await b.call('POST', '/v1/data/ephemeral', { token: user.token, body: { title: 'x' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(
      (await a.call('DELETE', '/v1/admin/collections/ephemeral', { token: a.adminKey })).status,
      200,
    );
    // B's registry still holds the definition for up to 2 s; its statements find no table.
    const answers = [
      await b.call('POST', '/v1/data/ephemeral', { token: user.token, body: { title: 'y' } }),
      await b.call('GET', `/v1/data/ephemeral/${created.body.id as string}`, { token: user.token }),
      await b.call('GET', '/v1/data/ephemeral?orderBy=-createdAt', { token: user.token }),
      await b.call('PATCH', `/v1/data/ephemeral/${created.body.id as string}`, {
        token: user.token,
        body: { title: 'z' },
      }),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 404, answer.text);
      assert.equal(answer.body.code, 'data/collection-not-found');
    }
  });
});
