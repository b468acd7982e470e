export interface RateLimitPolicy {
  /** Requests allowed per window on average. */
  limit: number;
  windowMs: number;
  /** Extra requests allowed at once above the steady rate; defaults to `limit` (a full window's worth). */
  burst?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests that would still be admitted right now. */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /**
   * Milliseconds until a request of this cost would be admitted; 0 when allowed. `Infinity` when
   * the cost exceeds the burst: such a request can never be admitted under this policy.
   */
  retryAfterMs: number;
}

/** Exponential backoff after repeated failures (e.g. wrong passwords), shared like `consume`. */
export interface BackoffPolicy {
  /** Failures tolerated before any delay. */
  freeFailures: number;
  /** Delay imposed by the first failure beyond the free ones; doubles with each further failure. */
  baseDelayMs: number;
  /** Cap on the delay. */
  maxDelayMs: number;
  /** A key with no new failure for this long forgets its failures. */
  forgetAfterMs: number;
}

export interface BackoffState {
  /** Failures recorded within the forget window. */
  failures: number;
  /** Milliseconds until another attempt is allowed; 0 when allowed now. */
  retryAfterMs: number;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Atomically checks and records `cost` against `key`: one round trip on Redis. The state of a
   * key assumes one policy; callers using several policies put the policy in the key.
   * Rejects with a RangeError when the policy or cost is not a positive integer count.
   */
  consume(key: string, policy: RateLimitPolicy, cost?: number): Promise<RateLimitDecision>;
  /**
   * Atomically records one failure against `key` and returns the state after it (one round trip on
   * Redis). After failure n > freeFailures, attempts are blocked until the failure's time plus
   * min(maxDelayMs, baseDelayMs × 2^(n − freeFailures − 1)). Backoff state lives in its own
   * namespace: the same key string used with `consume` is a different counter. Rejects with a
   * RangeError unless freeFailures is an integer ≥ 0, the three durations are positive integer
   * milliseconds, and forgetAfterMs ≥ maxDelayMs (a block must not be forgotten before it ends).
   */
  recordFailure(key: string, policy: BackoffPolicy): Promise<BackoffState>;
  /** The current state of `key`, without changing it. Validates the policy as recordFailure does. */
  backoffState(key: string, policy: BackoffPolicy): Promise<BackoffState>;
  /** Forgets the failures of `key` (after a success). */
  clearFailures(key: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type RateLimitConfig =
  { kind: 'memory'; maxKeys: number } | { kind: 'redis'; url: string; keyPrefix: string };
