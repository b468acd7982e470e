import { counter, type Telemetry } from '@tern/telemetry';
import type { BackoffState, RateLimitDecision, RateLimitStore } from './rate-limit-store';

export interface RateLimitMetrics {
  decided(decision: RateLimitDecision): void;
  /** A recordFailure call: one failure recorded. */
  failureRecorded(): void;
  /** A backoffState check: counted when it finds the key blocked. */
  backoffChecked(state: BackoffState): void;
  failed(): void;
}

export function createRateLimitMetrics(
  store: RateLimitStore['kind'],
  telemetry: Telemetry,
): RateLimitMetrics {
  const decisions = counter(
    telemetry.metrics,
    'tern_rate_limit_decisions_total',
    'Rate limit decisions by outcome.',
    ['store', 'decision'],
  );
  const backoff = counter(
    telemetry.metrics,
    'tern_rate_limit_backoff_total',
    'Backoff outcomes: failures recorded, and state checks that found the key blocked.',
    ['store', 'result'],
  );
  const errors = counter(
    telemetry.metrics,
    'tern_rate_limit_errors_total',
    'Rate limit store operations (consume and backoff) that failed.',
    ['store'],
  );
  return {
    decided: (decision) => decisions.inc({ store, decision: decision.allowed ? 'allowed' : 'denied' }),
    failureRecorded: () => backoff.inc({ store, result: 'recorded' }),
    backoffChecked: (state) => {
      if (state.retryAfterMs > 0) backoff.inc({ store, result: 'blocked' });
    },
    failed: () => errors.inc({ store }),
  };
}
