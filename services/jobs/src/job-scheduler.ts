import { CronExpressionParser } from 'cron-parser';
import type { ServiceDeps } from '@tern/runtime';
import type { Queryable, Row } from '@tern/store';
import { jobsErrors } from './jobs-errors';
import { runEvent, type JobIntake } from './job-intake';
import { jobStore } from './job-store';
import type { JobTypeRegistry } from './job-types';

export interface ScheduleRow extends Row {
  name: string;
  cron: string;
  timezone: string;
  type: string;
  payload: string;
  next_run_at: number;
  last_run_at: number | null;
  created_at: number;
  updated_at: number;
}

/** The first time after `after` (epoch ms) that `cron` fires in `timezone`; 400 when either is invalid. */
export function nextFire(cron: string, timezone: string, after: number): number {
  if (cron.length > 200 || cron.trim().split(/\s+/).length < 5) {
    throw jobsErrors.invalidCron('A cron expression has 5 fields (6 with seconds first), like "0 3 * * *".');
  }
  let next: number;
  try {
    next = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: timezone })
      .next()
      .getTime();
  } catch (error) {
    throw jobsErrors.invalidCron(
      `The cron expression or time zone is invalid: ${(error as Error).message.slice(0, 200)}`,
    );
  }
  if (!Number.isFinite(next)) throw jobsErrors.invalidCron('The cron expression never fires.');
  return next;
}

export const scheduleStore = {
  async upsert(
    q: Queryable,
    schedule: { name: string; cron: string; timezone: string; type: string; payload: string; next: number },
    now: number,
  ): Promise<void> {
    await q.execute(
      `INSERT INTO job_schedules (name, cron, timezone, type, payload, next_run_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (name) DO UPDATE SET cron = $2, timezone = $3, type = $4, payload = $5, next_run_at = $6,
         updated_at = $7`,
      [schedule.name, schedule.cron, schedule.timezone, schedule.type, schedule.payload, schedule.next, now],
    );
  },
  list: (q: Queryable) => q.query<ScheduleRow>('SELECT * FROM job_schedules ORDER BY name'),
  async byName(q: Queryable, name: string): Promise<ScheduleRow | undefined> {
    return (await q.query<ScheduleRow>('SELECT * FROM job_schedules WHERE name = $1', [name]))[0];
  },
  async remove(q: Queryable, name: string): Promise<boolean> {
    return (await q.execute('DELETE FROM job_schedules WHERE name = $1', [name])).rowCount === 1;
  },
  due: (q: Queryable, now: number) =>
    q.query<ScheduleRow>(
      'SELECT * FROM job_schedules WHERE next_run_at <= $1 ORDER BY next_run_at LIMIT 100',
      [now],
    ),
  /** Moves a schedule from the firing `fired` to `next`; false when another scheduler already did. */
  async advance(q: Queryable, name: string, fired: number, next: number, now: number): Promise<boolean> {
    const { rowCount } = await q.execute(
      `UPDATE job_schedules SET next_run_at = $3, last_run_at = $2, updated_at = $4
       WHERE name = $1 AND next_run_at = $2`,
      [name, fired, next, now],
    );
    return rowCount === 1;
  },
};

/**
 * Hands due work to the queue, in every process that runs workers: delayed jobs whose `runAt`
 * came, and cron schedules whose time came. Several schedulers may run at once: a delayed job is
 * handed over by whichever marks it dispatched first, and a schedule fires once per time because
 * moving it to its next time is a guarded update in the same transaction as the job it makes
 * (whose idempotency key, the schedule's name and time, would refuse a second anyway).
 */
export function createJobScheduler(
  deps: Pick<ServiceDeps, 'store' | 'outbox' | 'log'>,
  registry: JobTypeRegistry,
  intake: JobIntake,
  options: { intervalMs: number },
) {
  const { store } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function dispatchDelayed(now: number): Promise<number> {
    const due = await jobStore.due(store, now, 500);
    for (const { id, type } of due) {
      await store.transaction(async (tx) => {
        if (await jobStore.markDispatched(tx, id)) await deps.outbox.add(tx, runEvent(id, type, undefined));
      });
    }
    return due.length;
  }

  async function fireSchedules(now: number): Promise<void> {
    for (const schedule of await scheduleStore.due(store, now)) {
      const fired = Number(schedule.next_run_at);
      let next: number;
      try {
        // Times missed while nothing ran are not made up: the next fire is after now.
        next = nextFire(schedule.cron, schedule.timezone, Math.max(now, fired));
      } catch {
        deps.log.error({ schedule: schedule.name }, 'a stored schedule no longer parses; it is skipped');
        continue;
      }
      // A time whose job cannot be made (the type gone, or its schema no longer taking the stored
      // payload) is passed over with an error logged, so it neither blocks the schedules after it
      // nor comes back every round.
      const type = registry.get(schedule.type);
      const payload = JSON.parse(schedule.payload) as unknown;
      let refusal: string | undefined = type ? undefined : 'it names an unknown job type';
      try {
        if (type) intake.check(type, payload);
      } catch (error) {
        refusal = `its payload no longer passes the job type's checks: ${(error as Error).message}`;
      }
      await store.transaction(async (tx) => {
        if (!(await scheduleStore.advance(tx, schedule.name, fired, next, now))) return;
        if (!type || refusal) {
          deps.log.error(
            { schedule: schedule.name, jobType: schedule.type },
            `a schedule's time is skipped: ${refusal}`,
          );
          return;
        }
        await intake.enqueue(
          {
            type,
            payload,
            ownerKey: 'admin',
            idempotencyKey: `schedule:${schedule.name}:${fired}`,
            schedule: schedule.name,
          },
          tx,
        );
      });
    }
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    try {
      const seen = await dispatchDelayed(now);
      await fireSchedules(now);
      // A full batch: more are due, go again at once.
      if (seen === 500 && !stopped) return tick();
    } catch (error) {
      deps.log.warn({ err: error }, 'the job scheduler failed a round; it tries again');
    }
  }

  function loop(): void {
    if (stopped) return;
    running = tick().finally(() => {
      running = undefined;
      if (!stopped) {
        timer = setTimeout(loop, options.intervalMs);
        timer.unref();
      }
    });
  }

  return {
    start(): void {
      stopped = false;
      loop();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
