import type { QueueConsumer, ServiceDeps } from '@tern/runtime';
import { counter, histogram } from '@tern/telemetry';
import { PermanentJobError } from './jobs-errors';
import { jobStore, withError, type JobRow, type JobStatus } from './job-store';
import type { JobTypeRegistry, RegisteredJobType } from './job-types';
import { turnBatch } from './turn-batch';

/** Each job type has its own topic, so a slow type cannot take the slots (or the ack deadline) of a fast one. */
export const runTopic = (type: string) => `jobs.run.${type}`;
export interface RunJobMessage {
  id: string;
}

/** The queue redelivers this long after an attempt's time limit; the attempt's lease ends a little sooner. */
const ACK_MARGIN_MS = 3_000;
const LEASE_MARGIN_MS = 2_000;

/** A job's result is kept up to this size of JSON; a larger one is replaced by a note saying so. */
const MAX_RESULT_BYTES = 64 * 1024;

export interface JobRunnerOptions {
  concurrency: number;
}

/**
 * The worker: takes `jobs.run` messages from the queue and runs each job's attempt. The job row
 * is the truth, the message only a wake-up: a message for a job already finished, cancelled or
 * dead is acked and forgotten, and two deliveries of one job never run it at once (an attempt is
 * claimed with a guarded update, under a lease of the type's time limit). A failed attempt goes
 * back to `queued` and the message is nacked, so the queue brings it back after its backoff with
 * jitter; the last failure makes the job dead: a dead letter, listed by the admin API, with its
 * error history. An attempt whose worker died (SIGKILL, a crash) is found `running` with its lease
 * past when the queue redelivers, and counted as failed.
 */
