import { TernError } from '@tern/errors';

/** Constructors for the queue's own errors (codes listed in the package README). */
export const queueErrors = {
  invalidTopic: (topic: string) =>
    new TernError({
      code: 'queue/invalid-topic',
      status: 400,
      title: 'Invalid Topic',
      detail: `Topic ${JSON.stringify(topic.slice(0, 200))} is not dot-separated lowercase tokens ([a-z0-9][a-z0-9_-]*).`,
      details: { topic },
    }),
  invalidHeader: (name: string) =>
    new TernError({
      code: 'queue/invalid-header',
      status: 400,
      title: 'Invalid Header',
      detail: `Header ${JSON.stringify(name.slice(0, 200))} is reserved (nats-*, tern-*) or not a plain token, or its value spans lines.`,
      details: { name },
    }),
  invalidDedupId: () =>
    new TernError({
      code: 'queue/invalid-dedup-id',
      status: 400,
      title: 'Invalid Dedup Id',
      detail: 'dedupId must be a non-empty string of at most 200 characters on one line.',
    }),
  invalidPayload: (cause: unknown) =>
    new TernError({
      code: 'queue/invalid-payload',
      status: 400,
      title: 'Invalid Payload',
      detail: 'The payload cannot be encoded as JSON.',
      cause,
    }),
  invalidConfig: (detail: string) =>
    new TernError({
      code: 'queue/invalid-config',
      status: 500,
      title: 'Invalid Queue Configuration',
      detail,
    }),
  invalidOptions: (detail: string) =>
    new TernError({ code: 'queue/invalid-options', status: 400, title: 'Invalid Consume Options', detail }),
  closed: () =>
    new TernError({
      code: 'queue/closed',
      status: 503,
      title: 'Service Unavailable',
      detail: 'The queue is closed.',
      retryable: true,
    }),
};
