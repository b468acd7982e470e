import type { Telemetry } from '@tern/telemetry';
import type { Cache } from './cache';
import { createJsonCache } from './json-cache';
import { closeRedis, connectRedis } from '@tern/redis';

export interface RedisCacheConfig {
  url: string;
  /** Every key is stored under this prefix; @tern/config gives the cache its own (`tern:cache:`). */
  keyPrefix: string;
}

/** A cache shared by every instance; resolves once connected, rejects if Redis is unreachable. */
export async function createRedisCache(config: RedisCacheConfig, telemetry: Telemetry): Promise<Cache> {
  const log = telemetry.log.child({ component: 'cache' });
  const client = await connectRedis(config.url, log);
  const prefix = config.keyPrefix;

  return createJsonCache(
    {
      kind: 'redis',
      async read(key) {
        return (await client.get(prefix + key)) ?? undefined;
      },
      async write(key, text, ttlMs) {
        await client.set(prefix + key, text, 'PX', ttlMs);
      },
      async remove(key) {
        await client.del(prefix + key);
      },
      async ping() {
        await client.ping();
      },
      close: () => closeRedis(client),
    },
    telemetry,
  );
}
