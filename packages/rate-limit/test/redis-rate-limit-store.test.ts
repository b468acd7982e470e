import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  deleteRedisKeys,
  quietTelemetry,
  startTcpProxy,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
} from '@tern/testing';
import { createRateLimitStore, createRedisRateLimitStore } from '@tern/rate-limit';
import { runRateLimitStoreContract } from '../src/rate-limit-store.contract';

const admin = new Redis(TEST_REDIS_URL);
after(() => admin.quit());

void runRateLimitStoreContract('redis rate limit store', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const store = await createRedisRateLimitStore({ url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  return {
    store,
    async cleanup() {
      await store.close();
      await deleteRedisKeys(keyPrefix);
    },
  };
});

void test('two gateway instances sharing one key admit exactly the limit between them', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const first = await createRateLimitStore(
    { kind: 'redis', url: TEST_REDIS_URL, keyPrefix },
    quietTelemetry(),
  );
  const second = await createRateLimitStore(
    { kind: 'redis', url: TEST_REDIS_URL, keyPrefix },
    quietTelemetry(),
  );
  try {
    // At 100 per 10 s a token refills every 100 ms, and on a loaded machine 400 calls can take
    // longer than that, correctly admitting a 101st. A 10-minute window keeps the count exact.
    const policy = { limit: 100, windowMs: 600_000 };
    const decisions = await Promise.all(
      Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? first : second).consume('tenant:42', policy)),
    );
    assert.equal(decisions.filter((d) => d.allowed).length, 100);
  } finally {
    await first.close();
    await second.close();
    await deleteRedisKeys(keyPrefix);
  }
});

void test('limiter state lives under the prefix and expires once the bucket is full again', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const store = await createRedisRateLimitStore({ url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  try {
    await store.consume('client', { limit: 10, windowMs: 10_000 }, 3);
    assert.deepEqual(await admin.keys(`${keyPrefix}*`), [`${keyPrefix}client`]);
    const ttl = await admin.pttl(`${keyPrefix}client`);
    assert.ok(ttl > 2_500 && ttl <= 3_000, `pttl ${ttl}`);
  } finally {
    await store.close();
    await deleteRedisKeys(keyPrefix);
  }
});

void test('creating a redis rate limit store against an unreachable server rejects quickly', async () => {
  const started = Date.now();
  await assert.rejects(
    createRedisRateLimitStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'tern_test:' }, quietTelemetry()),
    /cannot connect to redis at redis:\/\/127\.0\.0\.1:1/,
  );
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});

void test('while redis is down consume fails fast and is counted, and the store reconnects', async () => {
  const proxy = await startTcpProxy({
    host: '127.0.0.1',
    port: Number(new URL(TEST_REDIS_URL).port || 6379),
  });
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const telemetry = quietTelemetry();
  const store = await createRedisRateLimitStore(
    { url: `redis://127.0.0.1:${proxy.port}`, keyPrefix },
    telemetry,
  );
  const policy = { limit: 5, windowMs: 60_000 };
  try {
    assert.equal((await store.consume('k', policy)).remaining, 4);
    await proxy.stop();

    const started = Date.now();
    await assert.rejects(store.consume('k', policy));
    await assert.rejects(store.ping());
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.match(await telemetry.metrics.metrics(), /tern_rate_limit_errors_total\{store="redis"\} 1/);

    await proxy.start();
    await waitFor(() => store.ping().then(() => true), { what: 'the store to reconnect' });
    assert.equal((await store.consume('k', policy)).remaining, 3);
  } finally {
    await store.close();
    await proxy.close();
    await deleteRedisKeys(keyPrefix);
  }
});
