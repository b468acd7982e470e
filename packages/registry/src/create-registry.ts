import type { Telemetry } from '@tern/telemetry';
import { createMemoryRegistry } from './memory-registry';
import { createRedisRegistry } from './redis-registry';
import type { RegistryConfig, ServiceRegistry } from './registry';

export async function createRegistry(config: RegistryConfig, telemetry: Telemetry): Promise<ServiceRegistry> {
  return config.kind === 'redis' ? createRedisRegistry(config, telemetry) : createMemoryRegistry();
}
