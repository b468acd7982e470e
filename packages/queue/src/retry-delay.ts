const BASE_MS = 200;
const CAP_MS = 30_000;

/**
 * Delay before redelivering a message whose handler failed on its `deliveries`-th delivery:
 * exponential (200 ms · 2^(n-1), capped at 30 s) with "equal jitter" — half fixed, half random.
 * Full jitter can pick ~0 and hammer a struggling dependency; keeping half fixed guarantees a
 * growing floor while still spreading retries of a burst of failures.
 */
export function retryDelayMs(deliveries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, deliveries - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
