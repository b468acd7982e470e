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

void test('two gateway instances sharing redis see the same failure count for a key', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const first = await createRateLimitStore(
    { kind: 'redis', url: TEST_REDIS_URL, keyPrefix },
    quietTelemetry(),
  );
  const second = await createRateLimitStore(
    { kind: 'redis', url: TEST_REDIS_URL, keyPrefix },
    quietTelemetry(),
  );
  const policy = { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: 60_000, forgetAfterMs: 600_000 };
  try {
    const states = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).recordFailure('login:ada', policy)),
    );
    assert.deepEqual(
      states.map((s) => s.failures).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    for (const store of [first, second]) {
      const state = await store.backoffState('login:ada', policy);
      assert.equal(state.failures, 20);
      // Failure 20 is the 17th beyond the free ones: 1 s × 2^16 is above the 60 s cap.
      assert.ok(
        state.retryAfterMs > 50_000 && state.retryAfterMs <= 60_000,
        `retryAfterMs ${state.retryAfterMs}`,
      );
    }
    await first.clearFailures('login:ada');
    assert.deepEqual(await second.backoffState('login:ada', policy), { failures: 0, retryAfterMs: 0 });
  } finally {
    await first.close();
    await second.close();
    await deleteRedisKeys(keyPrefix);
  }
});

void test('backoff state lives under the prefix in its own namespace and expires after forgetAfterMs', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const telemetry = quietTelemetry();
  const store = await createRedisRateLimitStore({ url: TEST_REDIS_URL, keyPrefix }, telemetry);
  const policy = { freeFailures: 1, baseDelayMs: 1_000, maxDelayMs: 10_000, forgetAfterMs: 30_000 };
  try {
    await store.recordFailure('client', policy);
    await store.recordFailure('client', policy);
    await store.consume('client', { limit: 10, windowMs: 10_000 });
    assert.deepEqual((await admin.keys(`${keyPrefix}*`)).sort(), [
      `${keyPrefix}bo:client`,
      `${keyPrefix}client`,
    ]);
    const ttl = await admin.pttl(`${keyPrefix}bo:client`);
    assert.ok(ttl > 25_000 && ttl <= 30_000, `pttl ${ttl}`);
    await store.backoffState('client', policy);
    assert.ok((await admin.pttl(`${keyPrefix}bo:client`)) <= ttl, 'backoffState does not extend the expiry');
    const text = await telemetry.metrics.metrics();
    assert.match(text, /tern_rate_limit_backoff_total\{store="redis",result="recorded"\} 2/);
    assert.match(text, /tern_rate_limit_backoff_total\{store="redis",result="blocked"\} 1/);
    await store.clearFailures('client');
    assert.deepEqual(await admin.keys(`${keyPrefix}*`), [`${keyPrefix}client`]);
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

void test('while redis is down consume and backoff calls fail fast and are counted, and the store reconnects', async () => {
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
  const backoff = { freeFailures: 0, baseDelayMs: 1_000, maxDelayMs: 1_000, forgetAfterMs: 60_000 };
  try {
    assert.equal((await store.consume('k', policy)).remaining, 4);
    await proxy.stop();

    const started = Date.now();
    await assert.rejects(store.consume('k', policy));
    await assert.rejects(store.recordFailure('k', backoff));
    await assert.rejects(store.backoffState('k', backoff));
    await assert.rejects(store.clearFailures('k'));
    await assert.rejects(store.ping());
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.match(await telemetry.metrics.metrics(), /tern_rate_limit_errors_total\{store="redis"\} 4/);

    await proxy.start();
    await waitFor(() => store.ping().then(() => true), { what: 'the store to reconnect' });
    assert.equal((await store.consume('k', policy)).remaining, 3);
    assert.equal((await store.recordFailure('k', backoff)).failures, 1);
  } finally {
    await store.close();
    await proxy.close();
    await deleteRedisKeys(keyPrefix);
  }
});
