import { LoadError } from './load-error';
import { parseDuration } from './parse-duration';
import type { StepSummary } from './recorder';

export type ThresholdMetric = 'p50' | 'p90' | 'p95' | 'p99' | 'p99.9' | 'max' | 'mean' | 'errors' | 'rate';
type Operator = '<' | '<=' | '>' | '>=';

/** `p99<250ms`, `errors<0.1%`, `rate>=500`, or one step's: `login:p95<400ms`. */
export interface Threshold {
  source: string;
  step: string | undefined;
  metric: ThresholdMetric;
  operator: Operator;
  /** Milliseconds for latencies, a fraction (0.001) for errors, per second for rate. */
  limit: number;
}

/** What a threshold is checked against: one step, or all of them. */
export interface ThresholdInput {
  latencyMs: Record<'p50' | 'p90' | 'p95' | 'p99' | 'p99.9' | 'max' | 'mean', number>;
  requests: number;
  errors: number;
  /** Completed requests per second. */
  rate: number;
}

export interface ThresholdResult {
  threshold: string;
  ok: boolean;
  /** The measured value, in the threshold's unit (ms, %, /s). */
  actual: number;
  unit: 'ms' | '%' | '/s';
}

const LATENCY = new Set(['p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'mean']);

export function parseThreshold(source: string): Threshold {
  const match =
    /^\s*(?:([\w.-]{1,64}):)?(p50|p90|p95|p99\.9|p99|max|mean|errors|rate)\s*(<=|>=|<|>)\s*(\S+)\s*$/.exec(
      source,
    );
  if (!match?.[2] || !match[3] || !match[4]) {
    throw new LoadError(
      `a threshold looks like "p99<250ms", "errors<0.1%", "rate>=500" or "login:p95<400ms", not "${source.slice(0, 60)}"`,
    );
  }
  const metric = match[2] as ThresholdMetric;
  const value = match[4];
  let limit: number;
  if (LATENCY.has(metric)) {
    // A unit is required: is "p99<250" 250 ms or 250 s?
    if (!/[a-z]$/.test(value))
      throw new LoadError(`a latency limit needs its unit: "${metric}<${value}ms" or "…s"`);
    limit = parseDuration(value, `the limit of "${source.slice(0, 60)}"`);
  } else if (metric === 'errors') {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
    limit = percent ? Number(percent[1]) / 100 : Number(value);
    if (!Number.isFinite(limit) || limit < 0 || limit > 1) {
      throw new LoadError(
        `an error threshold is a share: "errors<0.1%" or "errors<0.001", not "${value.slice(0, 20)}"`,
      );
    }
  } else {
    limit = Number(value.replace(/\/s$/, ''));
    if (!Number.isFinite(limit) || limit < 0)
      throw new LoadError(`a rate threshold is per second: "rate>=500"`);
  }
  return { source: source.trim(), step: match[1], metric, operator: match[3] as Operator, limit };
}

const unitOf = (metric: ThresholdMetric): ThresholdResult['unit'] =>
  metric === 'errors' ? '%' : metric === 'rate' ? '/s' : 'ms';

/** Thresholds against the whole run (or the step they name); one naming a step that never ran fails. */
export function checkThresholds(
  thresholds: readonly Threshold[],
  totals: StepSummary,
  steps: readonly StepSummary[],
  durationS: number,
): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const measured =
      threshold.step === undefined ? totals : steps.find((step) => step.name === threshold.step);
    if (!measured || measured.requests === 0) {
      return { threshold: threshold.source, ok: false, actual: Number.NaN, unit: unitOf(threshold.metric) };
    }
    return checkThreshold(threshold, {
      latencyMs: measured.latencyMs,
      requests: measured.requests,
      errors: measured.errors,
      // Answered requests per second: dropped arrivals were never sent.
      rate: (measured.requests - (measured.errorsByClass.dropped ?? 0)) / Math.max(durationS, 0.001),
    });
  });
}

export function checkThreshold(threshold: Threshold, input: ThresholdInput): ThresholdResult {
  const { metric, operator, limit } = threshold;
  const measured =
    metric === 'errors'
      ? input.requests === 0
        ? 0
        : input.errors / input.requests
      : metric === 'rate'
        ? input.rate
        : input.latencyMs[metric];
  const ok =
    operator === '<'
      ? measured < limit
      : operator === '<='
        ? measured <= limit
        : operator === '>'
          ? measured > limit
          : measured >= limit;
  return {
    threshold: threshold.source,
    ok,
    actual: metric === 'errors' ? measured * 100 : measured,
    unit: unitOf(metric),
  };
}
