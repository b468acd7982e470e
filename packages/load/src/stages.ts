import { LoadError } from './load-error';
import { parseDuration } from './parse-duration';

/** A stretch of the run: the rate (or the number of virtual users) moves linearly from `from` to `to`. */
export interface Stage {
  durationMs: number;
  from: number;
  to: number;
}

/**
 * `30s:0-200,60s:200,5s:1000,60s:200` → a ramp from 0 to 200, a minute at 200, a spike to 1000
 * and a soak back at 200. A stage is `<duration>:<value>` or `<duration>:<from>-<to>`.
 */
export function parseStages(text: string, limits: { max: number; what: string }): Stage[] {
  const stages = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^([^:]+):(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(part);
      if (!match?.[1] || !match[2]) {
        throw new LoadError(
          `a stage is <duration>:<${limits.what}> or <duration>:<from>-<to>, not "${part.slice(0, 40)}"`,
        );
      }
      const from = Number(match[2]);
      return { durationMs: parseDuration(match[1], 'a stage duration'), from, to: Number(match[3] ?? from) };
    });
  if (stages.length === 0) throw new LoadError('--stages names no stage');
  if (stages.length > 100) throw new LoadError('at most 100 stages');
  for (const stage of stages) {
    if (stage.durationMs <= 0) throw new LoadError('a stage lasts more than 0 s');
    if (Math.max(stage.from, stage.to) > limits.max) {
      throw new LoadError(
        `${limits.what} at most ${limits.max} in a stage (got ${Math.max(stage.from, stage.to)})`,
      );
    }
  }
  return stages;
}

export const totalDurationMs = (stages: readonly Stage[]): number =>
  stages.reduce((sum, stage) => sum + stage.durationMs, 0);

/** The stages' value (rate or users) `atMs` after the start; 0 once they are over. */
export function valueAt(stages: readonly Stage[], atMs: number): number {
  let start = 0;
  for (const stage of stages) {
    if (atMs < start + stage.durationMs) {
      return stage.from + ((stage.to - stage.from) * (atMs - start)) / stage.durationMs;
    }
    start += stage.durationMs;
  }
  return 0;
}

/**
 * The intended start of every arrival of an open-model run, in ms from the start: the k-th
 * arrival is due when the rate's integral reaches k. Times are exact, whatever the timers do,
 * so a late send is measured from when it was due (no coordinated omission).
 */
export class ArrivalSchedule {
  private stage = 0;
  private stageStartMs = 0;
  /** Arrivals due before the current stage began (fractional). */
  private before = 0;
  private count = 0;

  constructor(private readonly stages: readonly Stage[]) {}

  /** Arrivals handed out so far. */
  get issued(): number {
    return this.count;
  }

  /** The next arrival's intended time, or undefined when the stages are over. */
  next(): number | undefined {
    while (this.stage < this.stages.length) {
      const { durationMs, from, to } = this.stages[this.stage] as Stage;
      // N(t) = before + a·t + (b − a)·t² / 2T, rates per ms; solve N(t) = count for t.
      const a = from / 1_000;
      const curve = (to - from) / 1_000 / (2 * durationMs);
      const wanted = this.count - this.before;
      const discriminant = a * a + 4 * curve * wanted;
      if (discriminant >= 0) {
        const root = a + Math.sqrt(discriminant);
        // Due at the stage's start when the count is already reached (a ramp up from 0 starts
        // with an arrival); a stage at rate 0 throughout has none.
        const at =
          wanted <= 0 ? (from > 0 || to > 0 ? 0 : Infinity) : root > 0 ? (2 * wanted) / root : Infinity;
        if (at < durationMs - 1e-3) {
          this.count++;
          return this.stageStartMs + at;
        }
      }
      this.before += ((from + to) / 2 / 1_000) * durationMs;
      this.stageStartMs += durationMs;
      this.stage++;
    }
    return undefined;
  }
}
