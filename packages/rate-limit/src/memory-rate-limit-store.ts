import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type { Telemetry } from '@tern/telemetry';
import {
  addFailure,
  liveBackoffRecord,
  toBackoffPolicy,
  toBackoffState,
  type BackoffRecord,
} from './backoff';
import { gcra, toDecision, toGcraParams } from './gcra';
import { createRateLimitMetrics } from './rate-limit-metrics';
import type { RateLimitStore } from './rate-limit-store';

export interface MemoryRateLimitStoreConfig {
  maxKeys: number;
}

/**
 * Per-process limits for a single instance and tests. When more than `maxKeys` keys are active
 * the least recently used one loses its state and starts again with a full bucket: memory stays
 * bounded under a flood of distinct keys, at the price of leniency toward the oldest of them.
 * Backoff failure counts live in a second LRU with the same bound, so a flood of `consume` keys
 * never evicts them (and the reverse).
 */
export function createMemoryRateLimitStore(
  config: MemoryRateLimitStoreConfig,
  telemetry: Telemetry,
): RateLimitStore {
  if (!Number.isInteger(config.maxKeys) || config.maxKeys < 1) {
    throw new RangeError(`maxKeys must be a positive integer, got ${config.maxKeys}`);
  }
  const metrics = createRateLimitMetrics('memory', telemetry);
  const tats = new LRUCache<string, number>({ max: config.maxKeys });
  const failures = new LRUCache<string, BackoffRecord>({ max: config.maxKeys });
  let closed = false;
  const requireOpen = () => {
    if (closed) throw new Error('memory rate limit store is closed');
  };
  // Monotonic: a wall-clock step must not refill or drain every bucket (or end every block) at once.
  const nowUs = () => Math.floor(performance.now() * 1000);

  return {
    kind: 'memory',
    async consume(key, policy, cost = 1) {
      requireOpen();
      const params = toGcraParams(policy, cost);
      const now = nowUs();
      const outcome = gcra(tats.get(key), now, params);
      // A key whose arrival time has passed is indistinguishable from a fresh one, so it may vanish then.
      if (outcome.allowed) tats.set(key, outcome.tatUs, { ttl: Math.ceil(outcome.resetUs / 1000) });
      const decision = toDecision(params, outcome);
      metrics.decided(decision);
      return decision;
    },
    async recordFailure(key, policy) {
      requireOpen();
      const valid = toBackoffPolicy(policy);
      const now = nowUs();
      const record = addFailure(failures.get(key), now, valid);
      failures.set(key, record, { ttl: valid.forgetAfterMs });
      metrics.failureRecorded();
      return toBackoffState(record, now, valid);
    },
    async backoffState(key, policy) {
      requireOpen();
      const valid = toBackoffPolicy(policy);
      const now = nowUs();
      const state = toBackoffState(liveBackoffRecord(failures.get(key), now, valid), now, valid);
      metrics.backoffChecked(state);
      return state;
    },
    async clearFailures(key) {
      requireOpen();
      failures.delete(key);
    },
    async ping() {
      requireOpen();
    },
    async close() {
      closed = true;
      tats.clear();
      failures.clear();
    },
  };
}
