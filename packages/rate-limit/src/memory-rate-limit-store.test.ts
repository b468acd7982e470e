import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quietTelemetry } from '@tern/testing';
import { createMemoryRateLimitStore } from './memory-rate-limit-store';
import { createRateLimitStore } from './create-rate-limit-store';
import { runRateLimitStoreContract } from './rate-limit-store.contract';

void runRateLimitStoreContract('memory rate limit store', async () => {
  const store = createMemoryRateLimitStore({ maxKeys: 10_000 }, quietTelemetry());
  return { store, cleanup: () => store.close() };
});

void test('the memory store forgets the least recently used key beyond maxKeys', async () => {
  const store = createMemoryRateLimitStore({ maxKeys: 2 }, quietTelemetry());
  const policy = { limit: 1, windowMs: 60_000 };
  await store.consume('a', policy);
  await store.consume('b', policy);
  assert.equal((await store.consume('a', policy)).allowed, false);
  await store.consume('c', policy);
  assert.equal((await store.consume('b', policy)).allowed, true, 'b was evicted and starts afresh');
  await store.close();
});

void test('the memory store counts allowed and denied decisions', async () => {
  const telemetry = quietTelemetry();
  const store = await createRateLimitStore({ kind: 'memory', maxKeys: 10 }, telemetry);
  const policy = { limit: 2, windowMs: 60_000 };
  for (let i = 0; i < 5; i++) await store.consume('k', policy);
  const text = await telemetry.metrics.metrics();
  assert.match(text, /tern_rate_limit_decisions_total\{store="memory",decision="allowed"\} 2/);
  assert.match(text, /tern_rate_limit_decisions_total\{store="memory",decision="denied"\} 3/);
  await store.close();
  await assert.rejects(store.consume('k', policy));
});

void test('the memory store keeps backoff keys in their own LRU, bounded by maxKeys', async () => {
  const store = createMemoryRateLimitStore({ maxKeys: 2 }, quietTelemetry());
  const policy = { freeFailures: 0, baseDelayMs: 1_000, maxDelayMs: 1_000, forgetAfterMs: 60_000 };
  await store.recordFailure('a', policy);
  await store.recordFailure('b', policy);
  // A flood of consume keys does not evict failure counts.
  for (const key of ['x', 'y', 'z']) await store.consume(key, { limit: 1, windowMs: 60_000 });
  assert.equal((await store.backoffState('a', policy)).failures, 1);
  await store.recordFailure('c', policy);
  assert.equal((await store.backoffState('b', policy)).failures, 0, 'b was evicted');
  assert.equal((await store.backoffState('a', policy)).failures, 1);
  await store.close();
  await assert.rejects(store.recordFailure('a', policy));
  await assert.rejects(store.backoffState('a', policy));
  await assert.rejects(store.clearFailures('a'));
});

void test('the memory store counts recorded failures and blocked checks', async () => {
  const telemetry = quietTelemetry();
  const store = await createRateLimitStore({ kind: 'memory', maxKeys: 10 }, telemetry);
  const policy = { freeFailures: 1, baseDelayMs: 60_000, maxDelayMs: 60_000, forgetAfterMs: 60_000 };
  await store.backoffState('k', policy);
  await store.recordFailure('k', policy);
  await store.backoffState('k', policy);
  await store.recordFailure('k', policy);
  await store.backoffState('k', policy);
  await store.backoffState('k', policy);
  const text = await telemetry.metrics.metrics();
  assert.match(text, /tern_rate_limit_backoff_total\{store="memory",result="recorded"\} 2/);
  assert.match(text, /tern_rate_limit_backoff_total\{store="memory",result="blocked"\} 2/);
  await store.close();
});

void test('the memory store rejects a maxKeys that is not a positive integer', () => {
  assert.throws(() => createMemoryRateLimitStore({ maxKeys: 0 }, quietTelemetry()), RangeError);
});
