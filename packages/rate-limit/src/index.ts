export type {
  BackoffPolicy,
  BackoffState,
  RateLimitConfig,
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
} from './rate-limit-store';
export { createRateLimitStore } from './create-rate-limit-store';
export { createMemoryRateLimitStore, type MemoryRateLimitStoreConfig } from './memory-rate-limit-store';
export { createRedisRateLimitStore, type RedisRateLimitStoreConfig } from './redis-rate-limit-store';
