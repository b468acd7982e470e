import { v7 as uuidv7 } from 'uuid';
import type { ServiceDeps } from '@tern/runtime';
import type { Queryable } from '@tern/store';
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

  async function store(tx: Queryable, request: EnqueueRequest, text: string, now: number) {
    const runAt = Math.max(now, request.runAt ?? now);
    const dueNow = runAt <= now;
    const id = uuidv7();
    const inserted = await jobStore.insert(tx, {
      id,
      type: request.type.type,
      payload: text,
      ownerKey: request.ownerKey,
      idempotencyKey: request.idempotencyKey,
      maxAttempts: request.type.maxAttempts,
      runAt,
      dispatched: dueNow,
      schedule: request.schedule,
      requestId: request.requestId,
      now,
    });
    if (!inserted) return undefined;
    if (dueNow) await deps.outbox.add(tx, runEvent(id, request.type.type, request.requestId));
    return id;
  }

  return {
    /** Validates the payload (400 problems) without storing anything. */
    check,
    async enqueue(
      request: EnqueueRequest,
      tx?: Queryable,
    ): Promise<{ id: string; status: JobStatus; created: boolean }> {
      const text = check(request.type, request.payload);
      const now = Date.now();
      const id = tx
        ? await store(tx, request, text, now)
        : await deps.store.transaction((inner) => store(inner, request, text, now));
      if (id === undefined) {
        const existing = await jobStore.byIdempotencyKey(
          tx ?? deps.store,
          request.ownerKey,
          request.idempotencyKey ?? '',
        );
        if (!existing) throw new Error('an idempotency key conflicted with no job');
        if (existing.type !== request.type.type || existing.payload !== text) {
          throw jobsErrors.idempotencyConflict();
        }
        return { id: existing.id, status: existing.status, created: false };
      }
      accepted.inc({ type: request.type.type });
      return { id, status: 'queued', created: true };
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
