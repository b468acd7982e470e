import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from '@tern/redis';
import { summarizeError, type Telemetry } from '@tern/telemetry';
import {
  checkEntry,
  checkWeights,
  weightsText,
  type Weights,
  DEFAULT_POLL_MS,
  DEFAULT_TTL_MS,
  entryKey,
  parseEntryKey,
  sameEntries,
  sortEntries,
  type RegistryEntry,
  type ServiceRegistry,
} from './registry';

export interface RedisRegistryConfig {
  url: string;
  keyPrefix: string;
}

/** Renews an entry: its score is the expiry on Redis's clock, so instances with skewed clocks agree. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if added == 1 then redis.call('PUBLISH', KEYS[2], ARGV[1]) end
return added`;

/** The live entries, after dropping the expired ones. */
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if expired > 0 then redis.call('PUBLISH', KEYS[2], 'expired') end
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

type RedisWithScripts = Redis & {
  ternRegistryRenew(set: string, channel: string, member: string, ttlMs: number): Promise<number>;
  ternRegistryLive(set: string, channel: string): Promise<string[]>;
};

/**
 * The registry in Redis, shared by every process: one sorted set of entries scored by their
 * expiry, and a channel announcing each change so watchers refresh at once rather than at their
 * next poll. A heartbeat that cannot reach Redis is retried at the next beat; the entry expires
 * if Redis stays unreachable past the TTL, which is what gateways should then believe.
 */
export async function createRedisRegistry(
  config: RedisRegistryConfig,
  telemetry: Telemetry,
): Promise<ServiceRegistry> {
  const log = telemetry.log.child({ component: 'registry' });
  const set = `${config.keyPrefix}registry`;
  const channel = `${config.keyPrefix}registry:changes`;
  const weightsKey = `${config.keyPrefix}registry:weights`;
  const client = (await connectRedis(config.url, log)) as RedisWithScripts;
  client.defineCommand('ternRegistryRenew', { numberOfKeys: 2, lua: RENEW });
  client.defineCommand('ternRegistryLive', { numberOfKeys: 2, lua: LIVE });
  const subscribers = new Set<Redis>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  async function live(service?: string): Promise<RegistryEntry[]> {
    const members = await client.ternRegistryLive(set, channel);
    const entries = members.flatMap((member) => {
      const entry = parseEntryKey(member);
      return entry && (service === undefined || entry.service === service) ? [entry] : [];
    });
    return sortEntries(entries);
  }

  async function readWeights(): Promise<Weights> {
    const stored = await client.hgetall(weightsKey);
    const split: Weights = {};
    for (const [service, text] of Object.entries(stored)) {
      try {
        split[service] = JSON.parse(text) as Record<string, number>;
      } catch {
        // Not ours to fix: ignored, as if unset.
      }
    }
    return split;
  }

  return {
    kind: 'redis',
    async setWeights(service, weights) {
      checkWeights(service, weights);
      await client.hset(weightsKey, service, JSON.stringify(weights));
      await client.publish(channel, `weights:${service}`);
    },
    weights: readWeights,
    async register(entry, ttlMs = DEFAULT_TTL_MS) {
      checkEntry(entry);
      const member = entryKey(entry);
      await client.ternRegistryRenew(set, channel, member, ttlMs);
      let failing = false;
      const heartbeat = setInterval(
        () => {
          client.ternRegistryRenew(set, channel, member, ttlMs).then(
            () => {
              if (failing) log.info({ service: entry.service }, 'registry heartbeat restored');
              failing = false;
            },
            (error: unknown) => {
              if (!failing)
                log.warn({ err: summarizeError(error), service: entry.service }, 'registry heartbeat failed');
              failing = true;
            },
          );
        },
        Math.max(10, Math.floor(ttlMs / 3)),
      );
      heartbeat.unref();
      timers.add(heartbeat);
      return {
        async deregister() {
          clearInterval(heartbeat);
          timers.delete(heartbeat);
          if ((await client.zrem(set, member)) > 0) await client.publish(channel, member);
        },
      };
    },
    list: live,
    async watch(onChange, pollMs = DEFAULT_POLL_MS) {
      let last = await live();
      let lastWeights = await readWeights();
      onChange(last, lastWeights);
      let refreshing = false;
      // A change announced while a refresh is reading may have come after its read: one more then.
      let again = false;
      let stopped = false;
      const refresh = () => {
        if (closed || stopped) return;
        if (refreshing) {
          again = true;
          return;
        }
        refreshing = true;
        again = false;
        Promise.all([live(), readWeights()])
          .then(([now, nowWeights]) => {
            // A refresh that was reading when the watcher stopped tells it nothing.
            if (stopped) return;
            if (!sameEntries(now, last) || weightsText(nowWeights) !== weightsText(lastWeights)) {
              last = now;
              lastWeights = nowWeights;
              onChange(now, nowWeights);
            }
          })
          // Redis unreachable: keep the last list (instances keep serving) until it answers again.
          .catch((error: unknown) => log.debug({ err: summarizeError(error) }, 'registry refresh failed'))
          .finally(() => {
            refreshing = false;
            if (again) refresh();
          });
      };
      const subscriber = client.duplicate();
      subscribers.add(subscriber);
      subscriber.on('error', () => undefined);
      subscriber.on('message', refresh);
      // Connected like the client (lazily, no offline queue). A change made while the
      // subscription was down is caught by the next poll.
      await subscriber.connect();
      await subscriber.subscribe(channel);
      const poll = setInterval(refresh, pollMs);
      poll.unref();
      timers.add(poll);
      return () => {
        stopped = true;
        clearInterval(poll);
        timers.delete(poll);
        subscribers.delete(subscriber);
        void closeRedis(subscriber);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.all([...subscribers].map((subscriber) => closeRedis(subscriber)));
      await closeRedis(client);
    },
  };
}
