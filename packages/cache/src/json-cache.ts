import { counter, type Telemetry } from '@tern/telemetry';
import type { Cache, LoadOptions } from './cache';
import { summarizeError } from '@tern/telemetry';

/** What a cache implementation provides: raw text under a key, with expiry. */
export interface CacheBackend {
  readonly kind: Cache['kind'];
  read(key: string): Promise<string | undefined>;
  /**
   * The entry when this process holds it (an in-memory LRU, the L1 in front of Redis), read
   * without waiting; `undefined` sends the lookup down the asynchronous path. Lets a hit cost no
   * promise chain: the hot read of a cached document is the service's most frequent request.
   */
  peek?(key: string): string | undefined;
  write(key: string, text: string, ttlMs: number): Promise<void>;
  remove(key: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The behaviour both caches share, built once over a backend so memory and Redis cannot drift:
 * JSON encoding, TTL validation, single-flight read-through and the request/error metrics.
 */
export function createJsonCache(backend: CacheBackend, telemetry: Telemetry): Cache {
  const hits = counter(telemetry.metrics, 'tern_cache_hits_total', 'Cache lookups that found the key.', [
    'cache',
  ]);
  const misses = counter(telemetry.metrics, 'tern_cache_misses_total', 'Cache lookups that did not.', [
    'cache',
  ]);
  const errors = counter(telemetry.metrics, 'tern_cache_errors_total', 'Cache operations that failed.', [
    'cache',
  ]);
  const cache = backend.kind;
  // Children bound to the label once: prom-client hashes and validates labels on every call otherwise.
  const hit = hits.labels({ cache });
  const miss = misses.labels({ cache });
  const inFlight = new Map<string, Promise<unknown>>();
  // Per key with a load running: a generation that delete and set bump, so a load that began
  // before them knows its result may predate the change and must not be cached. An entry lives
  // only while at least one load of its key runs, so the map is bounded by concurrent loads.
  const generations = new Map<string, { generation: number; loads: number }>();
  let closed = false;

  /**
   * Called before a delete or set reaches the backend. Later getOrLoad callers start a fresh load
   * instead of joining one that may have read the old value, and loads already running see a new
   * generation and skip their cache write (their own waiters still get the value).
   */
  function invalidate(key: string): void {
    inFlight.delete(key);
    const entry = generations.get(key);
    if (entry) entry.generation += 1;
  }

  async function guarded<T>(operation: () => Promise<T>): Promise<T> {
    if (closed) throw new Error(`${cache} cache is closed`);
    try {
      return await operation();
    } catch (error) {
      errors.inc({ cache });
      throw error;
    }
  }

  async function get<T>(key: string): Promise<T | undefined> {
    const text = await guarded(() => backend.read(key));
    (text === undefined ? miss : hit).inc();
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async function set(key: string, value: unknown, ttlMs: number): Promise<void> {
    const text = encode(value);
    const ttl = checkTtl(ttlMs);
    // After validation: a set that is rejected changes nothing, so it supersedes no load.
    invalidate(key);
    await guarded(() => backend.write(key, text, ttl));
  }

  async function readThrough<T>(
    key: string,
    ttlMs: number,
    load: () => Promise<T>,
    options: LoadOptions,
  ): Promise<T> {
    const ttl = checkTtl(ttlMs);
    const nullTtl = options.nullTtlMs === undefined ? ttl : checkTtl(options.nullTtlMs);
    let entry = generations.get(key);
    if (!entry) {
      entry = { generation: 0, loads: 0 };
      generations.set(key, entry);
    }
    entry.loads += 1;
    // Taken before the cache read: a delete or set at any point after this may follow a change
    // to the source that the loader did not see.
    const started = entry.generation;
    try {
      try {
        const cached = await get<T>(key);
        if (cached !== undefined) return cached;
      } catch (error) {
        if (closed) throw error;
        telemetry.log.warn(
          { cache, err: summarizeError(error) },
          'cache read failed; loading from the source',
        );
      }
      const value = await load();
      if (value === undefined) return value;
      // Encoding runs outside the catch: a loader returning something JSON cannot hold is a bug to surface.
      const text = encode(value);
      if (entry.generation !== started) return value;
      try {
        // No await between the generation check and issuing the write: a delete arriving later is
        // issued after it, and both backends apply a key's commands in order, so the delete wins.
        await guarded(() => backend.write(key, text, value === null ? nullTtl : ttl));
      } catch (error) {
        telemetry.log.warn(
          { cache, err: summarizeError(error) },
          'cache write failed; returning the loaded value',
        );
      }
      return value;
    } finally {
      entry.loads -= 1;
      if (entry.loads === 0) generations.delete(key);
    }
  }

  return {
    kind: cache,
    get,
    set,
    async delete(key) {
      invalidate(key);
      await guarded(() => backend.remove(key));
    },
    getOrLoad<T>(key: string, ttlMs: number, load: () => Promise<T>, options: LoadOptions = {}): Promise<T> {
      // The cache read is inside the flight too, so callers arriving while it is pending join it.
      const pending = inFlight.get(key);
      if (pending) return pending as Promise<T>;
      const held = closed ? undefined : backend.peek?.(key);
      if (held !== undefined) {
        hit.inc();
        return Promise.resolve(JSON.parse(held) as T);
      }
      const flight = readThrough(key, ttlMs, load, options).finally(() => {
        // An invalidation may have replaced this flight with a newer one, which must stay joinable.
        if (inFlight.get(key) === flight) inFlight.delete(key);
      });
      inFlight.set(key, flight);
      return flight;
    },
    async ping() {
      await guarded(() => backend.ping());
    },
    async close() {
      if (closed) return;
      closed = true;
      await backend.close();
    },
  };
}

function encode(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError(`a ${typeof value} cannot be cached: values must be JSON`);
  return text;
}

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  // Redis PX takes whole milliseconds; rounding up never expires an entry early.
  return Math.ceil(ttlMs);
}
