import type { BackoffPolicy, BackoffState } from './rate-limit-store';

/** What a store keeps per key: the failures in the forget window and when the last one happened. */
export interface BackoffRecord {
  failures: number;
  lastFailureUs: number;
}

// Timestamps are around 1.7e15 µs since the epoch; durations in µs must stay far enough below 2^53.
const MAX_DURATION_MS = 1e12;

/**
 * Validates a policy. Every field is a whole count: delays and the forget window are positive
 * milliseconds up to 1e12 (about 31 years), freeFailures may be 0. The forget window must cover
 * the longest delay: otherwise a blocked key would forget its failures, and its block, early.
 */
export function toBackoffPolicy(policy: BackoffPolicy): BackoffPolicy {
  const { freeFailures, baseDelayMs, maxDelayMs, forgetAfterMs } = policy;
  if (!Number.isSafeInteger(freeFailures) || freeFailures < 0) {
    throw new RangeError(`freeFailures must be a non-negative integer, got ${freeFailures}`);
  }
  requireDuration('baseDelayMs', baseDelayMs);
  requireDuration('maxDelayMs', maxDelayMs);
  requireDuration('forgetAfterMs', forgetAfterMs);
  if (forgetAfterMs < maxDelayMs) {
    throw new RangeError(
      `forgetAfterMs (${forgetAfterMs}) must be at least maxDelayMs (${maxDelayMs}), or a block would be forgotten before it ends`,
    );
  }
  return { freeFailures, baseDelayMs, maxDelayMs, forgetAfterMs };
}

/** The block imposed by the `failures`-th failure; mirrored by the Lua in backoff-script.ts. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  if (failures <= policy.freeFailures) return 0;
  // 2 ** a large exponent is Infinity, which the cap turns back into maxDelayMs.
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failures - policy.freeFailures - 1));
}

/** The record as it stands at `nowUs`: undefined once the forget window has passed. */
export function liveBackoffRecord(
  record: BackoffRecord | undefined,
  nowUs: number,
  policy: BackoffPolicy,
): BackoffRecord | undefined {
  if (record === undefined || nowUs - record.lastFailureUs >= policy.forgetAfterMs * 1000) return undefined;
  return record;
}

/** The record after one more failure at `nowUs`. */
export function addFailure(
  record: BackoffRecord | undefined,
  nowUs: number,
  policy: BackoffPolicy,
): BackoffRecord {
  const live = liveBackoffRecord(record, nowUs, policy);
  return { failures: (live?.failures ?? 0) + 1, lastFailureUs: nowUs };
}

/** The state a caller sees, from a live record (or none) at `nowUs`. */
export function toBackoffState(
  record: BackoffRecord | undefined,
  nowUs: number,
  policy: BackoffPolicy,
): BackoffState {
  if (record === undefined) return { failures: 0, retryAfterMs: 0 };
  const retryAfterUs = record.lastFailureUs + backoffDelayMs(record.failures, policy) * 1000 - nowUs;
  return { failures: record.failures, retryAfterMs: fromRetryAfterUs(retryAfterUs) };
}

/**
 * Rounding up, as consume does: a client that waits the advertised time is never turned away for
 * a fraction of a millisecond.
 */
export function fromRetryAfterUs(retryAfterUs: number): number {
  return retryAfterUs > 0 ? Math.ceil(retryAfterUs / 1000) : 0;
}

function requireDuration(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_DURATION_MS) {
    throw new RangeError(`${name} must be a positive integer count of milliseconds up to 1e12, got ${value}`);
  }
}
