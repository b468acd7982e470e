import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  deleteRedisKeys,
  startPostgresCluster,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
  type PostgresCluster,
} from '@tern/testing';
import { NOTES_SCHEMA, startDataHost, type DataHost } from './data-host';

/**
 * The data service on a PostgreSQL primary with a real streaming replica (initdb, pg_basebackup,
 * standby; started here on free ports) and Redis for the cache: reads go to the replica, a write's Tern-Consistency token
 * makes the next read see it, and a replica stopped under traffic fails no request.
 */
void describe('data service with a read replica', { timeout: 180_000 }, () => {
  let cluster: PostgresCluster;
  let host: DataHost;
  /** A second instance on the same primary, replica and Redis. */
  let other: DataHost;
  let user: { id: string; token: string };
  const redisPrefix = `${uniqueName('replica')}:`;

  before(async () => {
    cluster = await startPostgresCluster();
    const env = {
      DATABASE_URL: cluster.primary.url,
      DATABASE_REPLICA_URLS: cluster.standby.url,
      TERN_DB_REPLICA_MAX_LAG_MS: '5000',
      // The whole services shape: the by-id cache in Redis with its L1.
      REDIS_URL: TEST_REDIS_URL,
      TERN_REDIS_KEY_PREFIX: redisPrefix,
    };
    host = await startDataHost('embedded', env);
    other = await startDataHost('embedded', env);
    const created = await host.call('PUT', '/v1/admin/collections/notes', {
      token: host.adminKey,
      body: { schema: NOTES_SCHEMA, indexes: [{ fields: ['score'] }] },
    });
    assert.equal(created.status, 201, created.text);
    user = await host.signup();
  });
  after(async () => {
    await host?.close();
    await other?.close();
    await cluster?.destroy();
    await deleteRedisKeys(redisPrefix);
  });

  async function replicaReads(): Promise<number> {
    const text = await (await fetch(`${host.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('tern_db_reads_total{target="replica"'));
    return Number(line?.split(' ').at(-1) ?? 0);
  }

  async function create(score: number) {
    const answer = await host.call('POST', '/v1/data/notes', {
      token: user.token,
      body: { title: `note ${score}`, score },
    });
    assert.equal(answer.status, 201, answer.text);
    const token = answer.headers.get('tern-consistency');
    assert.match(token ?? '', /^[0-9A-F]+\/[0-9A-F]+$/, 'a write answers with its consistency token');
    return { id: answer.body.id as string, token: token! };
  }

  it('serves list queries from the replica', async () => {
    await create(1);
    const before = await replicaReads();
    await waitFor(
      async () => {
        const answer = await host.call('GET', '/v1/data/notes?orderBy=-createdAt', { token: user.token });
        assert.equal(answer.status, 200, answer.text);
        return (await replicaReads()) > before;
      },
      { what: 'a list served by the replica', intervalMs: 100 },
    );
  });

  it('reads its own writes with the token: by id, in lists and in the change feed', async () => {
    const feed = await host.call('GET', '/v1/data/notes/changes', { token: user.token });
    let cursor = feed.body.cursor as string;
    for (let i = 0; i < 40; i++) {
      const { id, token } = await create(1000 + i);
      const headers = { 'tern-consistency': token };
      const byId = await host.call('GET', `/v1/data/notes/${id}`, { token: user.token, headers });
      assert.equal(byId.status, 200, byId.text);
      const list = await host.call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"score":{"eq":' + (1000 + i) + '}}')}`,
        {
          token: user.token,
          headers,
        },
      );
      assert.deepEqual(
        list.body.items.map((doc: { id: string }) => doc.id),
        [id],
      );
      const changes = await host.call('GET', `/v1/data/notes/changes?since=${cursor}`, {
        token: user.token,
        headers,
      });
      assert.equal(changes.status, 200, changes.text);
      assert.ok(
        changes.body.items.some((item: { id: string }) => item.id === id),
        'the change feed holds the write',
      );
      cursor = changes.body.cursor as string;
    }
    // A retried create (same Idempotency-Key) replays the answer, with a token covering the write.
    const retry = {
      token: user.token,
      body: { title: 'once', score: 9 },
      headers: { 'idempotency-key': 'k-1' },
    };
    const first = await host.call('POST', '/v1/data/notes', retry);
    const replayed = await host.call('POST', '/v1/data/notes', retry);
    assert.equal(replayed.body.id, first.body.id);
    const replayToken = replayed.headers.get('tern-consistency') ?? '';
    assert.match(replayToken, /^[0-9A-F]+\/[0-9A-F]+$/);
    const seen = await host.call('GET', `/v1/data/notes/${first.body.id as string}`, {
      token: user.token,
      headers: { 'tern-consistency': replayToken },
    });
    assert.equal(seen.status, 200);
    // An update answers with a token too, and the read with it sees the new version.
    const { id } = await create(5000);
    const patched = await host.call('PATCH', `/v1/data/notes/${id}`, {
      token: user.token,
      body: { title: 'changed' },
    });
    const token = patched.headers.get('tern-consistency') ?? '';
    const read = await host.call('GET', `/v1/data/notes/${id}`, {
      token: user.token,
      headers: { 'tern-consistency': token },
    });
    assert.equal(read.body.title, 'changed');
  });

  it('refuses a consistency token it did not issue with 400 problem+json', async () => {
    for (const bad of ['yesterday', '0/XYZ', '1/2/3', "0/1' OR 1=1", '']) {
      const answer = await host.call('GET', '/v1/data/notes', {
        token: user.token,
        headers: { 'tern-consistency': bad },
      });
      if (bad === '') continue; // an empty header is no header
      assert.equal(answer.status, 400, `${bad}: ${answer.text}`);
      assert.match(answer.contentType, /application\/problem\+json/);
      assert.equal(answer.body.code, 'data/invalid-consistency-token');
    }
  });

  it('never fills the shared cache from a lagging replica: the writer reads its own write', async () => {
    const { id } = await create(8);
    const read = (on: DataHost) => on.call('GET', `/v1/data/notes/${id}`, { token: user.token });
    await waitFor(async () => (await read(other)).status === 200 || undefined, { what: 'the document on B' });
    const standby = new pg.Client({ connectionString: cluster.standby.url });
    await standby.connect();
    try {
      // The replica stays in rotation (under the 5 s threshold) but does not have the change.
      await standby.query('SELECT pg_wal_replay_pause()');
      const patched = await host.call('PATCH', `/v1/data/notes/${id}`, {
        token: user.token,
        body: { title: 'changed' },
      });
      assert.equal(patched.status, 200, patched.text);
      await sleep(1_300); // past the writer's second drop of the key
      assert.equal((await read(other)).body.title, 'changed', 'a cache miss on B reads the primary');
      assert.equal((await read(host)).body.title, 'changed', 'the writer reads its own write');
    } finally {
      await standby.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await standby.end();
    }
  });

  it('fails no request while the replica is stopped and started again', async () => {
    const { id } = await create(7);
    const failures: string[] = [];
    let requests = 0;
    let running = true;
    const clients = Array.from({ length: 4 }, async (_, n) => {
      while (running) {
        const answer =
          n % 2 === 0
            ? await host.call('GET', '/v1/data/notes?orderBy=-createdAt&limit=5', { token: user.token })
            : await host.call('GET', `/v1/data/notes/${id}`, { token: user.token });
        requests++;
        if (answer.status !== 200) failures.push(`${answer.status} ${answer.text.slice(0, 200)}`);
      }
    });
    await sleep(300);
    await cluster.standby.stop('immediate');
    await sleep(1500);
    await cluster.standby.start();
    const before = await replicaReads();
    await waitFor(async () => (await replicaReads()) > before, {
      timeoutMs: 20_000,
      what: 'reads on the restarted replica',
    });
    running = false;
    await Promise.all(clients);
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(requests > 50, `only ${requests} requests ran`);
  });
});
