import { v7 as uuidv7 } from 'uuid';
import type { ServiceDeps } from '@tern/runtime';
import { createBatcher, type Queryable } from '@tern/store';
import { counter } from '@tern/telemetry';
import { jobsErrors } from './jobs-errors';
import { runTopic, type RunJobMessage } from './job-runner';
import { jobStore, type JobStatus } from './job-store';
import type { RegisteredJobType } from './job-types';

/** A payload is at most this much JSON. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** `runAt` may be at most this far ahead. */
export const MAX_DELAY_MS = 366 * 86_400_000;

export interface EnqueueRequest {
  type: RegisteredJobType;
  payload: unknown;
  /** `u:<user id>` or `admin`: whose job it is (who may read and cancel it). */
  ownerKey: string;
  idempotencyKey?: string;
  /** Epoch ms; now or earlier runs at once. */
  runAt?: number;
  schedule?: string;
  requestId?: string;
}

/**
 * Checks a job and stores it durably: the payload against its type's schema and the type's own
 * checks, then one transaction with the job row and, when it is due now, the outbox event that
 * wakes a worker (a delayed job is handed over by the scheduler when due). An idempotency key
 * already used by the owner gives back the job it made, if it was the same request.
 */
export function createJobIntake(deps: Pick<ServiceDeps, 'store' | 'outbox' | 'metrics'>) {
  const accepted = counter(deps.metrics, 'tern_jobs_accepted_total', 'Jobs accepted (stored).', ['type']);

  function check(type: RegisteredJobType, payload: unknown): string {
    const text = JSON.stringify(payload ?? null);
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) throw jobsErrors.payloadTooLarge(MAX_PAYLOAD_BYTES);
    if (!type.validate(payload)) {
      throw jobsErrors.invalidPayload(
        (type.validate.errors ?? []).map((error) => ({
          path: error.instancePath,
          message: error.message ?? 'is invalid',
        })),
      );
    }
    type.check?.(payload);
    return text;
  }

  interface Pending {
    request: EnqueueRequest;
    text: string;
    now: number;
  }

  /**
   * Stores jobs in the caller's transaction: one INSERT for them all, and the outbox events of
   * those due now. Resolves to each job's id, or undefined where its idempotency key was taken.
   */
  async function store(tx: Queryable, items: readonly Pending[]): Promise<(string | undefined)[]> {
    const jobs = items.map(({ request, text, now }) => {
      const runAt = Math.max(now, request.runAt ?? now);
      return {
        id: uuidv7(),
        type: request.type.type,
        payload: text,
        ownerKey: request.ownerKey,
        idempotencyKey: request.idempotencyKey,
        maxAttempts: request.type.maxAttempts,
        runAt,
        dispatched: runAt <= now,
        schedule: request.schedule,
        requestId: request.requestId,
        now,
      };
    });
    const inserted = await jobStore.insert(tx, jobs);
    const events = jobs
      .filter((job) => job.dispatched && inserted.has(job.id))
      .map((job) => runEvent(job.id, job.type, job.requestId));
    if (events.length > 0) await deps.outbox.add(tx, events);
    return jobs.map((job) => (inserted.has(job.id) ? job.id : undefined));
  }

  // Accepts arriving together share a transaction (group commit): under a burst, one commit per
  // batch instead of one per job.
  const batcher = createBatcher<Pending, string | undefined>({
    one: async (_table, item) => (await deps.store.transaction((tx) => store(tx, [item])))[0],
    many: (_table, items) => deps.store.transaction((tx) => store(tx, items)),
  });

  return {
    /** Validates the payload (400 problems) without storing anything. */
    check,
    /** Stores a job (in `tx` when given, else in a batch's transaction); see above. */
    async enqueue(
      request: EnqueueRequest,
      tx?: Queryable,
    ): Promise<{ id: string; status: JobStatus; created: boolean }> {
      const item = { request, text: check(request.type, request.payload), now: Date.now() };
      // The job holding the key can be purged or pruned between the refused insert and the read:
      // then the key is free again, and the insert is tried once more.
      for (let attempt = 1; ; attempt++) {
        const id = tx ? (await store(tx, [item]))[0] : await batcher.submit('jobs', item);
        if (id !== undefined) {
          accepted.inc({ type: request.type.type });
          return { id, status: 'queued', created: true };
        }
        const existing = await jobStore.byIdempotencyKey(
          tx ?? deps.store,
          request.ownerKey,
          request.idempotencyKey ?? '',
        );
        if (existing) {
          if (existing.type !== request.type.type || existing.payload !== item.text) {
            throw jobsErrors.idempotencyConflict();
          }
          return { id: existing.id, status: existing.status, created: false };
        }
        if (attempt === 2) throw new Error('an idempotency key conflicted twice with no job holding it');
      }
    },
  };
}

export type JobIntake = ReturnType<typeof createJobIntake>;

/** The outbox event that wakes a worker for job `id` of `type`. */
export function runEvent(id: string, type: string, requestId: string | undefined) {
  const message: RunJobMessage = { id };
  return {
    topic: runTopic(type),
    payload: message,
    headers: requestId ? { 'x-request-id': requestId } : undefined,
  };
}
