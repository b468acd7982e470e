import { Type, type Static } from '@tern/runtime';
import type { AttemptError, JobRow } from './job-store';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

export const JobView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.Union(
    ['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'].map((status) => Type.Literal(status)),
  ),
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  result: Type.Unknown(),
  runAt: Time,
  createdAt: Time,
  updatedAt: Time,
  startedAt: Nullable(Time),
  finishedAt: Nullable(Time),
  statusUrl: Type.String(),
});

export const AttemptErrorView = Type.Object({
  attempt: Type.Integer(),
  at: Type.String(),
  error: Type.String(),
});

/** What the admin sees of a dead letter: the job, its payload and every error. */
export const DeadJobView = Type.Intersect([
  JobView,
  Type.Object({ payload: Type.Unknown(), errors: Type.Array(AttemptErrorView), owner: Type.String() }),
]);

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

export function toJobView(row: JobRow): Static<typeof JobView> {
  const errors = JSON.parse(row.errors) as AttemptError[];
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lastError: errors.at(-1)?.error ?? null,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    runAt: iso(row.run_at) as string,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    statusUrl: `/v1/jobs/${row.id}`,
  };
}

/** `secret`: the type's payload holds a secret (`JobType.secretPayload`), so it is not shown. */
export function toDeadJobView(row: JobRow, secret: boolean): Static<typeof DeadJobView> {
  return {
    ...toJobView(row),
    payload: secret ? { redacted: true } : (JSON.parse(row.payload) as unknown),
    errors: JSON.parse(row.errors) as AttemptError[],
    owner: row.owner_key,
  };
}
