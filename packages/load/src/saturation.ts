import type { Reading } from './metrics-watcher';

export type SignalKind =
  'cpu' | 'event-loop' | 'db-pool' | 'queue-lag' | 'rate-limit' | 'replica-lag' | 'unreachable';

/** One signal of one process over a stretch of the run, against the level where it counts as saturated. */
export interface Signal {
  /** `data/instance-1`, or `load generator`. */
  component: string;
  kind: SignalKind;
  value: number;
  level: number;
  saturated: boolean;
  /** The evidence in words: "CPU 97 % of a core". */
  evidence: string;
}

/**
 * A Node process past 85 % of a core: requests queue behind each other and latency climbs
 * steeply from there (queueing), well before 100 %. Process CPU includes libuv's thread pool
 * (password hashing), so the event loop's own busy share is read too.
 */
const CPU_LEVEL = 0.85;

const pct = (share: number) => `${Math.round(share * 100)} %`;

/** The saturation signals of every process scraped between `from` and `to` (performance.now() times). */
export function signalsBetween(readings: readonly Reading[], from: number, to: number): Signal[] {
  const byProcess = new Map<string, Reading[]>();
  for (const reading of readings) {
    if (reading.at < from || reading.at > to) continue;
    const list = byProcess.get(reading.url) ?? [];
    list.push(reading);
    byProcess.set(reading.url, list);
  }
  const signals: Signal[] = [];
  for (const list of byProcess.values()) {
    const up = list.filter((reading) => reading.up);
    const component = (up[0] ?? list[0])?.process ?? '?';
    const down = list.length - up.length;
    if (down > 0 && down >= list.length / 2) {
      signals.push({
        component,
        kind: 'unreachable',
        value: down / list.length,
        level: 0.5,
        saturated: true,
        evidence: `its /metrics did not answer ${down} of ${list.length} scrapes`,
      });
    }
    const values = (key: keyof Reading) =>
      up.map((reading) => reading[key]).filter((value): value is number => typeof value === 'number');
    const mean = (numbers: number[]) => numbers.reduce((a, b) => a + b, 0) / numbers.length;

    const withCpu = up.filter((reading) => reading.cpuSeconds !== undefined);
    const first = withCpu[0];
    const last = withCpu[withCpu.length - 1];
    if (first && last && last.at - first.at >= 900) {
      const share =
        ((last.cpuSeconds as number) - (first.cpuSeconds as number)) / ((last.at - first.at) / 1_000);
      signals.push({
        component,
        kind: 'cpu',
        value: share,
        level: CPU_LEVEL,
        saturated: share >= CPU_LEVEL,
        evidence: `CPU ${pct(share)} of a core`,
      });
    }
    const utilization = values('eventLoopUtilization');
    const lag = values('eventLoopLagP99');
    if (utilization.length || lag.length) {
      const busy = utilization.length ? mean(utilization) : 0;
      const worstLag = lag.length ? Math.max(...lag) : 0;
      signals.push({
        component,
        kind: 'event-loop',
        value: Math.max(busy / CPU_LEVEL, worstLag / 0.1) * CPU_LEVEL,
        level: CPU_LEVEL,
        saturated: busy >= CPU_LEVEL || worstLag >= 0.1,
        evidence: `event loop busy ${pct(busy)} of the time, delay p99 up to ${Math.round(worstLag * 1_000)} ms`,
      });
    }
    const waiting = values('poolWaiting');
    if (waiting.length) {
      const average = mean(waiting);
      const size = values('poolSize');
      signals.push({
        component,
        kind: 'db-pool',
        value: average,
        level: 1,
        saturated: average >= 1,
        evidence: `${average.toFixed(1)} queries waiting for a database connection on average${size.length ? ` (pool of ${Math.max(...size)})` : ''}`,
      });
    }
    const jobsLag = values('jobsLag');
    if (jobsLag.length >= 2) {
      const end = jobsLag[jobsLag.length - 1] as number;
      const growing = end > (jobsLag[0] as number);
      signals.push({
        component,
        kind: 'queue-lag',
        value: end,
        level: 5,
        saturated: end >= 5 && growing,
        evidence: `oldest queued job waiting ${end.toFixed(1)} s${growing ? ' and growing' : ''}`,
      });
    }
    const limited = values('rateLimited');
    if (limited.length >= 2) {
      const rejected = (limited[limited.length - 1] as number) - (limited[0] as number);
      signals.push({
        component,
        kind: 'rate-limit',
        value: rejected,
        level: 1,
        saturated: rejected >= 1,
        evidence: `${rejected} requests refused by the rate limiter`,
      });
    }
    const replica = values('replicaLag');
    if (replica.length) {
      const worst = Math.max(...replica);
      signals.push({
        component,
        kind: 'replica-lag',
        value: worst,
        level: 1,
        saturated: worst >= 1,
        evidence: `read replica ${worst.toFixed(1)} s behind the primary`,
      });
    }
  }
  return signals;
}

/** How far past its level a signal is (capped: a thousand refusals are not a thousand times worse). */
const severity = (signal: Signal) => Math.min(3, signal.value / signal.level);

/** The saturated signals, worst first. */
export function saturated(signals: readonly Signal[]): Signal[] {
  return signals.filter((signal) => signal.saturated).sort((a, b) => severity(b) - severity(a));
}

/** The signal closest to its level, saturated or not (none when every value is 0). */
export function nearestToSaturation(signals: readonly Signal[]): Signal | undefined {
  const nearest = [...signals].sort((a, b) => severity(b) - severity(a))[0];
  return nearest && nearest.value > 0 ? nearest : undefined;
}
