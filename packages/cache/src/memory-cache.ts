import { LRUCache } from 'lru-cache';
import { gauge, type Telemetry } from '@tern/telemetry';
import type { Cache } from './cache';
import { createJsonCache } from './json-cache';

export interface MemoryCacheConfig {
  maxEntries: number;
}

/**
 * An in-process LRU cache for single-instance deployments and tests. Entries are held as JSON
 * text, so a caller mutating a returned object cannot reach the cached copy, and values behave
 * exactly as they would through Redis.
 */
export function createMemoryCache(config: MemoryCacheConfig, telemetry: Telemetry): Cache {
  if (!Number.isInteger(config.maxEntries) || config.maxEntries < 1) {
    throw new RangeError(`maxEntries must be a positive integer, got ${config.maxEntries}`);
  }
  // Counts entries held in memory, including expired ones not yet reclaimed: that is what costs memory.
  const entries = gauge(telemetry.metrics, 'tern_cache_entries', 'Entries held by the in-memory cache.', []);
  const lru = new LRUCache<string, string>({ max: config.maxEntries });
  const report = () => entries.set(lru.size);

  return createJsonCache(
    {
      kind: 'memory',
      peek: (key) => lru.get(key),
      async read(key) {
        const text = lru.get(key);
        if (text === undefined) report();
        return text;
      },
      async write(key, text, ttlMs) {
        lru.set(key, text, { ttl: ttlMs });
        report();
      },
      async remove(key) {
        lru.delete(key);
        report();
      },
      async ping() {},
      async close() {
        lru.clear();
        report();
      },
    },
    telemetry,
  );
}
