import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { LoadSession } from './load-session';
import { pickWeighted } from './random';
import type { GeneratorStats } from './generator-stats';
import { newHistogram, type IntervalPoint, type Recorder } from './recorder';
import { ArrivalSchedule, totalDurationMs, valueAt, type Stage } from './stages';

/** Open: the stages are arrival rates. Closed: they are numbers of users running back to back. */
export interface Model {
  kind: 'open' | 'closed';
  stages: Stage[];
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
  const late = newHistogram();
  const running = new Set<Promise<void>>();
  let dropped = 0;
  let cutOff: number;
  let nextUser = 0;
  /** Resolves the end-of-run wait once the last journey is done. */
  let drained: (() => void) | undefined;

  const journey = (user: number, due: number) => {
    recorder.journeyStarted();
    const chosen = pickWeighted(journeys, session.random);
    const task = chosen
      .run(session.user(user, due, recorder, run))
      .catch((error: unknown) => {
        // A think cut short by the end of the run or Ctrl-C is not the scenario's fault.
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
  // Ctrl-C: nothing more is sent or recorded; what was measured so far is reported.
  const stop = () => {
    run.stopped = true;
    abort.abort();
  };
  if (options.signal?.aborted) stop();
  else options.signal?.addEventListener('abort', stop, { once: true });

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
          if (running.size >= options.maxInFlight) {
            dropped++;
            recorder.recordDropped();
          } else void journey(nextUser++ % users, start + due);
          due = schedule.next();
        }
      }
    } else {
      // Users 0..n-1 run while n (the stages' value now) covers them; a user above it ends after its journey.
      let wanted = 0;
      const loops = new Map<number, Promise<void>>();
      const userLoop = async (user: number) => {
        while (!abort.signal.aborted && user < wanted) {
          await journey(user, performance.now());
          // A journey that sends nothing (an early return) would otherwise loop in microtasks and
          // starve the timers that end the run.
          await yieldToLoop();
        }
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
    cutOff = running.size;
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
    cutOff,
  };
  late.destroy();
  return stats;
}
