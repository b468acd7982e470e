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

void test('the memory store rejects a maxKeys that is not a positive integer', () => {
  assert.throws(() => createMemoryRateLimitStore({ maxKeys: 0 }, quietTelemetry()), RangeError);
});
