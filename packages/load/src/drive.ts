import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';
import type { LoadSession } from './load-session';
import { pickWeighted } from './random';
import type { IntervalPoint, Recorder } from './recorder';
import { ArrivalSchedule, totalDurationMs, valueAt, type Stage } from './stages';

export type Model = { kind: 'open'; stages: Stage[] } | { kind: 'closed'; stages: Stage[] };

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
}

export interface DriveOptions {
  model: Model;
  recorder: Recorder;
  /** Open model: journeys in flight at most; later arrivals are dropped and counted. */
  maxInFlight: number;
  /** How long journeys still running at the end may finish before they are cut off. */
  graceMs: number;
  /** Seconds to add to the series' times (a stretch of a longer run). */
  offsetS?: number;
  onTick?(point: IntervalPoint): void;
  signal?: AbortSignal;
}

/**
 * Runs the session's journeys under one load model for the stages' length. Open model: arrivals
 * at the stages' rate whatever the responses take (each is a journey by one user of the
 * population). Closed model: the stages' number of users, each running journeys back to back.
 */
export async function drive(session: LoadSession, options: DriveOptions): Promise<GeneratorStats> {
  const { model, recorder } = options;
  const journeys = session.options.scenario.journeys;
  const users = session.options.users;
  const start = performance.now();
  const lengthMs = totalDurationMs(model.stages);
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every thinking journey listens
  const run = { stopped: false, abort: abort.signal };
  const late = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 2,
  });
  const running = new Set<Promise<void>>();
  let dropped = 0;
  let nextUser = 0;
  /** Resolves the end-of-run wait once the last journey is done. */
  let drained: (() => void) | undefined;

  const journey = (user: number, due: number) => {
    recorder.journeyStarted();
    const chosen = pickWeighted(journeys, session.random);
    const task = chosen
      .run(session.user(user, due, recorder, run))
      .catch((error: unknown) => {
        if (!run.stopped) session.noteJourneyError(chosen.name, error);
      })
      .finally(() => {
        running.delete(task);
        if (running.size === 0) drained?.();
      });
    running.add(task);
    return task;
  };

  // One point a second: the progress line, the report's plots, the generator's own CPU.
  let cpuBefore = process.cpuUsage();
  let tickAt = start;
  const cpuShares: number[] = [];
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    const share = (cpu.user + cpu.system) / 1_000 / Math.max(1, now - tickAt);
    cpuBefore = process.cpuUsage();
    cpuShares.push(share);
    const elapsed = now - start;
    const point = recorder.tick((options.offsetS ?? 0) + elapsed / 1_000, (now - tickAt) / 1_000, {
      target: Math.round(valueAt(model.stages, Math.max(0, Math.min(elapsed, lengthMs) - 1)) * 10) / 10,
      inFlight: running.size,
      generatorCpu: Math.round(share * 1_000) / 1_000,
    });
    tickAt = now;
    options.onTick?.(point);
  };
  const ticker = setInterval(tick, 1_000);
  const stop = () => abort.abort();
  options.signal?.addEventListener('abort', stop, { once: true });

  try {
    if (model.kind === 'open') {
      const schedule = new ArrivalSchedule(model.stages);
      let due = schedule.next();
      while (due !== undefined && !abort.signal.aborted) {
        const now = performance.now() - start;
        if (due > now) {
          await sleep(Math.min(due - now, 20));
          continue;
        }
        while (due !== undefined && due <= now) {
          late.recordValue(Math.max(1, Math.round((now - due) * 1_000)));
          if (running.size >= options.maxInFlight) dropped++;
          else void journey(nextUser++ % users, start + due);
          due = schedule.next();
        }
      }
    } else {
      // Users 0..n-1 run while n (the stages' value now) covers them; a user above it ends after its journey.
      let wanted = 0;
      const loops = new Map<number, Promise<void>>();
      const userLoop = async (user: number) => {
        while (!abort.signal.aborted && user < wanted) await journey(user, performance.now());
        loops.delete(user);
      };
      while (!abort.signal.aborted) {
        const elapsed = performance.now() - start;
        if (elapsed >= lengthMs) break;
        wanted = Math.min(users, Math.round(valueAt(model.stages, elapsed)));
        for (let user = 0; user < wanted; user++) if (!loops.has(user)) loops.set(user, userLoop(user));
        await sleep(Math.min(50, lengthMs - elapsed));
      }
      wanted = 0;
    }
    // Journeys still running finish within the grace period; then thinking ones are cut short.
    if (running.size > 0) {
      const grace = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => (drained = resolve)),
        sleep(options.graceMs, undefined, { signal: grace.signal }).catch(() => undefined),
      ]);
      grace.abort(); // No timer left to keep the process alive.
    }
  } finally {
    run.stopped = true;
    abort.abort();
    clearInterval(ticker);
    options.signal?.removeEventListener('abort', stop);
    if (performance.now() - tickAt > 200) tick();
  }
  const stats: GeneratorStats = {
    cpuMean: cpuShares.length ? cpuShares.reduce((a, b) => a + b, 0) / cpuShares.length : 0,
    cpuPeak: Math.max(0, ...cpuShares),
    lateP99Ms: late.totalCount ? late.getValueAtPercentile(99) / 1_000 : 0,
    lateMaxMs: late.totalCount ? late.maxValue / 1_000 : 0,
    dropped,
  };
  late.destroy();
  return stats;
}