export function createJobRunner(
  deps: Pick<ServiceDeps, 'store' | 'metrics' | 'log'>,
  registry: JobTypeRegistry,
  options: JobRunnerOptions,
): QueueConsumer<RunJobMessage>[] {
  const { store } = deps;
  const finished = counter(
    deps.metrics,
    'tern_jobs_attempts_total',
    'Job attempts by how they ended: succeeded, failed (for good), retried, dead.',
    ['type', 'outcome'],
  );
  const duration = histogram(deps.metrics, 'tern_jobs_duration_seconds', 'Time one attempt of a job ran.', [
    'type',
  ]);
  const startDelay = histogram(
    deps.metrics,
    'tern_jobs_start_delay_seconds',
    'From the time a job was due (accepted, or its runAt) to the start of its first attempt.',
    ['type'],
  );

  // Jobs starting or succeeding together share a statement (a worker takes a batch of messages
  // at once): per job, about one round trip less each way.
  const claimFresh = turnBatch<{ id: string; leaseMs: number }, JobRow | undefined>(async (_type, items) => {
    const rows = await jobStore.claimFresh(
      store,
      items.map((item) => item.id),
      Date.now(),
      (items[0] as { leaseMs: number }).leaseMs,
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return items.map((item) => byId.get(item.id));
  });
  const succeed = turnBatch<{ id: string; attempt: number; result: string | null; redact: boolean }, void>(
    async (_key, items) => {
      await jobStore.succeed(store, items, Date.now());
      return items.map(() => undefined);
    },
  );

  /**
   * Starts the next attempt of a job: one statement for a fresh job (the common case), else a
   * read and a guarded update. Undefined when there is nothing to run here (finished, cancelled,
   * dead, or another worker claimed it first); throws while another worker's lease still runs,
   * so the queue brings the message back after its backoff.
   */
  async function claimAttempt(
    id: string,
    type: RegisteredJobType,
  ): Promise<{ job: JobRow; attempt: number; errors: string } | undefined> {
    const now = Date.now();
    const fresh = await claimFresh(type.type, { id, leaseMs: type.timeoutMs + LEASE_MARGIN_MS });
    if (fresh) {
      startDelay.observe({ type: type.type }, Math.max(0, now - Number(fresh.run_at)) / 1000);
      return { job: fresh, attempt: 1, errors: fresh.errors };
    }
    const job = await jobStore.byId(store, id);
    if (!job || (job.status !== 'queued' && job.status !== 'running')) return undefined;
    if (job.status === 'running' && (job.lease_until ?? 0) > now) {
      throw new Error(`job ${job.id} is running on another worker`);
    }
    let errors = job.errors;
    if (job.status === 'running') {
      errors = withError(
        errors,
        job.attempts,
        'the attempt did not finish: its worker stopped or ran out of time',
        now,
      );
    }
    if (job.attempts >= job.max_attempts) {
      if (await jobStore.bury(store, job, errors, now)) finished.inc({ type: job.type, outcome: 'dead' });
      return undefined;
    }
    if (!(await jobStore.claim(store, job, errors, now, type.timeoutMs + LEASE_MARGIN_MS))) return undefined;
    return { job, attempt: job.attempts + 1, errors };
  }

  return registry.all().map((registered) => ({
    topic: runTopic(registered.type),
    group: 'jobs',
    concurrency: options.concurrency,
    // Past its time limit an attempt is aborted; the queue waits a little longer before it
    // presumes the worker dead and delivers the message again.
    ackWaitMs: registered.timeoutMs + ACK_MARGIN_MS,
    // Attempts are counted on the job itself; the queue's limit only catches a message that
    // cannot even be looked at (the database unreachable for a long time).
    maxDeliveries: 50,
    async handle(message, ctx) {
      const type = registered;
      const claimed = await claimAttempt(message.payload.id, type);
      if (!claimed) return;
      const { job, attempt, errors } = claimed;
      const log = ctx.log.child({ jobId: job.id, jobType: job.type, attempt });
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new Error(`the attempt ran past its time limit of ${type.timeoutMs} ms`)),
        type.timeoutMs,
      );
      const started = performance.now();
      let outcome: { status: JobStatus; errors?: string; result?: string | null };
      let retry: Error | undefined;
      try {
        const result = await abortable(
          type.run(JSON.parse(job.payload) as never, {
            jobId: job.id,
            attempt,
            ownerId: job.owner_key.startsWith('u:') ? job.owner_key.slice(2) : undefined,
            log,
            signal: controller.signal,
          }),
          controller.signal,
        );
        outcome = { status: 'succeeded', result: resultJson(result) };
        log.info('job succeeded');
      } catch (error) {
        const reason = messageOf(error);
        const next = withError(errors, attempt, reason, Date.now());
        if (error instanceof PermanentJobError) {
          outcome = { status: 'failed', errors: next };
          log.warn({ error: reason }, 'job failed; not retried');
        } else if (attempt >= job.max_attempts) {
          outcome = { status: 'dead', errors: next };
          log.warn({ error: reason }, 'job failed its last attempt; it is a dead letter');
        } else {
          outcome = { status: 'queued', errors: next };
          retry = new Error(`attempt ${attempt} of job ${job.id} failed: ${reason}`);
          log.info({ error: reason }, 'job attempt failed; retried after a backoff');
        }
      } finally {
        clearTimeout(timer);
      }
      duration.observe({ type: job.type }, (performance.now() - started) / 1000);
      const redact = type.secretPayload === true;
      if (outcome.status === 'succeeded') {
        await succeed('', { id: job.id, attempt, result: outcome.result ?? null, redact });
      } else {
        // A dead job keeps its payload, secret or not, so that it can be replayed.
        await jobStore.settle(
          store,
          job.id,
          attempt,
          { ...outcome, redact: redact && outcome.status === 'failed' },
          Date.now(),
        );
      }
      finished.inc({
        type: job.type,
        outcome: outcome.status === 'queued' ? 'retried' : outcome.status,
      });
      if (retry) throw retry;
    },
  }));
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function resultJson(result: unknown): string | null {
  if (result === undefined) return null;
  const text = JSON.stringify(result);
  if (text === undefined) return null;
  return Buffer.byteLength(text) <= MAX_RESULT_BYTES
    ? text
    : JSON.stringify({ truncated: true, note: `the result exceeded ${MAX_RESULT_BYTES} bytes` });
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`;
  return String(error);
}
