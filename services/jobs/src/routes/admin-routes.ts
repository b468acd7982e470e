import { defineRoute, Type, type Route } from '@tern/runtime';
import type { Store } from '@tern/store';
import { jobsErrors } from '../jobs-errors';
import { runEvent, type JobIntake } from '../job-intake';
import { nextFire, scheduleStore, type ScheduleRow } from '../job-scheduler';
import { jobStore } from '../job-store';
import type { JobTypeRegistry } from '../job-types';
import { DeadJobView, toDeadJobView } from '../job-view';
import type { Outbox } from '@tern/outbox';

const JobId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-fA-F-]+$' });
const TypeName = Type.String({ minLength: 1, maxLength: 100 });
const ScheduleName = Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' });
const Count = Type.Object({ count: Type.Integer() });
const ScheduleView = Type.Object({
  name: Type.String(),
  cron: Type.String(),
  timezone: Type.String(),
  type: Type.String(),
  payload: Type.Unknown(),
  nextRunAt: Type.String(),
  lastRunAt: Type.Union([Type.String(), Type.Null()]),
});

function toScheduleView(row: ScheduleRow) {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    type: row.type,
    payload: JSON.parse(row.payload) as unknown,
    nextRunAt: new Date(Number(row.next_run_at)).toISOString(),
    lastRunAt: row.last_run_at === null ? null : new Date(Number(row.last_run_at)).toISOString(),
  };
}

/** Dead letters (list, inspect, replay one or all, purge) and recurring schedules; admin only. */
export function adminRoutes(
  store: Store,
  outbox: Outbox,
  registry: JobTypeRegistry,
  intake: JobIntake,
): Route[] {
  // An unknown type (registered no more) shows nothing it might hide.
  const isSecret = (type: string) => {
    const registered = registry.get(type);
    return registered ? registered.secretPayload === true : true;
  };
  /** Back to `queued` with fresh attempts, and a worker woken, in one transaction. */
  const replay = (id: string, type: string) =>
    store.transaction(async (tx) => {
      if (!(await jobStore.revive(tx, id, Date.now()))) return false;
      await outbox.add(tx, runEvent(id, type, undefined));
      return true;
    });

  return [
    defineRoute({
      method: 'GET',
      url: '/v1/admin/jobs/dead',
      summary: 'Dead letters: jobs that used up their attempts, newest first, with their errors.',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: {
        querystring: Type.Object(
          {
            type: Type.Optional(TypeName),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
            before: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(DeadJobView) }) },
      },
    }).handle(async ({ query }) => {
      const before = query.before === undefined ? undefined : Date.parse(query.before);
      const rows = await jobStore.dead(store, query.type, query.limit ?? 100, before);
      return { status: 200, body: { items: rows.map((row) => toDeadJobView(row, isSecret(row.type))) } };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/jobs/dead/:id',
      summary: 'One dead letter: the job, its payload and its error history.',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: { params: Type.Object({ id: JobId }), response: { 200: DeadJobView } },
    }).handle(async ({ params }) => {
      const job = await jobStore.byId(store, params.id);
      if (!job) throw jobsErrors.notFound();
      if (job.status !== 'dead') throw jobsErrors.notDead(job.status);
      return { status: 200, body: toDeadJobView(job, isSecret(job.type)) };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/admin/jobs/dead/:id/replay',
      summary: 'Runs a dead job again, with a fresh set of attempts.',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: { params: Type.Object({ id: JobId }), response: { 202: Count } },
    }).handle(async ({ params }, ctx) => {
      const job = await jobStore.byId(store, params.id);
      if (!job) throw jobsErrors.notFound();
      if (!(await replay(job.id, job.type))) throw jobsErrors.notDead(job.status);
      ctx.log.info({ jobId: params.id }, 'dead job replayed');
      return { status: 202, body: { count: 1 } };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/admin/jobs/dead/replay',
      summary: 'Runs every dead job (of one type, if given) again; up to 1,000 per call.',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: {
        querystring: Type.Object({ type: Type.Optional(TypeName) }, { additionalProperties: false }),
        response: { 202: Count },
      },
    }).handle(async ({ query }, ctx) => {
      let count = 0;
      for (const job of await jobStore.dead(store, query.type, 1_000, undefined)) {
        if (await replay(job.id, job.type)) count += 1;
      }
      ctx.log.info({ count, jobType: query.type }, 'dead jobs replayed');
      return { status: 202, body: { count } };
    }),

    defineRoute({
      method: 'DELETE',
      url: '/v1/admin/jobs/dead',
      summary: 'Deletes every dead job (of one type, if given).',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: {
        querystring: Type.Object({ type: Type.Optional(TypeName) }, { additionalProperties: false }),
        response: { 200: Count },
      },
    }).handle(async ({ query }, ctx) => {
      const count = await jobStore.purgeDead(store, query.type);
      ctx.log.info({ count, jobType: query.type }, 'dead jobs purged');
      return { status: 200, body: { count } };
    }),

    defineRoute({
      method: 'PUT',
      url: '/v1/admin/jobs/schedules/:name',
      summary: 'Creates or changes a recurring job: a cron expression (5 fields, or 6 with seconds).',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: {
        params: Type.Object({ name: ScheduleName }),
        body: Type.Object(
          {
            cron: Type.String({ minLength: 1, maxLength: 200 }),
            timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            type: TypeName,
            payload: Type.Unknown(),
          },
          { additionalProperties: false },
        ),
        response: { 200: ScheduleView },
      },
    }).handle(async ({ params, body }, ctx) => {
      const type = registry.admit(body.type, ctx.identity);
      const payload = intake.check(type, body.payload);
      const timezone = body.timezone ?? 'UTC';
      const now = Date.now();
      const next = nextFire(body.cron, timezone, now);
      await scheduleStore.upsert(
        store,
        { name: params.name, cron: body.cron, timezone, type: type.type, payload, next },
        now,
      );
      ctx.log.info({ schedule: params.name, cron: body.cron, jobType: type.type }, 'schedule saved');
      const saved = await scheduleStore.byName(store, params.name);
      if (!saved) throw jobsErrors.scheduleNotFound();
      return { status: 200, body: toScheduleView(saved) };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/jobs/schedules',
      summary: 'Every recurring job.',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: { response: { 200: Type.Object({ items: Type.Array(ScheduleView) }) } },
    }).handle(async () => ({
      status: 200,
      body: { items: (await scheduleStore.list(store)).map(toScheduleView) },
    })),

    defineRoute({
      method: 'DELETE',
      url: '/v1/admin/jobs/schedules/:name',
      summary: 'Removes a recurring job (jobs it already made stay).',
      tags: ['jobs', 'admin'],
      access: 'admin',
      schema: { params: Type.Object({ name: ScheduleName }), response: { 200: Count } },
    }).handle(async ({ params }, ctx) => {
      if (!(await scheduleStore.remove(store, params.name))) throw jobsErrors.scheduleNotFound();
      ctx.log.info({ schedule: params.name }, 'schedule removed');
      return { status: 200, body: { count: 1 } };
    }),
  ];
}
