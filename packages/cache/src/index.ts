export type { Cache, CacheConfig } from './cache';
export { createCache } from './create-cache';
export { createMemoryCache, type MemoryCacheConfig } from './memory-cache';
export { createRedisCache, type RedisCacheConfig } from './redis-cache';
