import { childSpan, type Telemetry } from '@tern/telemetry';
import type { Cache } from './cache';
import { createJsonCache } from './json-cache';
import { closeRedis, connectRedis } from '@tern/redis';
import { createNearCache, type NearCache } from './near-cache';

export interface RedisCacheConfig {
  url: string;
  /** Every key is stored under this prefix; @tern/config gives the cache its own (`tern:cache:`). */
  keyPrefix: string;
  /**
   * Entries this process keeps in front of Redis (its L1), kept coherent by Redis's own
   * invalidation messages; 0 turns it off. Default 1,000.
   */
  nearEntries?: number;
  /** The longest an entry stays in the L1 (default 10 s), a bound even if a message were lost. */
  nearTtlMs?: number;
}

const NEAR_ENTRIES = 1_000;
const NEAR_TTL_MS = 10_000;

/**
 * A cache shared by every instance, with a small in-process L1 in front of it; resolves once
 * connected, rejects if Redis is unreachable.
 */
export async function createRedisCache(config: RedisCacheConfig, telemetry: Telemetry): Promise<Cache> {
  const log = telemetry.log.child({ component: 'cache' });
  const client = await connectRedis(config.url, log);
  const prefix = config.keyPrefix;
  let near: NearCache | undefined;
  try {
    const entries = config.nearEntries ?? NEAR_ENTRIES;
    if (entries > 0) {
      near = await createNearCache(
        { url: config.url, prefix, maxEntries: entries, ttlMs: config.nearTtlMs ?? NEAR_TTL_MS },
        telemetry,
      );
    }
  } catch (error) {
    await closeRedis(client);
    throw error;
  }

  /** A Redis command as a span of the request's trace when it is sampled (the key is not recorded). */
  const command = <T>(name: string, work: () => Promise<T>) =>
    childSpan(
      telemetry.tracer,
      `${name} redis`,
      { 'db.system.name': 'redis', 'db.operation.name': name },
      work,
    );

  return createJsonCache(
    {
      kind: 'redis',
      peek: (key) => near?.get(key),
      async read(key) {
        const held = near?.get(key);
        if (held !== undefined) return held;
        if (!near) return (await command('GET', () => client.get(prefix + key))) ?? undefined;
        // Started before the GET: an invalidation of the key while it runs keeps its answer out of the L1.
        const fill = near.beginFill(key);
        try {
          const text = (await command('GET', () => client.get(prefix + key))) ?? undefined;
          if (text !== undefined) fill.complete(text);
          return text;
        } finally {
          fill.end();
        }
      },
      async write(key, text, ttlMs) {
        near?.drop(key);
        await command('SET', () => client.set(prefix + key, text, 'PX', ttlMs));
      },
      async remove(key) {
        near?.drop(key);
        await command('DEL', () => client.del(prefix + key));
      },
      async ping() {
        await client.ping();
      },
      async close() {
        await near?.close();
        await closeRedis(client);
      },
    },
    telemetry,
  );
}
