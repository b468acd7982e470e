import type { Redis } from 'ioredis';
import type { Telemetry } from '@tern/telemetry';
import { toDecision, toGcraParams } from './gcra';
import { GCRA_SCRIPT } from './gcra-script';
import { createRateLimitMetrics } from './rate-limit-metrics';
import type { RateLimitStore } from './rate-limit-store';
import { closeRedis, connectRedis } from '@tern/redis';

export interface RedisRateLimitStoreConfig {
  url: string;
  /** Every key is stored under this prefix; @tern/config gives the limiter its own (`tern:rl:`). */
  keyPrefix: string;
}

type GcraReply = [allowed: number, remaining: number, resetUs: number, retryAfterUs: number];
type RedisWithGcra = Redis & {
  ternGcra(key: string, intervalUs: number, toleranceUs: number, incrementUs: number): Promise<GcraReply>;
};

/** Limits shared by every gateway instance: state in Redis, each check one atomic script call. */
export async function createRedisRateLimitStore(
  config: RedisRateLimitStoreConfig,
  telemetry: Telemetry,
): Promise<RateLimitStore> {
  const log = telemetry.log.child({ component: 'rate-limit' });
  // A consume whose reply was lost may already have counted; replaying it after a reconnect
  // would count it twice, so the caller gets the error instead and decides.
  const client = await connectRedis(config.url, log, { autoResendUnfulfilledCommands: false });
  // defineCommand sends EVALSHA and falls back to EVAL when Redis has not seen the script yet.
  client.defineCommand('ternGcra', { numberOfKeys: 1, lua: GCRA_SCRIPT });
  const redis = client as RedisWithGcra;
  const prefix = config.keyPrefix;
  const metrics = createRateLimitMetrics('redis', telemetry);

  return {
    kind: 'redis',
    async consume(key, policy, cost = 1) {
      const params = toGcraParams(policy, cost);
      let reply: GcraReply;
      try {
        reply = await redis.ternGcra(prefix + key, params.intervalUs, params.toleranceUs, params.incrementUs);
      } catch (error) {
        metrics.failed();
        throw error;
      }
      const [allowed, remaining, resetUs, retryAfterUs] = reply;
      const decision = toDecision(params, { allowed: allowed === 1, remaining, resetUs, retryAfterUs });
      metrics.decided(decision);
      return decision;
    },
    async ping() {
      await client.ping();
    },
    close: () => closeRedis(client),
  };
}
