export interface LoadOptions {
  /**
   * How long a load resolving to `null` (a miss in the source, say) stays cached, when it should
   * be shorter than `ttlMs`. Cached under the same guard as any value: not if the key was
   * deleted or set while the load ran.
   */
  nullTtlMs?: number;
}

/** Values are JSON-serialisable; both implementations round-trip them through JSON semantics. */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  /** `undefined` means a miss; a stored `null` comes back as `null`. */
  get<T>(key: string): Promise<T | undefined>;
  /** `ttlMs` is required: nothing is cached forever by accident. Rejects values JSON cannot hold. */
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Read-through with single-flight: concurrent misses on one key call `load` once per process.
   * A failed load is not cached and rejects every waiter; a load resolving to `undefined` is
   * returned but not cached. If the cache itself fails (Redis down), the value is loaded and
   * returned anyway: the cache is an optimisation, the loader is the source of truth.
   * A `delete` or `set` of the key on this instance while a load runs stops that load's result
   * being cached (its waiters still get it), and later callers start a fresh load rather than
   * join it. Not across instances: see the README.
   */
  getOrLoad<T>(key: string, ttlMs: number, load: () => Promise<T>, options?: LoadOptions): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type CacheConfig =
  | { kind: 'memory'; maxEntries: number }
  | { kind: 'redis'; url: string; keyPrefix: string; nearEntries?: number };
