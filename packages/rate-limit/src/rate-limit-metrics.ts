import { counter, type Telemetry } from '@tern/telemetry';
import type { RateLimitDecision, RateLimitStore } from './rate-limit-store';

export interface RateLimitMetrics {
  decided(decision: RateLimitDecision): void;
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
  const errors = counter(
    telemetry.metrics,
    'tern_rate_limit_errors_total',
    'Rate limit checks that failed.',
    ['store'],
  );
  return {
    decided: (decision) => decisions.inc({ store, decision: decision.allowed ? 'allowed' : 'denied' }),
    failed: () => errors.inc({ store }),
  };
}
