import { fieldErrorsProblem, TernError, type FieldError } from '@tern/errors';

export const jobsErrors = {
  unknownType: (type: string) =>
    new TernError({
      code: 'jobs/unknown-type',
      status: 400,
      title: 'Bad Request',
      detail: `There is no job type "${type.slice(0, 64)}".`,
    }),
  invalidPayload: (errors: FieldError[]) =>
    new TernError({
      code: 'jobs/invalid-payload',
      status: 400,
      title: 'Bad Request',
      ...fieldErrorsProblem(errors),
    }),
  payloadTooLarge: (limit: number) =>
    new TernError({
      code: 'jobs/payload-too-large',
      status: 400,
      title: 'Bad Request',
      detail: `A job's payload may be at most ${limit} bytes of JSON.`,
    }),
  invalidRunAt: (detail: string) =>
    new TernError({ code: 'jobs/invalid-run-at', status: 400, title: 'Bad Request', detail }),
  invalidCron: (detail: string) =>
    new TernError({ code: 'jobs/invalid-cron', status: 400, title: 'Bad Request', detail }),
  refusedUrl: (detail: string) =>
    new TernError({ code: 'jobs/refused-url', status: 400, title: 'Bad Request', detail }),
  webhooksDisabled: () =>
    new TernError({
      code: 'jobs/webhooks-disabled',
      status: 400,
      title: 'Bad Request',
      detail: 'Webhook delivery is not configured on this server (TERN_WEBHOOK_SECRET).',
    }),
  forbidden: (type: string) =>
    new TernError({
      code: 'jobs/forbidden',
      status: 403,
      title: 'Forbidden',
      detail: `The caller may not enqueue "${type}" jobs.`,
    }),
  notFound: () =>
    new TernError({ code: 'jobs/not-found', status: 404, title: 'Not Found', detail: 'No such job.' }),
  scheduleNotFound: () =>
    new TernError({
      code: 'jobs/schedule-not-found',
      status: 404,
      title: 'Not Found',
      detail: 'No such schedule.',
    }),
  notCancellable: (status: string) =>
    new TernError({
      code: 'jobs/not-cancellable',
      status: 409,
      title: 'Conflict',
      detail: `The job is ${status}: only a job that has not started can be cancelled.`,
      details: { status },
    }),
  notDead: (status: string) =>
    new TernError({
      code: 'jobs/not-dead',
      status: 409,
      title: 'Conflict',
      detail: `The job is ${status}, not a dead letter.`,
      details: { status },
    }),
  idempotencyConflict: () =>
    new TernError({
      code: 'jobs/idempotency-conflict',
      status: 409,
      title: 'Conflict',
      detail: 'This idempotency key was used for a job of another type or payload.',
    }),
  exportNotReady: () =>
    new TernError({
      code: 'jobs/export-unavailable',
      status: 404,
      title: 'Not Found',
      detail: 'No export is available at this link: it expired, or it is not yours.',
    }),
};

/**
 * Thrown by a job handler for a failure that retrying cannot fix (a refused address, a 4xx from a
 * webhook endpoint): the job ends `failed` at once instead of using up its attempts.
 */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}
