import type { Queryable, Row, SqlParam } from '@tern/store';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead' | 'cancelled';

export interface JobRow extends Row {
  id: string;
  type: string;
  payload: string;
  owner_key: string;
  idempotency_key: string | null;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  errors: string;
  result: string | null;
  run_at: number;
  dispatched: number;
  lease_until: number | null;
  schedule: string | null;
  request_id: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** What a secret payload (see `JobType.secretPayload`) is replaced by once its job has finished. */
export const REDACTED_PAYLOAD = '{"redacted":true}';

/** One failed attempt, kept on the job (the newest `MAX_ERRORS`). */
export interface AttemptError {
  attempt: number;
  at: string;
  error: string;
}

const MAX_ERRORS = 20;
const MAX_ERROR_LENGTH = 500;

export interface NewJob {
  id: string;
  type: string;
  payload: string;
  ownerKey: string;
  idempotencyKey: string | undefined;
  maxAttempts: number;
  runAt: number;
  dispatched: boolean;
  schedule?: string;
  requestId: string | undefined;
  now: number;
}

/** The errors of a job with one more appended (bounded in count and length). */
export function withError(errors: string, attempt: number, message: string, now: number): string {
  const list = JSON.parse(errors) as AttemptError[];
  list.push({ attempt, at: new Date(now).toISOString(), error: message.slice(0, MAX_ERROR_LENGTH) });
  return JSON.stringify(list.slice(-MAX_ERRORS));
}

/** SQL of the jobs table; every statement runs on SQLite and PostgreSQL alike. */
export const jobStore = {
  /**
   * Inserts jobs in one statement; resolves to the ids inserted. A job whose owner already has one
   * under its idempotency key is left out (nothing inserted for it).
   */
  async insert(q: Queryable, jobs: readonly NewJob[]): Promise<Set<string>> {
    const params: SqlParam[] = [];
    const rows = jobs.map((job) => {
      const at = params.length;
      params.push(
        job.id,
        job.type,
        job.payload,
        job.ownerKey,
        job.idempotencyKey ?? null,
        job.maxAttempts,
        job.runAt,
        job.dispatched ? 1 : 0,
        job.schedule ?? null,
        job.requestId ?? null,
        job.now,
      );
      const p = (n: number) => `$${at + n}`;
      return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, 'queued', ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, ${p(10)}, ${p(11)}, ${p(11)})`;
    });
    const inserted = await q.query<{ id: string }>(
      `INSERT INTO jobs (id, type, payload, owner_key, idempotency_key, status, max_attempts, run_at,
         dispatched, schedule, request_id, created_at, updated_at)
       VALUES ${rows.join(', ')}
       ON CONFLICT (owner_key, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id`,
      params,
    );
    return new Set(inserted.map((row) => row.id));
  },

  async byId(q: Queryable, id: string): Promise<JobRow | undefined> {
    const rows = await q.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0];
  },

  async byIdempotencyKey(q: Queryable, ownerKey: string, key: string): Promise<JobRow | undefined> {
    const rows = await q.query<JobRow>('SELECT * FROM jobs WHERE owner_key = $1 AND idempotency_key = $2', [
      ownerKey,
      key,
    ]);
    return rows[0];
  },

  /**
   * Starts the first attempt of the jobs among `ids` still queued and never tried, in one
   * statement: the common case. Jobs in any other state are not in the answer (the caller reads
   * them and decides).
   */
  claimFresh(q: Queryable, ids: readonly string[], now: number, leaseMs: number): Promise<JobRow[]> {
    return q.query<JobRow>(
      `UPDATE jobs SET status = 'running', attempts = 1, lease_until = $2, started_at = $1, updated_at = $1
       WHERE id IN (${ids.map((_, index) => `$${index + 3}`).join(', ')}) AND status = 'queued' AND attempts = 0
       RETURNING *`,
      [now, now + leaseMs, ...ids],
    );
  },

  /**
   * Ends running attempts that succeeded, in one statement: each job's attempt and result; the
   * payload of those marked `redact` is replaced by `REDACTED_PAYLOAD`.
   */
  async succeed(
    q: Queryable,
    done: readonly { id: string; attempt: number; result: string | null; redact: boolean }[],
    now: number,
  ): Promise<void> {
    const params: SqlParam[] = [now];
    const results: string[] = [];
    const payloads: string[] = [];
    const matches: string[] = [];
    for (const { id, attempt, result, redact } of done) {
      const at = params.length;
      params.push(id, attempt, result);
      results.push(`WHEN $${at + 1} THEN $${at + 3}`);
      if (redact) payloads.push(`WHEN $${at + 1} THEN '${REDACTED_PAYLOAD}'`);
      matches.push(`(id = $${at + 1} AND attempts = $${at + 2})`);
    }
    // Every parameter must be used (PostgreSQL cannot type one that is not): the constant is inline.
    const payload = payloads.length > 0 ? `, payload = CASE id ${payloads.join(' ')} ELSE payload END` : '';
    await q.execute(
      `UPDATE jobs SET status = 'succeeded', result = CASE id ${results.join(' ')} END, lease_until = NULL,
         updated_at = $1, finished_at = $1${payload}
       WHERE status = 'running' AND (${matches.join(' OR ')})`,
      params,
    );
  },

  /**
   * Starts attempt `attempts + 1` of a job seen as `seen` (status and attempts unchanged since):
   * false when another worker got there first.
   */
  async claim(q: Queryable, seen: JobRow, errors: string, now: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await q.execute(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, errors = $4, lease_until = $5,
         started_at = $3, updated_at = $3
       WHERE id = $1 AND attempts = $2 AND status IN ('queued', 'running')`,
      [seen.id, seen.attempts, now, errors, now + leaseMs],
    );
    return rowCount === 1;
  },

  /**
   * Ends the running attempt `attempt`: a final status, or back to `queued` for a retry. With
   * `redact`, the payload is replaced by `REDACTED_PAYLOAD`.
   */
  async settle(
    q: Queryable,
    id: string,
    attempt: number,
    outcome: { status: JobStatus; errors?: string; result?: string | null; redact?: boolean },
    now: number,
  ): Promise<boolean> {
    const final = outcome.status !== 'queued';
    const { rowCount } = await q.execute(
      `UPDATE jobs SET status = $3, errors = COALESCE($4, errors), result = COALESCE($5, result),
         lease_until = NULL, updated_at = $6, finished_at = $7, payload = COALESCE($8, payload)
       WHERE id = $1 AND attempts = $2 AND status = 'running'`,
      [
        id,
        attempt,
        outcome.status,
        outcome.errors ?? null,
        outcome.result ?? null,
        now,
        final ? now : null,
        outcome.redact ? REDACTED_PAYLOAD : null,
      ],
    );
    return rowCount === 1;
  },

  /** Replaces a job's payload by `REDACTED_PAYLOAD` (a cancelled job whose payload is a secret). */
  async redact(q: Queryable, id: string): Promise<void> {
    await q.execute('UPDATE jobs SET payload = $2 WHERE id = $1', [id, REDACTED_PAYLOAD]);
  },

  /** A job that used up its attempts without starting another (the last one was interrupted). */
  async bury(q: Queryable, seen: JobRow, errors: string, now: number): Promise<boolean> {
    const { rowCount } = await q.execute(
      `UPDATE jobs SET status = 'dead', errors = $3, lease_until = NULL, updated_at = $4, finished_at = $4
       WHERE id = $1 AND attempts = $2 AND status IN ('queued', 'running')`,
      [seen.id, seen.attempts, errors, now],
    );
    return rowCount === 1;
  },

  /**
   * Cancels a job that has not started; `ownerKey` undefined: any owner's (the admin). Resolves to
   * the cancelled job, or undefined when there was none to cancel.
   */
  async cancel(
    q: Queryable,
    id: string,
    ownerKey: string | undefined,
    now: number,
  ): Promise<JobRow | undefined> {
    const rows = await q.query<JobRow>(
      `UPDATE jobs SET status = 'cancelled', updated_at = $2, finished_at = $2
       WHERE id = $1 AND status = 'queued' AND attempts = 0 AND (CAST($3 AS TEXT) IS NULL OR owner_key = $3)
       RETURNING *`,
      [id, now, ownerKey ?? null],
    );
    return rows[0];
  },

  /** Delayed jobs now due that were not yet handed to the queue, oldest first. */
  due(q: Queryable, now: number, limit: number): Promise<{ id: string; type: string }[]> {
    return q.query<{ id: string; type: string }>(
      `SELECT id, type FROM jobs WHERE dispatched = 0 AND run_at <= $1 ORDER BY run_at LIMIT $2`,
      [now, limit],
    );
  },

  /** Marks a job handed to the queue; false when another scheduler did it first. */
  async markDispatched(q: Queryable, id: string): Promise<boolean> {
    const { rowCount } = await q.execute('UPDATE jobs SET dispatched = 1 WHERE id = $1 AND dispatched = 0', [
      id,
    ]);
    return rowCount === 1;
  },

  async dead(
    q: Queryable,
    type: string | undefined,
    limit: number,
    before: number | undefined,
  ): Promise<JobRow[]> {
    return q.query<JobRow>(
      `SELECT * FROM jobs WHERE status = 'dead' AND (CAST($1 AS TEXT) IS NULL OR type = $1)
         AND (CAST($2 AS BIGINT) IS NULL OR updated_at < $2)
       ORDER BY updated_at DESC, id DESC LIMIT $3`,
      [type ?? null, before ?? null, limit],
    );
  },

  /** A dead job back to `queued` with a fresh set of attempts (its error history kept). */
  async revive(q: Queryable, id: string, now: number): Promise<boolean> {
    const { rowCount } = await q.execute(
      `UPDATE jobs SET status = 'queued', attempts = 0, dispatched = 1, run_at = $2, updated_at = $2,
         finished_at = NULL, started_at = NULL
       WHERE id = $1 AND status = 'dead'`,
      [id, now],
    );
    return rowCount === 1;
  },

  async purgeDead(q: Queryable, type: string | undefined): Promise<number> {
    const { rowCount } = await q.execute(
      `DELETE FROM jobs WHERE status = 'dead' AND (CAST($1 AS TEXT) IS NULL OR type = $1)`,
      [type ?? null],
    );
    return rowCount;
  },

  /** Finished jobs older than `before` are deleted (their results and exports with them). */
  async pruneFinished(q: Queryable, before: number): Promise<number> {
    const { rowCount } = await q.execute(
      `DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 AND status <> 'dead'`,
      [before],
    );
    return rowCount;
  },
};
