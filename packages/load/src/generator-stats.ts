/** How the load generator itself did: if it was the bottleneck, the results understate the target. */
export interface GeneratorStats {
  /** CPU of this process, as a share of one core: mean and the busiest second. */
  cpuMean: number;
  cpuPeak: number;
  /** How late arrivals were sent after they were due (open model), ms. */
  lateP99Ms: number;
  lateMaxMs: number;
  /** Arrivals not sent because `maxInFlight` journeys were already running (open model). */
  dropped: number;
  /** Journeys still running when the run ended, cut off after the grace period. */
  cutOff: number;
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
      `${generator.dropped} arrivals were dropped (counted as errors of class "dropped"): the in-flight limit (--max-in-flight) was reached`,
    );
  }
  if (generator.cutOff > 0) {
    warnings.push(
      `${generator.cutOff} journeys were still running at the end and were cut off; their last requests are not counted`,
    );
  }
  return warnings;
}

/** Stats of several stretches (a saturation search's steps) as one. */
export function mergeGeneratorStats(parts: readonly GeneratorStats[]): GeneratorStats {
  const sum = (pick: (stats: GeneratorStats) => number) =>
    parts.reduce((total, stats) => total + pick(stats), 0);
  const max = (pick: (stats: GeneratorStats) => number) => Math.max(0, ...parts.map(pick));
  return {
    cpuMean: parts.length ? sum((stats) => stats.cpuMean) / parts.length : 0,
    cpuPeak: max((stats) => stats.cpuPeak),
    lateP99Ms: max((stats) => stats.lateP99Ms),
    lateMaxMs: max((stats) => stats.lateMaxMs),
    dropped: sum((stats) => stats.dropped),
    cutOff: sum((stats) => stats.cutOff),
  };
}
