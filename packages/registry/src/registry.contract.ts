import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@tern/testing';
import type { RegistryEntry, ServiceRegistry } from './registry';

export interface OpenedRegistry {
  /** Two handles on one registry, as two processes would have (the memory one: the same object). */
  first: ServiceRegistry;
  second: ServiceRegistry;
  cleanup(): Promise<void>;
}

const entry = (service: string, n: number, version = 'v1'): RegistryEntry => ({
  service,
  version,
  origin: `http://10.0.0.${n}:8080`,
  instanceId: `${service}-${n}`,
});

/** The behaviour every ServiceRegistry implementation must show; each case gets a fresh registry. */
export function runRegistryContract(name: string, open: () => Promise<OpenedRegistry>): Promise<void> {
  return test(`${name} satisfies the service registry contract`, async (t) => {
    await t.test('lists what is registered, per service, until it deregisters', async () => {
      const { first, second, cleanup } = await open();
      try {
        const a = await first.register(entry('data', 1));
        await first.register(entry('data', 2, 'v2'));
        await second.register(entry('auth', 3));
        assert.deepEqual(
          (await second.list('data')).map((e) => e.instanceId),
          ['data-1', 'data-2'],
        );
        assert.deepEqual((await first.list('data'))[1], entry('data', 2, 'v2'));
        assert.equal((await first.list()).length, 3);
        await a.deregister();
        assert.deepEqual(
          (await second.list('data')).map((e) => e.instanceId),
          ['data-2'],
        );
      } finally {
        await cleanup();
      }
    });

    await t.test('drops an entry whose heartbeat stopped once its TTL passes', async () => {
      const { first, second, cleanup } = await open();
      try {
        await first.register(entry('data', 1), 300);
        assert.equal((await second.list('data')).length, 1);
        // Still there after several TTLs: the heartbeat renews it.
        await new Promise((resolve) => setTimeout(resolve, 700));
        assert.equal((await second.list('data')).length, 1);
        await first.close();
        await waitFor(async () => (await second.list('data')).length === 0, {
          timeoutMs: 3_000,
          what: 'the entry to expire',
        });
      } finally {
        await cleanup();
      }
    });

    await t.test(
      'tells a watcher of registrations and deregistrations promptly, and of expiries',
      async () => {
        const { first, second, cleanup } = await open();
        try {
          const seen: string[][] = [];
          const stop = await second.watch((entries) => seen.push(entries.map((e) => e.instanceId)), 200);
          assert.deepEqual(seen, [[]]);
          const started = Date.now();
          const registration = await first.register(entry('data', 1));
          await waitFor(() => seen.length === 2, { timeoutMs: 2_000, what: 'the registration' });
          assert.deepEqual(seen[1], ['data-1']);
          await first.register(entry('data', 2), 300);
          await waitFor(() => seen.length === 3, { timeoutMs: 2_000, what: 'the second registration' });
          await registration.deregister();
          await waitFor(() => seen.some((list) => list.length === 1 && list[0] === 'data-2'), {
            timeoutMs: 2_000,
            what: 'the deregistration',
          });
          assert.ok(Date.now() - started < 2_000);
          stop();
          const count = seen.length;
          await first.register(entry('data', 9));
          await new Promise((resolve) => setTimeout(resolve, 400));
          assert.equal(seen.length, count, 'a stopped watcher hears nothing more');
        } finally {
          await cleanup();
        }
      },
    );

    await t.test(
      'tells a watcher of changes made in quick succession without waiting for its poll',
      async () => {
        const { first, second, cleanup } = await open();
        try {
          let latest: { ids: string[]; weights: unknown } = { ids: [], weights: {} };
          // A poll far away: only the announcements of the changes can bring them in time.
          const stop = await second.watch((entries, weights) => {
            latest = { ids: entries.map((e) => e.instanceId).sort(), weights };
          }, 60_000);
          for (let round = 0; round < 5; round++) {
            const n = round * 5;
            await Promise.all([1, 2, 3, 4, 5].map((i) => first.register(entry('data', n + i))));
            await first.setWeights('data', { v1: 100 - round, v2: round });
            const ids = Array.from({ length: n + 5 }, (_, i) => `data-${i + 1}`).sort();
            await waitFor(
              () =>
                latest.ids.join() === ids.join() &&
                JSON.stringify(latest.weights) === JSON.stringify({ data: { v1: 100 - round, v2: round } }),
              { timeoutMs: 2_000, what: `round ${round}'s registrations and split` },
            );
          }
          stop();
        } finally {
          await cleanup();
        }
      },
    );

    await t.test("keeps each service's traffic split, tells watchers, and refuses bad weights", async () => {
      const { first, second, cleanup } = await open();
      try {
        const splits: unknown[] = [];
        const stop = await second.watch((_entries, weights) => splits.push(weights), 200);
        await first.setWeights('data', { v1: 90, v2: 10 });
        await first.setWeights('auth', { v1: 100 });
        await waitFor(() => splits.length >= 2 && JSON.stringify(splits.at(-1)).includes('auth'), {
          timeoutMs: 2_000,
          what: 'the new weights',
        });
        assert.deepEqual(await second.weights(), { data: { v1: 90, v2: 10 }, auth: { v1: 100 } });
        await first.setWeights('data', { v2: 100 });
        assert.deepEqual((await second.weights()).data, { v2: 100 }, 'a split replaces the previous one');
        stop();
        const bads: Record<string, number>[] = [{ v1: 101 }, { v1: -1 }, { v1: 1.5 }, { 'v|1': 10 }];
        for (const bad of bads) {
          await assert.rejects(first.setWeights('data', bad), RangeError, JSON.stringify(bad));
        }
        await assert.rejects(first.setWeights('Data', { v1: 1 }), RangeError);
      } finally {
        await cleanup();
      }
    });

    await t.test('refuses entries it could not route to', async () => {
      const { first, cleanup } = await open();
      try {
        for (const bad of [
          { ...entry('data', 1), service: 'Data' },
          { ...entry('data', 1), origin: 'http://10.0.0.1:8080/path' },
          { ...entry('data', 1), origin: 'ftp://10.0.0.1' },
          { ...entry('data', 1), version: 'v|2' },
          { ...entry('data', 1), instanceId: '' },
        ]) {
          await assert.rejects(first.register(bad), RangeError, JSON.stringify(bad));
        }
      } finally {
        await cleanup();
      }
    });
  });
}
