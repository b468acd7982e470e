export {
  checkWeights,
  DEFAULT_POLL_MS,
  DEFAULT_TTL_MS,
  type Registration,
  type RegistryConfig,
  type RegistryEntry,
  type ServiceRegistry,
  type Weights,
} from './registry';
export { createMemoryRegistry } from './memory-registry';
export { createRedisRegistry, type RedisRegistryConfig } from './redis-registry';
export { createRegistry } from './create-registry';
