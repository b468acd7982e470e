import { counter, histogram, type Telemetry } from '@tern/telemetry';
import type { BackoffState, RateLimitDecision, RateLimitStore } from './rate-limit-store';

export interface RateLimitMetrics {
  decided(decision: RateLimitDecision): void;
  /** A recordFailure call: one failure recorded. */
  failureRecorded(): void;
  /** A backoffState check: counted when it finds the key blocked. */
  backoffChecked(state: BackoffState): void;
  failed(): void;
  /** One call to the store carried this many checks (Redis batches a turn's checks). */
  batched(checks: number): void;
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
  const batches = histogram(
    telemetry.metrics,
    'tern_rate_limit_batch_checks',
    'Checks sent to the store in one call (Redis: the checks of one event-loop turn).',
    ['store'],
    [1, 2, 4, 8, 16, 32, 64, 128, 256],
  );
  return {
    batched: (checks) => batches.observe({ store }, checks),
    decided: (decision) => decisions.inc({ store, decision: decision.allowed ? 'allowed' : 'denied' }),
    failureRecorded: () => backoff.inc({ store, result: 'recorded' }),
    backoffChecked: (state) => {
      if (state.retryAfterMs > 0) backoff.inc({ store, result: 'blocked' });
    },
    failed: () => errors.inc({ store }),
  };
}
