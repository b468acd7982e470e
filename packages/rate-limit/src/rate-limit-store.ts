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

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Atomically checks and records `cost` against `key`: one round trip on Redis. The state of a
   * key assumes one policy; callers using several policies put the policy in the key.
   * Rejects with a RangeError when the policy or cost is not a positive integer count.
   */
  consume(key: string, policy: RateLimitPolicy, cost?: number): Promise<RateLimitDecision>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type RateLimitConfig =
  { kind: 'memory'; maxKeys: number } | { kind: 'redis'; url: string; keyPrefix: string };
