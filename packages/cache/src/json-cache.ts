import { counter, type Telemetry } from '@tern/telemetry';
import type { Cache } from './cache';
import { summarizeError } from '@tern/telemetry';

/** What a cache implementation provides: raw text under a key, with expiry. */
export interface CacheBackend {
  readonly kind: Cache['kind'];
  read(key: string): Promise<string | undefined>;
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
  const requests = counter(telemetry.metrics, 'tern_cache_requests_total', 'Cache lookups by result.', [
    'cache',
    'result',
  ]);
  const errors = counter(telemetry.metrics, 'tern_cache_errors_total', 'Cache operations that failed.', [
    'cache',
  ]);
  const cache = backend.kind;
  const inFlight = new Map<string, Promise<unknown>>();
  let closed = false;

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
    requests.inc({ cache, result: text === undefined ? 'miss' : 'hit' });
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async function set(key: string, value: unknown, ttlMs: number): Promise<void> {
    const text = encode(value);
    const ttl = checkTtl(ttlMs);
    await guarded(() => backend.write(key, text, ttl));
  }

  async function readThrough<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
    const ttl = checkTtl(ttlMs);
    try {
      const cached = await get<T>(key);
      if (cached !== undefined) return cached;
    } catch (error) {
      if (closed) throw error;
      telemetry.log.warn({ cache, err: summarizeError(error) }, 'cache read failed; loading from the source');
    }
    const value = await load();
    if (value === undefined) return value;
    // Encoding runs outside the catch: a loader returning something JSON cannot hold is a bug to surface.
    const text = encode(value);
    try {
      await guarded(() => backend.write(key, text, ttl));
    } catch (error) {
      telemetry.log.warn(
        { cache, err: summarizeError(error) },
        'cache write failed; returning the loaded value',
      );
    }
    return value;
  }

  return {
    kind: cache,
    get,
    set,
    async delete(key) {
      await guarded(() => backend.remove(key));
    },
    getOrLoad<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
      // The cache read is inside the flight too, so callers arriving while it is pending join it.
      const pending = inFlight.get(key);
      if (pending) return pending as Promise<T>;
      const flight = readThrough(key, ttlMs, load).finally(() => inFlight.delete(key));
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
