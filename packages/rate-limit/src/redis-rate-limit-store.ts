import type { Redis } from 'ioredis';
import type { Telemetry } from '@tern/telemetry';
import { fromRetryAfterUs, toBackoffPolicy } from './backoff';
import { BACKOFF_RECORD_SCRIPT, BACKOFF_STATE_SCRIPT } from './backoff-script';
import { toDecision, toGcraParams } from './gcra';
import { GCRA_SCRIPT } from './gcra-script';
import { createRateLimitMetrics } from './rate-limit-metrics';
import type { BackoffPolicy, BackoffState, RateLimitStore } from './rate-limit-store';
import { closeRedis, connectRedis } from '@tern/redis';

export interface RedisRateLimitStoreConfig {
  url: string;
  /** Every key is stored under this prefix; @tern/config gives the limiter its own (`tern:rl:`). */
  keyPrefix: string;
}

type GcraReply = [allowed: number, remaining: number, resetUs: number, retryAfterUs: number];
type BackoffReply = [failures: number, retryAfterUs: number];
type BackoffCommand = (
  key: string,
  freeFailures: number,
  baseDelayMs: number,
  maxDelayMs: number,
  forgetAfterMs: number,
) => Promise<BackoffReply>;
type RedisWithScripts = Redis & {
  ternGcra(key: string, intervalUs: number, toleranceUs: number, incrementUs: number): Promise<GcraReply>;
  ternBackoffRecord: BackoffCommand;
  ternBackoffState: BackoffCommand;
};

/**
 * Backoff state sits in its own namespace under the prefix, so `recordFailure('x')` and
 * `consume('x')` are separate counters. A consume key that itself starts with `bo:` would land in
 * this namespace: callers must not use such keys.
 */
const BACKOFF_NAMESPACE = 'bo:';

/** Limits shared by every gateway instance: state in Redis, each check one atomic script call. */
export async function createRedisRateLimitStore(
  config: RedisRateLimitStoreConfig,
  telemetry: Telemetry,
): Promise<RateLimitStore> {
  const log = telemetry.log.child({ component: 'rate-limit' });
  // A consume whose reply was lost may already have counted; replaying it after a reconnect
  // would count it twice, so the caller gets the error instead and decides.
  // Auto-pipelining: the scripts of concurrent requests issued in one event-loop turn go out in
  // one write, which matters at a gateway's request rate (one script call per request).
  const client = await connectRedis(config.url, log, {
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
  });
  // defineCommand sends EVALSHA and falls back to EVAL when Redis has not seen the script yet.
  client.defineCommand('ternGcra', { numberOfKeys: 1, lua: GCRA_SCRIPT });
  client.defineCommand('ternBackoffRecord', { numberOfKeys: 1, lua: BACKOFF_RECORD_SCRIPT });
  client.defineCommand('ternBackoffState', { numberOfKeys: 1, lua: BACKOFF_STATE_SCRIPT });
  const redis = client as RedisWithScripts;
  const prefix = config.keyPrefix;
  const metrics = createRateLimitMetrics('redis', telemetry);

  async function runBackoff(
    command: 'ternBackoffRecord' | 'ternBackoffState',
    key: string,
    policy: BackoffPolicy,
  ): Promise<BackoffState> {
    const valid = toBackoffPolicy(policy);
    let reply: BackoffReply;
    try {
      reply = await redis[command](
        prefix + BACKOFF_NAMESPACE + key,
        valid.freeFailures,
        valid.baseDelayMs,
        valid.maxDelayMs,
        valid.forgetAfterMs,
      );
    } catch (error) {
      metrics.failed();
      throw error;
    }
    const [failures, retryAfterUs] = reply;
    return { failures, retryAfterMs: fromRetryAfterUs(retryAfterUs) };
  }

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
    async recordFailure(key, policy) {
      // A lost reply may already have counted; like consume, the caller gets the error, not a replay.
      const state = await runBackoff('ternBackoffRecord', key, policy);
      metrics.failureRecorded();
      return state;
    },
    async backoffState(key, policy) {
      const state = await runBackoff('ternBackoffState', key, policy);
      metrics.backoffChecked(state);
      return state;
    },
    async clearFailures(key) {
      try {
        await redis.del(prefix + BACKOFF_NAMESPACE + key);
      } catch (error) {
        metrics.failed();
        throw error;
      }
    },
    async ping() {
      await client.ping();
    },
    close: () => closeRedis(client),
  };
}
