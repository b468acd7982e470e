import { performance } from 'node:perf_hooks';
import { drive } from './drive';
import { mergeGeneratorStats, type GeneratorStats } from './generator-stats';
import { LoadSession, type SessionOptions } from './load-session';
import { MetricsWatcher } from './metrics-watcher';
import { Recorder, type IntervalPoint } from './recorder';
import { resultOf, type LoadResult } from './run-load';
import { nearestToSaturation, saturated, signalsBetween, type Signal } from './saturation';
import { checkThresholds, type Threshold, type ThresholdResult } from './thresholds';

export interface FindLimitOptions extends SessionOptions {
  /** The first step's arrival rate, per second. */
  startRate: number;
  /** Each step's rate is the previous one's times this. */
  growth: number;
  maxRate: number;
  stepMs: number;
  /** The search stops after this long whatever happened. */
  maxDurationMs: number;
  thresholds: readonly Threshold[];
  /** The `/metrics` URLs of the processes under test (the gateway's and every instance's). */
  metricsUrls: readonly string[];
  maxInFlight: number;
  onTick?(point: IntervalPoint): void;
  onStep?(step: LimitStep): void;
  signal?: AbortSignal;
}

/** One constant-rate step of the search. */
export interface LimitStep {
  rate: number;
  /** Completed requests per second. */
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  errorRate: number;
  thresholds: ThresholdResult[];
  /** The thresholds held and the target answered at least 90 % of the rate. */
  passed: boolean;
  generatorCpu: number;
  /** Every signal read in this step, saturated or not. */
  signals: Signal[];
}

export interface LimitFinding {
  /** The highest rate at which every threshold held; undefined when the first step broke one. */
  sustainedRate: number | undefined;
  /** The rate at which a threshold broke, and which. */
  brokeAt: { rate: number; thresholds: string[] } | undefined;
  /**
   * The first component seen saturated, at which step's rate, with the evidence. When none
   * crossed a level before a threshold broke, the one nearest its level at that step (`nearest`).
   */
  firstSaturated: { component: string; rate: number; evidence: string[]; nearest?: true } | undefined;
  /** A sentence for the terminal and the report. */
  verdict: string;
  steps: LimitStep[];
}

/**
 * The saturation finder: constant-rate steps, each `growth` times the last, until a threshold
 * breaks, while every process's `/metrics` is read once a second. It names the first component
 * whose signals crossed their saturation level (CPU of a process at a core, a busy event loop,
 * queries waiting for the database pool, growing queue lag, rate-limit refusals, replica lag),
 * and the rate at which that happened.
 */
