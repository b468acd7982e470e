/** Values are JSON-serialisable; both implementations round-trip them through JSON semantics. */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  get<T>(key: string): Promise<T | undefined>;
  /** `ttlMs` is required: nothing is cached forever by accident. */
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Read-through with single-flight: concurrent misses on one key call `load` once per process. */
  getOrLoad<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type CacheConfig = { kind: 'memory'; maxEntries: number } | { kind: 'redis'; url: string; keyPrefix: string };
