import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from '@tern/telemetry';
import {
  deleteRedisKeys,
  quietTelemetry,
  startTcpProxy,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
} from '@tern/testing';
import { createRedisCache } from '@tern/cache';

const admin = new Redis(TEST_REDIS_URL);
after(() => admin.quit());

async function l1Hits(metrics: Registry): Promise<number> {
  const text = await metrics.getSingleMetricAsString('tern_cache_l1_hits_total');
  return Number(
    text
      .split('\n')
      .find((line) => line.startsWith('tern_cache_l1_hits_total '))
      ?.split(' ')[1] ?? 0,
  );
}

void test('the L1 answers repeated reads in process, and drops an entry the moment any client changes it in Redis', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const metrics = new Registry();
  const first = await createRedisCache({ url: TEST_REDIS_URL, keyPrefix }, { ...quietTelemetry(), metrics });
  const second = await createRedisCache({ url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  try {
    await first.set('doc', { v: 1 }, 60_000);
    assert.deepEqual(await first.get('doc'), { v: 1 }); // from Redis, into the L1
    for (let i = 0; i < 5; i++) assert.deepEqual(await first.get('doc'), { v: 1 });
    assert.equal(await l1Hits(metrics), 5);

    // Another instance's write, and a write by a client that is not Tern at all.
    await second.set('doc', { v: 2 }, 60_000);
    await waitFor(async () => ((await first.get<{ v: number }>('doc'))?.v === 2 ? true : undefined), {
      timeoutMs: 2_000,
      what: 'the L1 to drop the entry another instance changed',
    });
    await admin.set(`${keyPrefix}doc`, JSON.stringify({ v: 3 }), 'PX', 60_000);
    await waitFor(async () => ((await first.get<{ v: number }>('doc'))?.v === 3 ? true : undefined), {
      timeoutMs: 2_000,
      what: 'the L1 to drop the entry a raw SET changed',
    });
    await second.delete('doc');
    await waitFor(async () => ((await first.get('doc')) === undefined ? true : undefined), {
      timeoutMs: 2_000,
      what: 'the L1 to drop a deleted entry',
    });
    // Expiry in Redis reaches the L1 too.
    await first.set('short', 'x', 100);
    assert.equal(await first.get('short'), 'x');
    await waitFor(async () => ((await first.get('short')) === undefined ? true : undefined), {
      timeoutMs: 2_000,
      what: 'an expired entry to leave the L1',
    });
  } finally {
    await first.close();
    await second.close();
    await deleteRedisKeys(keyPrefix);
  }
});

void test('after a lost Redis connection the L1 serves nothing it held, so no change made meanwhile is missed', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const target = new URL(TEST_REDIS_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  const viaProxy = `redis://127.0.0.1:${proxy.port}`;
  const metrics = new Registry();
  const cut = await createRedisCache({ url: viaProxy, keyPrefix }, { ...quietTelemetry(), metrics });
  const other = await createRedisCache({ url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  try {
    await other.set('doc', { v: 1 }, 60_000);
    assert.deepEqual(await cut.get('doc'), { v: 1 });
    assert.deepEqual(await cut.get('doc'), { v: 1 });
    assert.equal(await l1Hits(metrics), 1);

    await proxy.stop();
    // Once this instance notices Redis is gone, reads fail (getOrLoad falls back to the source).
    await waitFor(
      async () => ((await cut.get('doc').catch(() => 'failed')) === 'failed' ? true : undefined),
      {
        what: 'reads to fail while Redis is unreachable',
      },
    );
    assert.deepEqual(await cut.getOrLoad('doc', 60_000, async () => ({ v: 'from the source' })), {
      v: 'from the source',
    });
    await other.set('doc', { v: 2 }, 60_000); // the invalidation for this never reaches `cut`
    await proxy.start();
    // The first read that succeeds again already sees the change: nothing stale survived the outage.
    const first = await waitFor(async () => cut.get<{ v: number }>('doc').catch(() => undefined), {
      timeoutMs: 10_000,
      what: 'reads after the reconnect',
    });
    assert.deepEqual(first, { v: 2 });
    // Back in service: the L1 fills and is invalidated again.
    assert.deepEqual(await cut.get('doc'), { v: 2 });
    const hits = await l1Hits(metrics);
    await waitFor(async () => (await cut.get('doc'), (await l1Hits(metrics)) > hits), {
      timeoutMs: 5_000,
      what: 'the L1 serving again once tracking is back on',
    });
    await other.set('doc', { v: 3 }, 60_000);
    await waitFor(async () => ((await cut.get<{ v: number }>('doc'))?.v === 3 ? true : undefined), {
      timeoutMs: 2_000,
      what: 'invalidations after the reconnect',
    });
  } finally {
    await cut.close();
    await other.close();
    await proxy.close();
    await deleteRedisKeys(keyPrefix);
  }
});
