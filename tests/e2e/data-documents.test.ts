import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uniqueName } from '@tern/testing';
import { NOTES_SCHEMA, startDataHost, type CallOptions, type DataHost, type Json } from './data-host';

for (const shape of ['embedded', 'production'] as const) {
  describe(`data documents (${shape})`, () => {
    let host: DataHost;
    let adminKey: string;
    const call = (method: string, path: string, options: CallOptions = {}) =>
      host.call(method, path, options);
    const user = () => host.signup();

    before(async () => {
      host = await startDataHost(shape, { TERN_DATA_UNINDEXED_QUERY_LIMIT: '20' });
      adminKey = host.adminKey;
      const defined = await call('PUT', '/v1/admin/collections/notes', {
        token: adminKey,
        body: { schema: NOTES_SCHEMA, indexes: [{ fields: ['score'] }] },
      });
      assert.equal(defined.status, 201, JSON.stringify(defined.body));
    });
    after(() => host?.close());

    it('creates, reads, patches, replaces and deletes a document, with versions and ETags', async () => {
      const ann = await user();
      const created = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'first', score: 3 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.ownerId, ann.id);
      assert.equal(created.body.version, 1);
      assert.match(created.body.id as string, /^[0-9a-f-]{36}$/);
      assert.equal(created.headers.get('etag'), '"1"');
      const id = created.body.id as string;
      const read = await call('GET', `/v1/data/notes/${id}`, { token: ann.token });
      assert.deepEqual(read.body, created.body);
      const patched = await call('PATCH', `/v1/data/notes/${id}`, {
        token: ann.token,
        body: { score: null, tags: { a: 1 } },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.version, 2);
      assert.equal(patched.body.score, undefined, 'null removes a field (merge patch)');
      const stale = await call('PUT', `/v1/data/notes/${id}`, {
        token: ann.token,
        body: { title: 'x' },
        headers: { 'if-match': '"1"' },
      });
      assert.equal(stale.status, 412);
      assert.equal(stale.body.code, 'data/version-mismatch');
      const replaced = await call('PUT', `/v1/data/notes/${id}`, {
        token: ann.token,
        body: { title: 'second' },
        headers: { 'if-match': '"2"' },
      });
      assert.equal(replaced.status, 200);
      assert.deepEqual(Object.keys(replaced.body).sort(), [
        'createdAt',
        'id',
        'ownerId',
        'title',
        'updatedAt',
        'version',
      ]);
      const invalid = await call('PUT', `/v1/data/notes/${id}`, { token: ann.token, body: { title: 5 } });
      const huge = await call('PATCH', `/v1/data/notes/${id}`, { token: ann.token, raw: '{"score": 1e999}' });
      assert.equal(huge.status, 400, 'a number JSON cannot store is refused, not turned into null');
      assert.equal(huge.body.code, 'data/invalid-document');
      assert.equal(invalid.body.code, 'data/invalid-document');
      const system = await call('PATCH', `/v1/data/notes/${id}`, {
        token: ann.token,
        body: { ownerId: 'someone-else' },
      });
      assert.equal(system.body.code, 'data/invalid-document', 'system fields cannot be written');
      const deleted = await call('DELETE', `/v1/data/notes/${id}`, { token: ann.token });
      assert.equal(deleted.status, 200);
      assert.equal((await call('GET', `/v1/data/notes/${id}`, { token: ann.token })).status, 404);
    });

    it('serves repeated reads by id from the cache, and never a stale copy of the caller’s own write', async () => {
      const ann = await user();
      const hits = async () => {
        const text = await (await fetch(`${host.url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith('tern_cache_hits_total{'));
        return Number(line?.split(' ').pop() ?? 0);
      };
      const created = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'cached', score: 7 },
      });
      const id = created.body.id as string;
      await call('GET', `/v1/data/notes/${id}`, { token: ann.token });
      const before = await hits();
      for (let i = 0; i < 3; i++)
        assert.equal((await call('GET', `/v1/data/notes/${id}`, { token: ann.token })).status, 200);
      assert.ok((await hits()) - before >= 3, 'the reads were cache hits');
      await call('PATCH', `/v1/data/notes/${id}`, { token: ann.token, body: { title: 'changed' } });
      const read = await call('GET', `/v1/data/notes/${id}`, { token: ann.token });
      assert.equal(read.body.title, 'changed');
      assert.equal(read.body.version, 2);
      const other = await user();
      assert.equal(
        (await call('GET', `/v1/data/notes/${id}`, { token: other.token })).status,
        404,
        'the cache does not bypass the rules',
      );
    });

    it('feeds each user the creates, updates and deletes they may see, in order, resumable from a cursor', async () => {
      const [ann, bob] = [await user(), await user()];
      const start = await call('GET', '/v1/data/notes/changes', { token: ann.token });
      assert.equal(start.status, 200, JSON.stringify(start.body));
      const cursor0 = start.body.cursor as string;
      const feed = async (token: string, since: string) => {
        const items: Json[] = [];
        let cursor = since;
        for (;;) {
          const page = await call('GET', `/v1/data/notes/changes?since=${cursor}&limit=3`, { token });
          assert.equal(page.status, 200, JSON.stringify(page.body));
          items.push(...(page.body.items as Json[]));
          cursor = page.body.cursor as string;
          if (!page.body.hasMore) return { items, cursor };
        }
      };
      const a = (await call('POST', '/v1/data/notes', { token: ann.token, body: { title: 'a' } })).body
        .id as string;
      const b = (await call('POST', '/v1/data/notes', { token: ann.token, body: { title: 'b' } })).body
        .id as string;
      await call('POST', '/v1/data/notes', { token: bob.token, body: { title: 'bob' } });
      await call('PATCH', `/v1/data/notes/${a}`, { token: ann.token, body: { title: 'a2' } });
      await call('DELETE', `/v1/data/notes/${b}`, { token: ann.token });
      const first = await feed(ann.token, cursor0);
      assert.deepEqual(
        first.items.map((item) => [item.op, item.id, item.version]),
        [
          ['create', a, 1],
          ['create', b, 1],
          ['update', a, 2],
          ['delete', b, 1],
        ],
      );
      assert.equal(first.items[2]?.document.title, 'a2');
      assert.equal(first.items[3]?.document, null, 'a delete is a tombstone');
      const bobs = await feed(bob.token, cursor0);
      assert.deepEqual(
        bobs.items.map((item) => item.document?.title),
        ['bob'],
      );
      const c = (await call('POST', '/v1/data/notes', { token: ann.token, body: { title: 'c' } })).body
        .id as string;
      const resumed = await feed(ann.token, first.cursor);
      assert.deepEqual(
        resumed.items.map((item) => item.id),
        [c],
        'only what came after the cursor',
      );
    });

    it('misses no change while writers run concurrently with a reader following the feed', async () => {
      const ann = await user();
      let cursor = (await call('GET', '/v1/data/notes/changes', { token: ann.token })).body.cursor as string;
      const seen = new Set<string>();
      let writing = true;
      const reader = (async () => {
        while (writing || cursor) {
          // Only a read sent after the last write answered may end the loop; one sent before may miss it.
          const last = !writing;
          const page = await call('GET', `/v1/data/notes/changes?since=${cursor}&limit=50`, {
            token: ann.token,
          });
          for (const item of page.body.items as Json[]) seen.add(item.id as string);
          cursor = page.body.cursor as string;
          if (last && !page.body.hasMore) break;
        }
      })();
      const created = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const ids: string[] = [];
          for (let i = 0; i < 15; i++) {
            ids.push(
              (await call('POST', '/v1/data/notes', { token: ann.token, body: { title: `w${i}` } })).body
                .id as string,
            );
          }
          return ids;
        }),
      );
      writing = false;
      await reader;
      const all = created.flat();
      assert.deepEqual(
        all.filter((id) => !seen.has(id)),
        [],
        'every created document appeared in the feed',
      );
    });

    it("never lets a user read, list, change or delete another user's owner-only document", async () => {
      const [ann, bob] = [await user(), await user()];
      const mine = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'ann only', score: 1 },
      });
      const id = mine.body.id as string;
      assert.equal((await call('GET', `/v1/data/notes/${id}`, { token: bob.token })).status, 404);
      assert.equal(
        (await call('PATCH', `/v1/data/notes/${id}`, { token: bob.token, body: { title: 'mine now' } }))
          .status,
        404,
      );
      assert.equal((await call('DELETE', `/v1/data/notes/${id}`, { token: bob.token })).status, 404);
      const listed = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"score":{"eq":1}}')}&orderBy=score`,
        {
          token: bob.token,
        },
      );
      assert.equal(listed.status, 200);
      assert.ok(listed.body.items.every((item: Json) => item.ownerId === bob.id));
      const forged = await call('POST', '/v1/data/notes', {
        token: bob.token,
        body: { title: 'x', ownerId: ann.id },
      });
      assert.equal(forged.status, 403);
      assert.equal((await call('GET', `/v1/data/notes/${id}`, { token: ann.token })).body.title, 'ann only');
      assert.equal((await call('GET', '/v1/data/notes')).status, 401, 'signed-out callers are refused');
    });

    it('pages through a sorted query with a cursor, seeing only the caller’s documents', async () => {
      const ann = await user();
      const other = await user();
      for (let score = 0; score < 12; score++) {
        await call('POST', '/v1/data/notes', { token: ann.token, body: { title: `n${score}`, score } });
        await call('POST', '/v1/data/notes', { token: other.token, body: { title: `o${score}`, score } });
      }
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `orderBy=-score&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await call('GET', `/v1/data/notes?${query}`, { token: ann.token });
        assert.equal(page.status, 200, JSON.stringify(page.body));
        seen.push(...page.body.items.map((item: Json) => item.score as number));
        cursor = page.body.nextCursor as string | null;
      } while (cursor);
      assert.deepEqual(seen, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      const bad = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"x; DROP TABLE notes":{"eq":1}}')}`,
        { token: ann.token },
      );
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'data/invalid-query');
    });

    it('refuses a query no index serves on a large collection, naming the index that would', async () => {
      const ann = await user();
      for (let i = 0; i < 21; i++)
        await call('POST', '/v1/data/notes', { token: ann.token, body: { title: `bulk${i}`, score: i } });
      const unindexed = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"title":{"eq":"bulk3"}}')}`,
        { token: ann.token },
      );
      assert.equal(unindexed.status, 400);
      assert.equal(unindexed.body.code, 'data/unindexed-query');
      assert.deepEqual(unindexed.body.suggestedIndex ?? unindexed.body.details?.suggestedIndex, {
        fields: ['title', 'createdAt'],
      });
      const indexed = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"score":{"eq":3}}')}&orderBy=score`,
        { token: ann.token },
      );
      assert.equal(indexed.status, 200, JSON.stringify(indexed.body));
      assert.equal(
        (await call('GET', '/v1/data/notes', { token: ann.token })).status,
        200,
        'the default order is served',
      );
      const added = await call('PUT', '/v1/admin/collections/notes', {
        token: adminKey,
        body: {
          schema: NOTES_SCHEMA,
          indexes: [{ fields: ['score'] }, { fields: ['title', 'createdAt'] }],
        },
      });
      assert.equal(added.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 2_100)); // definitions reach instances within 2 s
      const now = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent('{"title":{"eq":"bulk3"}}')}`,
        { token: ann.token },
      );
      assert.equal(now.status, 200, JSON.stringify(now.body));
      assert.equal(now.body.items.length, 1);
    });

    it('refuses a unique index over existing duplicates with 409, leaving the collection as it was', async () => {
      const ann = await user();
      const schema = { type: 'object', properties: { code: { type: 'string' } } };
      assert.equal(
        (await call('PUT', '/v1/admin/collections/codes', { token: adminKey, body: { schema } })).status,
        201,
      );
      for (let i = 0; i < 2; i++)
        await call('POST', '/v1/data/codes', { token: ann.token, body: { code: 'same' } });
      const refused = await call('PUT', '/v1/admin/collections/codes', {
        token: adminKey,
        body: { schema, indexes: [{ fields: ['code'], unique: true }] },
      });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'data/duplicate-values');
      const definition = await call('GET', '/v1/admin/collections/codes', { token: adminKey });
      assert.deepEqual(definition.body.indexes, []);
      assert.equal(
        (await call('POST', '/v1/data/codes', { token: ann.token, body: { code: 'same' } })).status,
        201,
      );
    });

    it('refuses an index over values too large to index with 409, every time, leaving no index behind', async () => {
      const ann = await user();
      const schema = { type: 'object', properties: { blob: { type: 'string' } } };
      const define = (indexes: unknown[] = []) =>
        call('PUT', '/v1/admin/collections/blobs', { token: adminKey, body: { schema, indexes } });
      assert.equal((await define()).status, 201);
      // Random, so PostgreSQL cannot compress it under the B-tree entry limit (about 2.7 KB).
      const blob = Array.from({ length: 6_000 }, () =>
        String.fromCharCode(33 + Math.floor(Math.random() * 90)),
      ).join('');
      assert.equal((await call('POST', '/v1/data/blobs', { token: ann.token, body: { blob } })).status, 201);
      for (let attempt = 0; attempt < 2; attempt++) {
        const refused = await define([{ fields: ['blob'] }]);
        if (shape === 'embedded') {
          // SQLite has no entry limit: the index is built.
          assert.equal(refused.status, 200, refused.text);
          return;
        }
        assert.equal(refused.status, 409, `attempt ${attempt}: ${refused.text}`);
        assert.equal(refused.body.code, 'data/unindexable-values');
      }
      const definition = await call('GET', '/v1/admin/collections/blobs', { token: adminKey });
      assert.deepEqual(definition.body.indexes, []);
    });

    it('replays a write retried with the same Idempotency-Key, and refuses the key with another body', async () => {
      const ann = await user();
      const headers = { 'idempotency-key': uniqueName('idem') };
      const first = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'once' },
        headers,
      });
      const again = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'once' },
        headers,
      });
      assert.equal(first.status, 201);
      assert.equal(again.status, 201);
      assert.equal(again.body.id, first.body.id);
      const other = await call('POST', '/v1/data/notes', {
        token: ann.token,
        body: { title: 'twice' },
        headers,
      });
      assert.equal(other.status, 422);
      const listed = await call(
        'GET',
        `/v1/data/notes?where=${encodeURIComponent(JSON.stringify({ ownerId: { eq: ann.id } }))}`,
        { token: ann.token },
      );
      assert.equal(listed.body.items.length, 1, 'one document, not two');
    });

    it('forgets a dropped collection entirely: no cached document and no change survives into its successor', async () => {
      const ann = await user();
      const define = () =>
        call('PUT', '/v1/admin/collections/scratch', { token: adminKey, body: { schema: NOTES_SCHEMA } });
      assert.equal((await define()).status, 201);
      const created = await call('POST', '/v1/data/scratch', {
        token: ann.token,
        body: { id: 'kept-id', title: 'old' },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal((await call('GET', '/v1/data/scratch/kept-id', { token: ann.token })).body.title, 'old');
      const head = (await call('GET', '/v1/data/scratch/changes', { token: ann.token })).body
        .cursor as string;
      const feedStart = '0';

      assert.equal((await call('DELETE', '/v1/admin/collections/scratch', { token: adminKey })).status, 200);
      assert.equal((await define()).status, 201);
      // The old document is gone, though a copy of it was cached a moment ago.
      const stale = await call('GET', '/v1/data/scratch/kept-id', { token: ann.token });
      assert.equal(stale.status, 404, stale.text);
      // Cursors into the old feed must resync; the new collection's feed starts clean.
      for (const since of [head, feedStart]) {
        const old = await call('GET', `/v1/data/scratch/changes?since=${since}`, { token: ann.token });
        assert.equal(old.status, 410, `since=${since}: ${old.text}`);
        assert.equal(old.body.code, 'data/cursor-expired');
      }
      const fresh = (await call('GET', '/v1/data/scratch/changes', { token: ann.token })).body
        .cursor as string;
      const again = await call('POST', '/v1/data/scratch', {
        token: ann.token,
        body: { id: 'kept-id', title: 'new' },
      });
      assert.equal(again.status, 201, again.text);
      assert.equal((await call('GET', '/v1/data/scratch/kept-id', { token: ann.token })).body.title, 'new');
      const feed = await call('GET', `/v1/data/scratch/changes?since=${fresh}`, { token: ann.token });
      assert.deepEqual(
        feed.body.items.map((item: Json) => [item.op, item.id, item.document?.title]),
        [['create', 'kept-id', 'new']],
      );
    });

    it('refuses bad collection definitions and unknown collections with problem codes', async () => {
      const ann = await user();
      const bad = await call('PUT', '/v1/admin/collections/broken', {
        token: adminKey,
        body: { schema: { type: 'object' }, rules: { read: 'process.exit()' } },
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'data/invalid-rule');
      assert.equal(
        (await call('PUT', '/v1/admin/collections/x', { token: ann.token, body: {} })).status,
        403,
      );
      const missing = await call('GET', '/v1/data/nope', { token: ann.token });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.code, 'data/collection-not-found');
      const listed = await call('GET', '/v1/admin/collections', { token: adminKey });
      assert.ok(listed.body.items.some((item: Json) => item.name === 'notes'));
    });
  });
}