export async function findLimit(options: FindLimitOptions): Promise<LoadResult & { limit: LimitFinding }> {
  const session = new LoadSession(options);
  const signal = options.signal ? { signal: options.signal } : {};
  const whole = new Recorder();
  const series: IntervalPoint[] = [];
  const steps: LimitStep[] = [];
  const stats: GeneratorStats[] = [];
  const startedAt = new Date();
  let firstSaturated: LimitFinding['firstSaturated'];
  let watcher: MetricsWatcher | undefined;
  const started = performance.now();
  try {
    // First, so a wrong --metrics URL is refused before any load.
    watcher = await MetricsWatcher.start(options.metricsUrls, options.log);
    await session.setup(options.signal);
    // A warm-up step, not judged: the population signs up (password hashing) and the JIT warms.
    await drive(session, {
      model: {
        kind: 'open',
        stages: [{ durationMs: options.stepMs, from: options.startRate, to: options.startRate }],
      },
      recorder: new Recorder(),
      maxInFlight: options.maxInFlight,
      graceMs: options.timeoutMs,
      ...signal,
    });
    let rate = options.startRate;
    while (rate <= options.maxRate && performance.now() - started + options.stepMs <= options.maxDurationMs) {
      if (options.signal?.aborted) break;
      const recorder = new Recorder(whole);
      const from = performance.now();
      const step = await drive(session, {
        model: { kind: 'open', stages: [{ durationMs: options.stepMs, from: rate, to: rate }] },
        recorder,
        maxInFlight: options.maxInFlight,
        // The step's slowest requests are the ones that matter near saturation: wait for them.
        graceMs: options.timeoutMs + 1_000,
        offsetS: (from - started) / 1_000,
        onTick: (point) => {
          series.push(point);
          options.onTick?.(point);
        },
        ...signal,
      });
      if (options.signal?.aborted) break; // An interrupted step is not judged.
      await watcher.scrapeAll();
      const to = performance.now();
      stats.push(step);
      const judged = judgeStep(
        rate,
        recorder,
        step,
        options,
        signalsBetween(watcher.readings, from + 1_500, to),
      );
      steps.push(judged);
      options.onStep?.(judged);
      const worst = saturated(judged.signals);
      if (!firstSaturated && worst[0]) {
        const component = worst[0].component;
        firstSaturated = {
          component,
          rate,
          evidence: worst.filter((signal) => signal.component === component).map((signal) => signal.evidence),
        };
      }
      if (!judged.passed) break;
      rate = Math.max(rate + 1, Math.round(rate * options.growth));
    }
  } finally {
    await watcher?.stop();
    await session.close();
  }
  const broke = steps.find((step) => !step.passed);
  if (!firstSaturated && broke) {
    const nearest = nearestToSaturation(broke.signals);
    if (nearest) {
      firstSaturated = {
        component: nearest.component,
        rate: broke.rate,
        evidence: [nearest.evidence],
        nearest: true,
      };
    }
  }
  const passedSteps = steps.filter((step) => step.passed);
  const sustainedRate = passedSteps[passedSteps.length - 1]?.rate;
  const limit: LimitFinding = {
    sustainedRate,
    brokeAt: broke
      ? { rate: broke.rate, thresholds: broke.thresholds.filter((t) => !t.ok).map((t) => t.threshold) }
      : undefined,
    firstSaturated,
    verdict: verdict(sustainedRate, broke, firstSaturated),
    steps,
  };
  const result = resultOf(session, {
    recorder: whole,
    series,
    model: 'open',
    stages: steps.map((step) => ({ durationMs: options.stepMs, from: step.rate, to: step.rate })),
    startedAt,
    durationS: (performance.now() - started) / 1_000,
    generator: mergeGeneratorStats(stats),
    thresholds: broke?.thresholds ?? steps[steps.length - 1]?.thresholds ?? [],
    interrupted: options.signal?.aborted === true,
  });
  // Finding where thresholds break is the search's purpose, not a failure.
  return { ...result, passed: true, limit };
}

/** One step's numbers, its thresholds (and whether the target kept up with the rate), its signals. */
function judgeStep(
  rate: number,
  recorder: Recorder,
  generator: GeneratorStats,
  options: FindLimitOptions,
  signals: Signal[],
): LimitStep {
  const totals = recorder.totals();
  const seconds = options.stepMs / 1_000;
  const answered = totals.requests - (totals.errorsByClass.dropped ?? 0);
  const thresholds = checkThresholds(options.thresholds, totals, recorder.stepSummaries(), seconds);
  // Thresholds on latency and errors can all hold while the target answers only part of the rate.
  const keptUp = answered >= 0.9 * totals.requests && answered / seconds >= 0.9 * rate;
  if (!keptUp) {
    thresholds.push({
      threshold: 'answered ≥ 90 % of the rate',
      ok: false,
      actual: answered / seconds,
      unit: '/s',
    });
  }
  if (generator.cpuMean >= 0.9) {
    signals.push({
      component: 'load generator',
      kind: 'cpu',
      value: generator.cpuMean,
      level: 0.9,
      saturated: true,
      evidence: `the load generator's own CPU at ${Math.round(generator.cpuMean * 100)} % of a core`,
    });
  }
  return {
    rate,
    achieved: answered / seconds,
    p50Ms: totals.latencyMs.p50,
    p99Ms: totals.latencyMs.p99,
    errorRate: totals.requests ? totals.errors / totals.requests : 0,
    thresholds,
    passed: thresholds.every((result) => result.ok),
    generatorCpu: generator.cpuMean,
    signals,
  };
}

function verdict(
  sustained: number | undefined,
  broke: LimitStep | undefined,
  first: LimitFinding['firstSaturated'],
): string {
  const held =
    sustained === undefined ? 'no step held the thresholds' : `thresholds held up to ${sustained}/s`;
  const breaking = broke
    ? `; they broke at ${broke.rate}/s (${broke.thresholds
        .filter((t) => !t.ok)
        .map((t) => t.threshold)
        .join(', ')})`
    : '; no threshold broke within the search bounds';
  const who = !first
    ? '. No component showed saturation in its metrics'
    : first.nearest
      ? `. No signal crossed its saturation level; nearest to it when the thresholds broke: ${first.component} at ${first.rate}/s (${first.evidence.join('; ')})`
      : `. First to saturate: ${first.component} at ${first.rate}/s (${first.evidence.join('; ')})`;
  return `${held}${breaking}${who}.`;
}
