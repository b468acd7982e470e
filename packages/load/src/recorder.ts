import * as hdr from 'hdr-histogram-js';

import type { ErrorClass } from './scenario';

export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  'p99.9': number;
  max: number;
  mean: number;
}

/** One step's (or the whole run's) results. Latencies in ms, from each request's intended send time. */
export interface StepSummary {
  name: string;
  requests: number;
  errors: number;
  errorsByClass: Record<string, number>;
  latencyMs: LatencySummary;
}

/** One second of the run, as the progress line and the report's plots show it. */
export interface IntervalPoint {
  /** Seconds from the start, at the end of the interval. */
  t: number;
  /** What the run aimed at: arrivals per second (open model) or virtual users (closed). */
  target: number;
  /** Journeys started in the interval. */
  started: number;
  /** Requests completed per second. */
  rate: number;
  errors: number;
  errorsByClass: Record<string, number>;
  latencyMs: LatencySummary;
  inFlight: number;
  /** The load generator's CPU, as a share of one core. */
  generatorCpu: number;
}

/** Microseconds, 1 µs to an hour, 3 significant digits (0.1 %). */
export const newHistogram = (): hdr.Histogram =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

export function summarizeHistogram(histogram: hdr.Histogram): LatencySummary {
  const at = (percentile: number) => histogram.getValueAtPercentile(percentile) / 1_000;
  if (histogram.totalCount === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, 'p99.9': 0, max: 0, mean: 0 };
  return {
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    'p99.9': at(99.9),
    max: histogram.maxValue / 1_000,
    mean: histogram.mean / 1_000,
  };
}

const MAX_POINTS = 7_200;

interface Tally {
  histogram: hdr.Histogram;
  requests: number;
  errors: number;
  byClass: Map<string, number>;
}

const newTally = (): Tally => ({ histogram: newHistogram(), requests: 0, errors: 0, byClass: new Map() });

/** A request into a tally; `latencyUs` undefined for one never sent (no latency to speak of). */
function count(tally: Tally, latencyUs: number | undefined, error: ErrorClass | undefined): void {
  if (latencyUs !== undefined) tally.histogram.recordValue(Math.max(1, Math.round(latencyUs)));
  tally.requests++;
  if (error !== undefined) {
    tally.errors++;
    tally.byClass.set(error, (tally.byClass.get(error) ?? 0) + 1);
  }
}

/**
 * Every request's latency into HDR histograms: one per step for the whole run, and one for the
 * current second, which `tick` turns into a point of the time series and starts afresh.
 */
export class Recorder {
  private readonly steps = new Map<string, Tally>();
  private readonly total = newTally();
  private interval = newTally();
  private started = 0;
  readonly series: IntervalPoint[] = [];

  /** `into`: a whole run's recorder that also gets every request (a saturation search's steps). */
  constructor(private readonly into?: Recorder) {}

  record(step: string, latencyUs: number, error: ErrorClass | undefined): void {
    this.into?.record(step, latencyUs, error);
    let tally = this.steps.get(step);
    if (!tally) {
      if (this.steps.size >= 200) step = '(other steps)';
      tally = this.steps.get(step) ?? newTally();
      this.steps.set(step, tally);
    }
    count(tally, latencyUs, error);
    count(this.total, latencyUs, error);
    count(this.interval, latencyUs, error);
  }

  /** An arrival that was never sent: an error of class `dropped`, with no latency. */
  recordDropped(): void {
    this.into?.recordDropped();
    const step = '(dropped arrivals)';
    const tally = this.steps.get(step) ?? newTally();
    this.steps.set(step, tally);
    for (const each of [tally, this.total, this.interval]) count(each, undefined, 'dropped');
  }

  journeyStarted(): void {
    this.started++;
  }

  /** Closes the current interval (`seconds` long) and returns its point. */
  tick(
    t: number,
    seconds: number,
    extra: { target: number; inFlight: number; generatorCpu: number },
  ): IntervalPoint {
    const interval = this.interval;
    const point: IntervalPoint = {
      t: Math.round(t * 1_000) / 1_000,
      target: extra.target,
      started: this.started,
      rate: seconds > 0 ? interval.requests / seconds : 0,
      errors: interval.errors,
      errorsByClass: Object.fromEntries(interval.byClass),
      latencyMs: summarizeHistogram(interval.histogram),
      inFlight: extra.inFlight,
      generatorCpu: extra.generatorCpu,
    };
    this.series.push(point);
    // A long soak keeps its shape in bounded memory: past 2 h of points, every other one goes.
    if (this.series.length > MAX_POINTS) {
      const kept = this.series.filter((_, index) => index % 2 === 0);
      this.series.splice(0, this.series.length, ...kept);
    }
    this.interval.histogram.destroy();
    this.interval = newTally();
    this.started = 0;
    return point;
  }

  totals(): StepSummary {
    return this.summary('(all)', this.total);
  }

  stepSummaries(): StepSummary[] {
    return [...this.steps].map(([name, tally]) => this.summary(name, tally));
  }

  private summary(name: string, tally: Tally): StepSummary {
    return {
      name,
      requests: tally.requests,
      errors: tally.errors,
      errorsByClass: Object.fromEntries(tally.byClass),
      latencyMs: summarizeHistogram(tally.histogram),
    };
  }
}
