import { performance } from 'node:perf_hooks';
import { drive, type Model } from './drive';
import { generatorWarnings, type GeneratorStats } from './generator-stats';
import { LoadSession, type SessionOptions } from './load-session';
import { Recorder, type IntervalPoint, type StepSummary } from './recorder';
import type { Stage } from './stages';
import { checkThresholds, type Threshold, type ThresholdResult } from './thresholds';

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
  /** Every request; `rate` is answered requests per second. */
  totals: StepSummary & { rate: number };
  steps: StepSummary[];
  series: IntervalPoint[];
  thresholds: ThresholdResult[];
  /** False when a threshold broke: the command exits non-zero. */
  passed: boolean;
  /** Stopped early (Ctrl-C): the numbers cover what ran. */
  interrupted: boolean;
  generator: GeneratorStats & { saturated: boolean };
  journeyErrors: Record<string, { count: number; first: string }>;
  warnings: string[];
}

/** The parts of a result every kind of run shares, from its whole-run recorder. */
export function resultOf(
  session: LoadSession,
  run: {
    recorder: Recorder;
    series: IntervalPoint[];
    model: 'open' | 'closed';
    stages: Stage[];
    startedAt: Date;
    durationS: number;
    generator: GeneratorStats;
    thresholds: ThresholdResult[];
    interrupted: boolean;
  },
): LoadResult {
  const totals = run.recorder.totals();
  const answered = totals.requests - (totals.errorsByClass.dropped ?? 0);
  const warnings = generatorWarnings(run.generator);
  for (const [journey, { count, first }] of session.journeyErrors) {
    warnings.push(`journey ${journey} threw ${count} times, first: ${first}`);
  }
  for (const [errorClass, detail] of session.errorDetails)
    warnings.push(`first "${errorClass}" error: ${detail}`);
  if (run.interrupted) warnings.push('interrupted: the results cover the run up to then');
  return {
    scenario: session.options.scenario.name,
    target: session.options.target.href,
    model: run.model,
    stages: run.stages,
    startedAt: run.startedAt.toISOString(),
    durationS: Math.round(run.durationS * 1_000) / 1_000,
    totals: { ...totals, rate: answered / Math.max(run.durationS, 0.001) },
    steps: run.recorder.stepSummaries(),
    series: run.series,
    thresholds: run.thresholds,
    passed: run.thresholds.every((result) => result.ok),
    interrupted: run.interrupted,
    generator: { ...run.generator, saturated: run.generator.cpuPeak >= 0.9 },
    journeyErrors: Object.fromEntries(session.journeyErrors),
    warnings,
  };
}

/** Runs a scenario against a target under one load model and measures it. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const session = new LoadSession(options);
  const signal = options.signal ? { signal: options.signal } : {};
  try {
    await session.setup(options.signal);
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
        ...signal,
      });
    }
    const recorder = new Recorder();
    const startedAt = new Date();
    const started = performance.now();
    const generator = await drive(session, {
      model: options.model,
      recorder,
      maxInFlight: options.maxInFlight,
      // A request started at the very end may take its whole timeout (undici checks it to about a second).
      graceMs: options.timeoutMs + 1_000,
      ...(options.onTick ? { onTick: options.onTick } : {}),
      ...signal,
    });
    // Until the last request ended: a target that fell behind has its late answers counted over
    // the time they really took, not over the nominal length.
    const durationS = (performance.now() - started) / 1_000;
    return resultOf(session, {
      recorder,
      series: recorder.series,
      model: options.model.kind,
      stages: options.model.stages,
      startedAt,
      durationS,
      generator,
      thresholds: checkThresholds(options.thresholds, recorder.totals(), recorder.stepSummaries(), durationS),
      interrupted: options.signal?.aborted === true,
    });
  } finally {
    await session.close();
  }
}
