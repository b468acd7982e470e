import type { RateLimitDecision, RateLimitPolicy } from './rate-limit-store';

/**
 * A policy and cost in whole microseconds. Integers keep the arithmetic exact, so the in-memory
 * store and the Lua script (whose numbers are doubles) reach identical decisions; rounding the
 * emission interval to a microsecond changes the rate by far less than clocks drift.
 */
export interface GcraParams {
  limit: number;
  burst: number;
  cost: number;
  /** Emission interval T: the steady-state gap between two requests. */
  intervalUs: number;
  /** How far ahead of now the theoretical arrival time may run: T × burst. */
  toleranceUs: number;
  /** What this request adds to the theoretical arrival time: T × cost. */
  incrementUs: number;
}

/** What a GCRA step yields, in microseconds; `tatUs` is the state to store when allowed. */
export interface GcraOutcome {
  allowed: boolean;
  tatUs: number;
  remaining: number;
  resetUs: number;
  retryAfterUs: number;
}

// Timestamps are around 1.7e15 µs since the epoch; tolerances must stay far enough below 2^53.
const MAX_TOLERANCE_US = 1e15;

export function toGcraParams(policy: RateLimitPolicy, cost = 1): GcraParams {
  const burst = policy.burst ?? policy.limit;
  requireCount('limit', policy.limit);
  requireCount('burst', burst);
  requireCount('cost', cost);
  if (!Number.isFinite(policy.windowMs) || policy.windowMs <= 0) {
    throw new RangeError(`windowMs must be a positive number, got ${policy.windowMs}`);
  }
  const intervalUs = Math.max(1, Math.round((policy.windowMs * 1000) / policy.limit));
  const toleranceUs = intervalUs * burst;
  if (toleranceUs > MAX_TOLERANCE_US) {
    throw new RangeError('windowMs × burst / limit must stay below 1e12 ms (about 31 years)');
  }
  return { limit: policy.limit, burst, cost, intervalUs, toleranceUs, incrementUs: intervalUs * cost };
}

/** One GCRA step; mirrored line for line by the Lua in gcra-script.ts. */
export function gcra(storedTatUs: number | undefined, nowUs: number, params: GcraParams): GcraOutcome {
  let tat = storedTatUs !== undefined && storedTatUs > nowUs ? storedTatUs : nowUs;
  const newTat = tat + params.incrementUs;
  const allowAt = newTat - params.toleranceUs;
  const allowed = allowAt <= nowUs;
  if (allowed) tat = newTat;
  const remaining = Math.max(0, Math.floor((nowUs + params.toleranceUs - tat) / params.intervalUs));
  return {
    allowed,
    tatUs: tat,
    remaining,
    resetUs: tat - nowUs,
    retryAfterUs: allowed ? 0 : allowAt - nowUs,
  };
}

export function toDecision(params: GcraParams, outcome: Omit<GcraOutcome, 'tatUs'>): RateLimitDecision {
  let retryAfterMs = 0;
  if (!outcome.allowed) {
    retryAfterMs =
      params.cost > params.burst ? Number.POSITIVE_INFINITY : Math.ceil(outcome.retryAfterUs / 1000);
  }
  // Rounding up: a client that waits the advertised time is never turned away for a fraction of a millisecond.
  return {
    allowed: outcome.allowed,
    limit: params.limit,
    remaining: outcome.remaining,
    resetMs: Math.ceil(outcome.resetUs / 1000),
    retryAfterMs,
  };
}

function requireCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}
