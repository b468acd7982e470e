import type { Telemetry } from '@tern/telemetry';
import type { Cache, CacheConfig } from './cache';
import { createMemoryCache } from './memory-cache';
import { createRedisCache } from './redis-cache';

export async function createCache(config: CacheConfig, telemetry: Telemetry): Promise<Cache> {
  switch (config.kind) {
    case 'memory':
      return createMemoryCache(config, telemetry);
    case 'redis':
      return createRedisCache(config, telemetry);
    default: {
      const unknown: never = config;
      throw new Error(`unknown cache kind: ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}
