import type { Telemetry } from '@tern/telemetry';
import { createMemoryRateLimitStore } from './memory-rate-limit-store';
import type { RateLimitConfig, RateLimitStore } from './rate-limit-store';
import { createRedisRateLimitStore } from './redis-rate-limit-store';

export async function createRateLimitStore(
  config: RateLimitConfig,
  telemetry: Telemetry,
): Promise<RateLimitStore> {
  switch (config.kind) {
    case 'memory':
      return createMemoryRateLimitStore(config, telemetry);
    case 'redis':
      return createRedisRateLimitStore(config, telemetry);
    default: {
      const unknown: never = config;
      throw new Error(`unknown rate limit store kind: ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}
