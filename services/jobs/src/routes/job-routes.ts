import { defineRoute, RawJson, Type, type Identity, type Route } from '@tern/runtime';
import type { Store } from '@tern/store';
import { jobsErrors } from '../jobs-errors';
import { MAX_DELAY_MS, type JobIntake } from '../job-intake';
import { jobStore } from '../job-store';
import type { JobTypeRegistry } from '../job-types';
import { JobView, toJobView } from '../job-view';

const JobId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-fA-F-]+$' });

/** Whose jobs a caller sees and owns: a user their own, the admin credential its own and everyone's. */
export function ownerKeyOf(identity: Identity): string {
  return identity.kind === 'user' ? `u:${identity.id}` : 'admin';
}

function seesEveryJob(identity: Identity): boolean {
  return identity.kind === 'admin' || (identity.kind === 'user' && identity.roles.includes('admin'));
}

function parseRunAt(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  // RFC 3339 with a time zone: a bare local time would mean different instants on different servers.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i.test(raw)) {
    throw jobsErrors.invalidRunAt(
      'runAt must be an RFC 3339 date-time with a time zone, like 2026-12-01T09:00:00Z.',
    );
  }
  const at = Date.parse(raw);
  if (!Number.isFinite(at)) throw jobsErrors.invalidRunAt('runAt is not a real date and time.');
  if (at > Date.now() + MAX_DELAY_MS) throw jobsErrors.invalidRunAt('runAt may be at most a year ahead.');
  return at;
}

export function jobRoutes(store: Store, registry: JobTypeRegistry, intake: JobIntake): Route[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/v1/jobs',
      summary: 'Accepts a job: answers 202 once it is stored, and a worker runs it in the background.',
      tags: ['jobs'],
      access: 'user',
      schema: {
        body: Type.Object(
          {
            type: Type.String({ minLength: 1, maxLength: 100 }),
            payload: Type.Unknown(),
            runAt: Type.Optional(Type.String({ maxLength: 64 })),
            idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({
            id: Type.String(),
            status: JobView.properties.status,
            statusUrl: Type.String(),
          }),
        },
      },
    }).handle(async ({ body }, ctx) => {
      const type = registry.admit(body.type, ctx.identity);
      const runAt = parseRunAt(body.runAt);
      const { id, status } = await intake.enqueue({
        type,
        payload: body.payload,
        ownerKey: ownerKeyOf(ctx.identity),
        idempotencyKey: body.idempotencyKey,
        runAt,
        requestId: ctx.requestId,
      });
      return {
        status: 202,
        body: { id, status, statusUrl: `/v1/jobs/${id}` },
        headers: { location: `/v1/jobs/${id}` },
      };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/jobs/:id',
      summary: "A job's status, attempts, last error and result. Users see only their own jobs.",
      tags: ['jobs'],
      access: 'user',
      schema: { params: Type.Object({ id: JobId }), response: { 200: JobView } },
    }).handle(async ({ params }, ctx) => {
      const job = await jobStore.byId(store, params.id);
      if (!job || (!seesEveryJob(ctx.identity) && job.owner_key !== ownerKeyOf(ctx.identity))) {
        throw jobsErrors.notFound();
      }
      return { status: 200, body: toJobView(job) };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/jobs/:id/export',
      summary: "An account export's file: only for the user it was made for, until it expires.",
      tags: ['jobs'],
      access: 'user',
      serializer: 'json',
      schema: {
        params: Type.Object({ id: JobId }),
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    }).handle(async ({ params }, ctx) => {
      const rows = await store.query<{ content: string }>(
        'SELECT content FROM job_exports WHERE job_id = $1 AND owner_key = $2 AND expires_at > $3',
        [params.id, ownerKeyOf(ctx.identity), Date.now()],
      );
      const row = rows[0];
      if (!row || ctx.identity.kind !== 'user') throw jobsErrors.exportNotReady();
      return {
        status: 200,
        body: new RawJson(row.content),
        headers: {
          'content-disposition': `attachment; filename="tern-export-${params.id}.json"`,
          'cache-control': 'no-store',
        },
      };
    }),

    defineRoute({
      method: 'DELETE',
      url: '/v1/jobs/:id',
      summary: 'Cancels a job that has not started yet.',
      tags: ['jobs'],
      access: 'user',
      schema: { params: Type.Object({ id: JobId }), response: { 200: JobView } },
    }).handle(async ({ params }, ctx) => {
      const owner = seesEveryJob(ctx.identity) ? undefined : ownerKeyOf(ctx.identity);
      const cancelled = await jobStore.cancel(store, params.id, owner, Date.now());
      if (!cancelled) {
        // Why not: no such job (for this caller), or it has started or finished.
        const job = await jobStore.byId(store, params.id);
        if (!job || (owner !== undefined && job.owner_key !== owner)) throw jobsErrors.notFound();
        throw jobsErrors.notCancellable(job.status);
      }
      if (registry.get(cancelled.type)?.secretPayload) await jobStore.redact(store, cancelled.id);
      ctx.log.info({ jobId: params.id, jobType: cancelled.type }, 'job cancelled');
      return { status: 200, body: toJobView(cancelled) };
    }),
  ];
}
