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
  /** Milliseconds until a request of this cost would be admitted; 0 when allowed. */
  retryAfterMs: number;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /** Atomically checks and records `cost` against `key`: one round trip on Redis. */
  consume(key: string, policy: RateLimitPolicy, cost?: number): Promise<RateLimitDecision>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type RateLimitConfig = { kind: 'memory'; maxKeys: number } | { kind: 'redis'; url: string; keyPrefix: string };
