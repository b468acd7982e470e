import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from './cache';

/** A promise the test settles by hand, to hold a load open at a chosen point. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * A loader that reads `source.value` when called, then waits for `release` before returning it:
 * a database read whose result is in flight while the test changes the row and the cache.
 */
function heldLoader(source: { value: string }) {
  const started = deferred();
  const release = deferred();
  let calls = 0;
  return {
    started: started.promise,
    release: release.resolve,
    get calls() {
      return calls;
    },
    async load(): Promise<string> {
      calls += 1;
      const value = source.value;
      started.resolve();
      await release.promise;
      return value;
    },
  };
}

export interface OpenedCache {
  cache: Cache;
  cleanup(): Promise<void>;
}

/** The behaviour every Cache implementation must show; each case gets a fresh cache. */
export function runCacheContract(name: string, open: () => Promise<OpenedCache>): Promise<void> {
  return test(`${name} satisfies the cache contract`, async (t) => {
    const withCache = (fn: (cache: Cache) => Promise<void>) => async () => {
      const opened = await open();
      try {
        await fn(opened.cache);
      } finally {
        await opened.cleanup();
      }
    };

    await t.test(
      'get of a missing key resolves undefined',
      withCache(async (cache) => {
        assert.equal(await cache.get('absent'), undefined);
      }),
    );

    await t.test(
      'round-trips objects, arrays, strings, numbers, booleans and null',
      withCache(async (cache) => {
        const values: Record<string, unknown> = {
          object: { id: 7, name: 'Ada', tags: ['a', 'b'], nested: { ok: true, none: null } },
          array: [1, 'two', { three: 3 }, [4]],
          string: 'hello, wörld',
          emptyString: '',
          number: 42.5,
          zero: 0,
          negative: -1,
          true: true,
          false: false,
          null: null,
        };
        for (const [key, value] of Object.entries(values)) await cache.set(key, value, 10_000);
        for (const [key, value] of Object.entries(values)) assert.deepEqual(await cache.get(key), value, key);
      }),
    );

    await t.test(
      'a cached null is distinguishable from a miss',
      withCache(async (cache) => {
        await cache.set('nothing', null, 10_000);
        assert.equal(await cache.get('nothing'), null);
        assert.equal(await cache.get('never-set'), undefined);
        let loads = 0;
        const loaded = await cache.getOrLoad('nothing', 10_000, async () => {
          loads += 1;
          return 'loaded';
        });
        assert.equal(loaded, null);
        assert.equal(loads, 0);
      }),
    );

    await t.test(
      'values follow JSON semantics and non-JSON values are rejected',
      withCache(async (cache) => {
        await cache.set('date', { at: new Date('2024-01-02T03:04:05.000Z'), gone: undefined }, 10_000);
        assert.deepEqual(await cache.get('date'), { at: '2024-01-02T03:04:05.000Z' });
        await assert.rejects(cache.set('undefined', undefined, 10_000), TypeError);
        await assert.rejects(cache.set('bigint', 1n, 10_000), TypeError);
        await assert.rejects(cache.set('bad-ttl', 1, 0), RangeError);
      }),
    );

    await t.test(
      'an entry expires after its ttl',
      withCache(async (cache) => {
        await cache.set('short', 'lived', 150);
        await cache.set('long', 'lived', 10_000);
        assert.equal(await cache.get('short'), 'lived');
        await sleep(300);
        assert.equal(await cache.get('short'), undefined);
        assert.equal(await cache.get('long'), 'lived');
      }),
    );

    await t.test(
      'delete removes an entry, and deleting a missing key succeeds',
      withCache(async (cache) => {
        await cache.set('doomed', { a: 1 }, 10_000);
        await cache.delete('doomed');
        assert.equal(await cache.get('doomed'), undefined);
        await cache.delete('doomed');
      }),
    );

    await t.test(
      'set overwrites the value and its ttl',
      withCache(async (cache) => {
        await cache.set('key', 'first', 150);
        await cache.set('key', { second: true }, 10_000);
        assert.deepEqual(await cache.get('key'), { second: true });
        await sleep(300);
        assert.deepEqual(await cache.get('key'), { second: true });
      }),
    );

    await t.test(
      'mutating a stored or returned object does not change the cached value',
      withCache(async (cache) => {
        const original = { count: 1, items: ['a'] };
        await cache.set('shared', original, 10_000);
        original.count = 99;
        original.items.push('mutated');
        const first = await cache.get<{ count: number; items: string[] }>('shared');
        assert.ok(first);
        first.count = 100;
        first.items.push('mutated');
        assert.deepEqual(await cache.get('shared'), { count: 1, items: ['a'] });

        const loaded = await cache.getOrLoad('loaded', 10_000, async () => ({ list: [1] }));
        loaded.list.push(2);
        assert.deepEqual(await cache.get('loaded'), { list: [1] });
      }),
    );

    await t.test(
      'getOrLoad calls load once for 20 concurrent callers and caches the result',
      withCache(async (cache) => {
        let loads = 0;
        const load = async () => {
          loads += 1;
          await sleep(50);
          return { user: 'ada', loads };
        };
        const results = await Promise.all(
          Array.from({ length: 20 }, () => cache.getOrLoad('user:1', 10_000, load)),
        );
        assert.equal(loads, 1);
        for (const result of results) assert.deepEqual(result, { user: 'ada', loads: 1 });
        assert.deepEqual(await cache.get('user:1'), { user: 'ada', loads: 1 });
        assert.deepEqual(await cache.getOrLoad('user:1', 10_000, load), { user: 'ada', loads: 1 });
        assert.equal(loads, 1);
      }),
    );

    await t.test(
      'getOrLoad rejects every waiter when load fails, and does not cache the failure',
      withCache(async (cache) => {
        let loads = 0;
        const failure = new Error('source unavailable');
        const failing = async (): Promise<string> => {
          loads += 1;
          await sleep(20);
          throw failure;
        };
        const outcomes = await Promise.allSettled(
          Array.from({ length: 5 }, () => cache.getOrLoad('flaky', 10_000, failing)),
        );
        assert.equal(loads, 1);
        for (const outcome of outcomes) assert.deepEqual(outcome, { status: 'rejected', reason: failure });
        assert.equal(await cache.get('flaky'), undefined);
        assert.equal(await cache.getOrLoad('flaky', 10_000, async () => 'recovered'), 'recovered');
        assert.equal(await cache.get('flaky'), 'recovered');
      }),
    );

    await t.test(
      'getOrLoad returns but does not cache a load that resolves undefined',
      withCache(async (cache) => {
        assert.equal(await cache.getOrLoad('maybe', 10_000, async () => undefined), undefined);
        assert.equal(await cache.get('maybe'), undefined);
        assert.equal(await cache.getOrLoad('maybe', 10_000, async () => 'now'), 'now');
      }),
    );

    await t.test(
      'a delete during an in-flight getOrLoad keeps the stale value out of the cache',
      withCache(async (cache) => {
        const row = { value: 'v1' };
        const stale = heldLoader(row);
        const reader = cache.getOrLoad('row', 10_000, () => stale.load());
        await stale.started;
        row.value = 'v2';
        await cache.delete('row');
        stale.release();
        // The load's own waiters still get what it read; only the cache write is dropped.
        assert.equal(await reader, 'v1');
        assert.equal(await cache.get('row'), undefined);
        let loads = 0;
        const fresh = await cache.getOrLoad('row', 10_000, async () => {
          loads += 1;
          return row.value;
        });
        assert.equal(fresh, 'v2');
        assert.equal(loads, 1);
        assert.equal(await cache.get('row'), 'v2');
      }),
    );

    await t.test(
      'a getOrLoad started after a delete does not join the old load, and the old load cannot overwrite it',
      withCache(async (cache) => {
        const row = { value: 'v1' };
        const stale = heldLoader(row);
        const reader = cache.getOrLoad('row', 10_000, () => stale.load());
        await stale.started;
        row.value = 'v2';
        await cache.delete('row');

        const current = heldLoader(row);
        const after = cache.getOrLoad('row', 10_000, () => current.load());
        await current.started;
        // The old load finishing must not unregister the new one: a third caller still joins it.
        stale.release();
        assert.equal(await reader, 'v1');
        const joined = cache.getOrLoad('row', 10_000, () => current.load());
        current.release();
        assert.equal(await after, 'v2');
        assert.equal(await joined, 'v2');
        assert.equal(stale.calls, 1);
        assert.equal(current.calls, 1);
        assert.equal(await cache.get('row'), 'v2');
      }),
    );

    await t.test(
      'a set during an in-flight getOrLoad is not overwritten by the older load',
      withCache(async (cache) => {
        const row = { value: 'v1' };
        const stale = heldLoader(row);
        const reader = cache.getOrLoad('row', 10_000, () => stale.load());
        await stale.started;
        row.value = 'v2';
        await cache.set('row', 'v2', 10_000);
        // A caller arriving after the set reads the cache instead of joining the stale load.
        assert.equal(await cache.getOrLoad('row', 10_000, async () => 'not called'), 'v2');
        stale.release();
        assert.equal(await reader, 'v1');
        assert.equal(await cache.get('row'), 'v2');
      }),
    );

    await t.test(
      'getOrLoad keeps a null for nullTtlMs, and not at all if the key was deleted during the load',
      withCache(async (cache) => {
        assert.equal(await cache.getOrLoad('absent', 60_000, async () => null, { nullTtlMs: 80 }), null);
        assert.equal(await cache.get('absent'), null);
        await sleep(200);
        assert.equal(await cache.get('absent'), undefined, 'the null expired after nullTtlMs');

        // A miss read just before a create committed: the create's delete keeps it out of the cache.
        const source = { value: 'missing' };
        const held = heldLoader(source);
        const miss = cache.getOrLoad(
          'row',
          60_000,
          async () => ((await held.load()) === 'missing' ? null : 'x'),
          {
            nullTtlMs: 5_000,
          },
        );
        await held.started;
        await cache.delete('row');
        held.release();
        assert.equal(await miss, null);
        assert.equal(await cache.get('row'), undefined);
      }),
    );

    await t.test(
      'keys with unicode, colons, spaces and glob characters are distinct and work',
      withCache(async (cache) => {
        const keys = ['user:42:profile', 'with spaces in it', 'ünïcødé 🚀 ключ', 'glob*?[x]', 'user:42'];
        for (const [index, key] of keys.entries()) await cache.set(key, index, 10_000);
        for (const [index, key] of keys.entries()) assert.equal(await cache.get(key), index, key);
        await cache.delete('user:42');
        assert.equal(await cache.get('user:42:profile'), 0);
      }),
    );

    await t.test(
      'ping resolves, and operations after close reject',
      withCache(async (cache) => {
        await cache.ping();
        await cache.close();
        await assert.rejects(cache.get('anything'));
        await cache.close();
      }),
    );
  });
}
