import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quietTelemetry } from '@tern/testing';
import { runCacheContract } from './cache.contract';
import { createCache } from './create-cache';
import { createMemoryCache } from './memory-cache';

void runCacheContract('memory cache', async () => {
  const cache = createMemoryCache({ maxEntries: 1_000 }, quietTelemetry());
  return { cache, cleanup: () => cache.close() };
});

void test('the memory cache evicts the least recently used entry beyond maxEntries', async () => {
  const cache = createMemoryCache({ maxEntries: 3 }, quietTelemetry());
  await cache.set('a', 1, 10_000);
  await cache.set('b', 2, 10_000);
  await cache.set('c', 3, 10_000);
  assert.equal(await cache.get('a'), 1);
  await cache.set('d', 4, 10_000);
  assert.equal(await cache.get('b'), undefined);
  assert.equal(await cache.get('a'), 1);
  assert.equal(await cache.get('c'), 3);
  assert.equal(await cache.get('d'), 4);
  await cache.close();
});

void test('the memory cache counts hits, misses and held entries', async () => {
  const telemetry = quietTelemetry();
  const cache = createMemoryCache({ maxEntries: 10 }, telemetry);
  await cache.set('a', 1, 10_000);
  await cache.set('b', 2, 10_000);
  await cache.get('a');
  await cache.get('a');
  await cache.get('missing');
  const text = await telemetry.metrics.metrics();
  assert.match(text, /tern_cache_hits_total\{cache="memory"\} 2/);
  assert.match(text, /tern_cache_misses_total\{cache="memory"\} 1/);
  assert.match(text, /tern_cache_entries 2/);
  await cache.close();
});

void test('the memory cache rejects a maxEntries that is not a positive integer', () => {
  assert.throws(() => createMemoryCache({ maxEntries: 0 }, quietTelemetry()), RangeError);
});

void test('createCache builds a memory cache from memory config', async () => {
  const cache = await createCache({ kind: 'memory', maxEntries: 10 }, quietTelemetry());
  assert.equal(cache.kind, 'memory');
  await cache.close();
});
