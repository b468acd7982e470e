import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from '@tern/redis';
import { counter, summarizeError, type Telemetry } from '@tern/telemetry';

export interface NearCacheConfig {
  url: string;
  /** The Redis key prefix tracked: invalidations arrive for every key under it. */
  prefix: string;
  maxEntries: number;
  ttlMs: number;
}

/** One GET from Redis on its way into the L1. */
export interface NearFill {
  /** Keeps `text` in the L1, unless the key was invalidated since the fill began. */
  complete(text: string): void;
  end(): void;
}

export interface NearCache {
  /** The entry, or `undefined`; always `undefined` while invalidations are not being received. */
  get(key: string): string | undefined;
  beginFill(key: string): NearFill;
  drop(key: string): void;
  close(): Promise<void>;
}

const INVALIDATE_CHANNEL = '__redis__:invalidate';

/**
 * An in-process L1 in front of Redis, kept coherent by Redis server-assisted client-side caching:
 * `CLIENT TRACKING ON BCAST PREFIX <prefix>` on one connection, redirected to a second one
 * subscribed to `__redis__:invalidate`. Redis then announces every change to a key under the
 * prefix (SET, DEL, expiry, eviction, FLUSH) from any client, so every instance drops its copy
 * within a network hop of the change.
 *
 * The L1 serves only while tracking is known to be on: when either connection drops, the L1 is
 * emptied and bypassed until both are back and tracking has been turned on again, since messages
 * sent meanwhile are lost. A GET racing an invalidation of its key (the message and the reply
 * travel on different connections) is not kept. Entries also expire after `ttlMs`.
 */
export async function createNearCache(config: NearCacheConfig, telemetry: Telemetry): Promise<NearCache> {
  const log = telemetry.log.child({ component: 'cache', layer: 'l1' });
  const hits = counter(
    telemetry.metrics,
    'tern_cache_l1_hits_total',
    'Lookups the in-process L1 answered.',
    [],
  );
  const invalidations = counter(
    telemetry.metrics,
    'tern_cache_l1_invalidations_total',
    'Invalidation messages from Redis (a flush counts once).',
    [],
  );
  const lru = new LRUCache<string, string>({ max: config.maxEntries, ttl: config.ttlMs });
  // Keys with a GET in flight, and whether an invalidation arrived meanwhile.
  const fills = new Map<string, { count: number; stale: boolean }>();
  let live = false;
  let closed = false;

  const stop = (why: string) => {
    if (live) log.warn({ why }, 'L1 bypassed until Redis invalidations resume');
    live = false;
    lru.clear();
    for (const fill of fills.values()) fill.stale = true;
  };
  const invalidate = (key: string) => {
    lru.delete(key);
    const fill = fills.get(key);
    if (fill) fill.stale = true;
  };

  // Named, so the tracking connection can find it (a subscribed connection cannot run CLIENT ID).
  const name = `tern-l1-${randomUUID()}`;
  const subscriber = await connectRedis(config.url, log, { connectionName: name });
  let tracker: Redis | undefined;
  try {
    tracker = await connectRedis(config.url, log);
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) => {
      if (channel.toString() !== INVALIDATE_CHANNEL) return;
      invalidations.inc();
      if (message === null) {
        lru.clear();
        for (const fill of fills.values()) fill.stale = true;
        return;
      }
      for (const key of Array.isArray(message) ? message : [message]) {
        const text = key.toString();
        if (text.startsWith(config.prefix)) invalidate(text.slice(config.prefix.length));
      }
    });
    await subscriber.subscribe(INVALIDATE_CHANNEL);
  } catch (error) {
    await closeRedis(subscriber);
    if (tracker) await closeRedis(tracker);
    throw error;
  }
  const trackingConnection = tracker;

  /** The subscriber's connection id, once Redis lists it as subscribed. */
  async function subscriberId(): Promise<string | undefined> {
    const list = String(await trackingConnection.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    return list
      .split('\n')
      .find((line) => line.includes(` name=${name} `))
      ?.match(/^id=(\d+)/)?.[1];
  }

  /** (Re)starts tracking towards the subscriber's current connection; the L1 serves once it is on. */
  async function track(attempt = 0): Promise<void> {
    stop('reconnecting');
    if (closed || subscriber.status !== 'ready' || trackingConnection.status !== 'ready') return;
    try {
      const id = await subscriberId();
      if (id === undefined) {
        // Connected but not yet resubscribed: look again shortly.
        if (attempt < 50) setTimeout(() => void track(attempt + 1), 100).unref();
        return;
      }
      await trackingConnection.call('CLIENT', 'TRACKING', 'OFF');
      await trackingConnection.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        id,
        'BCAST',
        'PREFIX',
        config.prefix,
      );
      // Still the same connections: a drop during the calls left `live` false.
      if (subscriber.status === 'ready' && trackingConnection.status === 'ready') live = true;
    } catch (error) {
      log.warn({ err: summarizeError(error) }, 'could not turn on Redis invalidations; L1 bypassed');
    }
  }
  for (const connection of [subscriber, trackingConnection]) {
    connection.on('close', () => stop('connection closed'));
    connection.on('ready', () => void track());
  }
  await track();

  return {
    get(key) {
      if (!live) return undefined;
      const text = lru.get(key);
      if (text !== undefined) hits.inc();
      return text;
    },
    beginFill(key) {
      const fill = fills.get(key) ?? { count: 0, stale: false };
      fill.count += 1;
      fills.set(key, fill);
      const wasLive = live;
      return {
        complete(text) {
          if (live && wasLive && !fill.stale) lru.set(key, text);
        },
        end() {
          fill.count -= 1;
          if (fill.count === 0) fills.delete(key);
        },
      };
    },
    drop: invalidate,
    async close() {
      closed = true;
      live = false;
      lru.clear();
      await Promise.all([closeRedis(subscriber), closeRedis(trackingConnection)]);
    },
  };
}
