import type { Redis } from 'ioredis';
import type { Telemetry } from '@tern/telemetry';
import { fromRetryAfterUs, toBackoffPolicy } from './backoff';
import { BACKOFF_RECORD_SCRIPT, BACKOFF_STATE_SCRIPT } from './backoff-script';
import { toDecision, toGcraParams, type GcraParams } from './gcra';
import { GCRA_SCRIPT } from './gcra-script';
import { createRateLimitMetrics } from './rate-limit-metrics';
import type { BackoffPolicy, BackoffState, RateLimitDecision, RateLimitStore } from './rate-limit-store';
import { closeRedis, connectRedis } from '@tern/redis';

export interface RedisRateLimitStoreConfig {
  url: string;
  /** Every key is stored under this prefix; @tern/config gives the limiter its own (`tern:rl:`). */
  keyPrefix: string;
}

/** Per check: allowed (0|1), remaining, resetUs, retryAfterUs; flattened over the batch. */
type GcraReply = number[];
type BackoffReply = [failures: number, retryAfterUs: number];
type BackoffCommand = (
  key: string,
  freeFailures: number,
  baseDelayMs: number,
  maxDelayMs: number,
  forgetAfterMs: number,
) => Promise<BackoffReply>;
type RedisWithScripts = Redis & {
  ternGcra(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<GcraReply>;
  ternBackoffRecord: BackoffCommand;
  ternBackoffState: BackoffCommand;
};

/**
 * Backoff state sits in its own namespace under the prefix, so `recordFailure('x')` and
 * `consume('x')` are separate counters. A consume key that itself starts with `bo:` would land in
 * this namespace: callers must not use such keys.
 */
const BACKOFF_NAMESPACE = 'bo:';

/** Checks sent in one script call at most; a larger turn's worth goes in several. */
const MAX_BATCH = 256;

interface PendingCheck {
  key: string;
  params: GcraParams;
  resolve(decision: RateLimitDecision): void;
  reject(error: unknown): void;
}

/** Limits shared by every gateway instance: state in Redis, each check one atomic script call. */
export async function createRedisRateLimitStore(
  config: RedisRateLimitStoreConfig,
  telemetry: Telemetry,
): Promise<RateLimitStore> {
  const log = telemetry.log.child({ component: 'rate-limit' });
  // A consume whose reply was lost may already have counted; replaying it after a reconnect
  // would count it twice, so the caller gets the error instead and decides.
  // No auto-pipelining: consume batches its checks itself (below), and auto-pipelining's
  // per-turn Pipeline would be a second layer of the same.
  const client = await connectRedis(config.url, log, {
    autoResendUnfulfilledCommands: false,
  });
  // defineCommand sends EVALSHA and falls back to EVAL when Redis has not seen the script yet.
  // The batch script takes its key count from the caller (numberOfKeys left out).
  client.defineCommand('ternGcra', { lua: GCRA_SCRIPT });
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

  // Checks asked for in one event-loop turn go to Redis as one script call after it (setImmediate
  // runs once the turn's I/O callbacks are done): at a gateway's rate, one call per request cost
  // more than the proxying itself (bench/README.md). Decisions are the same as one call each.
  let pending: PendingCheck[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    for (let start = 0; start < batch.length; start += MAX_BATCH) {
      void send(batch.slice(start, start + MAX_BATCH));
    }
  };
  async function send(batch: PendingCheck[]): Promise<void> {
    const keys: string[] = [];
    const args: number[] = [];
    for (const check of batch) {
      keys.push(check.key);
      args.push(check.params.intervalUs, check.params.toleranceUs, check.params.incrementUs);
    }
    metrics.batched(batch.length);
    let reply: GcraReply;
    try {
      reply = await redis.ternGcra(keys.length, ...keys, ...args);
    } catch (error) {
      for (const check of batch) {
        metrics.failed();
        check.reject(error);
      }
      return;
    }
    batch.forEach((check, index) => {
      const at = index * 4;
      const decision = toDecision(check.params, {
        allowed: reply[at] === 1,
        remaining: reply[at + 1] as number,
        resetUs: reply[at + 2] as number,
        retryAfterUs: reply[at + 3] as number,
      });
      metrics.decided(decision);
      check.resolve(decision);
    });
  }

  return {
    kind: 'redis',
    consume(key, policy, cost = 1) {
      let params: GcraParams;
      try {
        params = toGcraParams(policy, cost);
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise<RateLimitDecision>((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ key: prefix + key, params, resolve, reject });
      });
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
