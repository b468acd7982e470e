import { performance } from 'node:perf_hooks';
import { drive, type GeneratorStats, type Model } from './drive';
import { LoadSession, type SessionOptions } from './load-session';
import { Recorder, type IntervalPoint, type StepSummary } from './recorder';
import { checkThreshold, type Threshold, type ThresholdResult } from './thresholds';
import type { Stage } from './stages';

export interface LoadOptions extends SessionOptions {
  model: Model;
  thresholds: readonly Threshold[];
  maxInFlight: number;
  /**
   * Load at the first stage's level for this long before measuring, recorded nowhere: the
   * generator's own JIT and connections warm up (its first second or two run late otherwise).
   */
  warmupMs?: number;
  onTick?(point: IntervalPoint): void;
  signal?: AbortSignal;
}

export interface LoadResult {
  scenario: string;
  target: string;
  model: 'open' | 'closed';
  stages: Stage[];
  startedAt: string;
  durationS: number;
  /** Every request; `rate` is completed requests per second. */
  totals: StepSummary & { rate: number };
  steps: StepSummary[];
  series: IntervalPoint[];
  thresholds: ThresholdResult[];
  /** False when a threshold broke: the command exits non-zero. */
  passed: boolean;
  generator: GeneratorStats & { saturated: boolean };
  journeyErrors: Record<string, { count: number; first: string }>;
  warnings: string[];
}

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
      return {
        threshold: threshold.source,
        ok: false,
        actual: Number.NaN,
        unit: threshold.metric === 'errors' ? '%' : threshold.metric === 'rate' ? '/s' : 'ms',
      };
    }
    return checkThreshold(threshold, {
      latencyMs: measured.latencyMs,
      requests: measured.requests,
      errors: measured.errors,
      rate: measured.requests / Math.max(durationS, 0.001),
    });
  });
}

/** The generator's own limits, said plainly: when it was the bottleneck the numbers are not the target's. */
export function generatorWarnings(generator: GeneratorStats): string[] {
  const warnings: string[] = [];
  if (generator.cpuPeak >= 0.9) {
    warnings.push(
      `the load generator was saturated (its CPU reached ${Math.round(generator.cpuPeak * 100)} % of a core): latencies include its own delay; run it on a bigger or separate machine`,
    );
  }
  if (generator.lateP99Ms > 20) {
    warnings.push(
      `arrivals went out late (p99 ${generator.lateP99Ms.toFixed(1)} ms after they were due); the delay is counted in the latencies`,
    );
  }
  if (generator.dropped > 0) {
    warnings.push(
      `${generator.dropped} arrivals were dropped: the in-flight limit (--max-in-flight) was reached`,
    );
  }
  return warnings;
}

/** Runs a scenario against a target under one load model and measures it. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const session = new LoadSession(options);
  try {
    await session.setup();
    const first = options.model.stages[0];
    const level = first ? first.from || first.to : 0;
    if (options.warmupMs && level > 0) {
      await drive(session, {
        model: {
          kind: options.model.kind,
          stages: [{ durationMs: options.warmupMs, from: level, to: level }],
        },
        recorder: new Recorder(),
        maxInFlight: options.maxInFlight,
        graceMs: options.timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    const recorder = new Recorder();
    const startedAt = new Date();
    const started = performance.now();
    const stats = await drive(session, {
      model: options.model,
      recorder,
      maxInFlight: options.maxInFlight,
      // A request started at the very end may take its whole timeout (undici checks it to about a second).
      graceMs: options.timeoutMs + 1_000,
      ...(options.onTick ? { onTick: options.onTick } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // Until the last request ended: a target that fell behind has its late answers counted over
    // the time they really took, not over the nominal length.
    const durationS = (performance.now() - started) / 1_000;
    const totals = recorder.totals();
    const steps = recorder.stepSummaries();
    const thresholds = checkThresholds(options.thresholds, totals, steps, durationS);
    const generator = { ...stats, saturated: stats.cpuPeak >= 0.9 };
    const journeyErrors = Object.fromEntries(session.journeyErrors);
    const warnings = generatorWarnings(stats);
    for (const [journey, { count, first }] of session.journeyErrors) {
      warnings.push(`journey ${journey} threw ${count} times, first: ${first}`);
    }
    return {
      scenario: options.scenario.name,
      target: options.target.href,
      model: options.model.kind,
      stages: options.model.stages,
      startedAt: startedAt.toISOString(),
      durationS: Math.round(durationS * 1_000) / 1_000,
      totals: { ...totals, rate: totals.requests / Math.max(durationS, 0.001) },
      steps,
      series: recorder.series,
      thresholds,
      passed: thresholds.every((result) => result.ok),
      generator,
      journeyErrors,
      warnings,
    };
  } finally {
    await session.close();
  }
}
