export type { Cache, CacheConfig, LoadOptions } from './cache';
export { createCache } from './create-cache';
export { createMemoryCache, type MemoryCacheConfig } from './memory-cache';
export { createRedisCache, type RedisCacheConfig } from './redis-cache';
