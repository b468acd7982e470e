import type { ConsumeOptions, PublishOptions } from './queue';
import { queueErrors } from './queue-errors';

export const TOPIC_PATTERN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

// NATS header names are tokens without ':' or whitespace; both implementations apply the same
// rule so that a message accepted by the embedded queue is accepted in production too.
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const RESERVED_HEADER = /^(nats|tern)-/i;

export function assertTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length > 200 || !TOPIC_PATTERN.test(topic)) {
    throw queueErrors.invalidTopic(String(topic));
  }
}

function assertHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (
      !HEADER_NAME.test(name) ||
      RESERVED_HEADER.test(name) ||
      typeof value !== 'string' ||
      /[\r\n]/.test(value)
    ) {
      throw queueErrors.invalidHeader(name);
    }
  }
}

function assertDedupId(dedupId: string | undefined): void {
  if (dedupId === undefined) return;
  if (typeof dedupId !== 'string' || dedupId.length === 0 || dedupId.length > 200 || /[\r\n]/.test(dedupId)) {
    throw queueErrors.invalidDedupId();
  }
}

export interface PreparedPublish {
  /** JSON text; `undefined` becomes `null` so it round-trips as a value. */
  payload: string;
  headers: Record<string, string>;
  dedupId: string | undefined;
}

/** Validates a publish the same way on every implementation, so no caller learns a rule only in production. */
export function preparePublish(topic: string, payload: unknown, options: PublishOptions): PreparedPublish {
  assertTopic(topic);
  const headers = options.headers ?? {};
  assertHeaders(headers);
  assertDedupId(options.dedupId);
  let text: string | undefined;
  try {
    text = JSON.stringify(payload ?? null) as string | undefined;
  } catch (error) {
    throw queueErrors.invalidPayload(error);
  }
  // JSON.stringify returns undefined for a bare function or symbol.
  if (text === undefined) throw queueErrors.invalidPayload(undefined);
  return { payload: text, headers, dedupId: options.dedupId };
}

export type ResolvedConsumeOptions = Required<ConsumeOptions>;

export function resolveConsumeOptions(options: ConsumeOptions): ResolvedConsumeOptions {
  const resolved = {
    group: options.group,
    concurrency: options.concurrency ?? 1,
    ackWaitMs: options.ackWaitMs ?? 30_000,
    maxDeliveries: options.maxDeliveries ?? 5,
  };
  if (typeof resolved.group !== 'string' || resolved.group.length === 0 || resolved.group.length > 200) {
    throw queueErrors.invalidOptions('group must be a non-empty string of at most 200 characters.');
  }
  if (!Number.isInteger(resolved.concurrency) || resolved.concurrency < 1) {
    throw queueErrors.invalidOptions('concurrency must be a positive integer.');
  }
  // JetStream measures ack_wait in whole milliseconds at best; below 100 ms every slow GC pause redelivers.
  if (!Number.isInteger(resolved.ackWaitMs) || resolved.ackWaitMs < 100) {
    throw queueErrors.invalidOptions('ackWaitMs must be an integer of at least 100.');
  }
  if (!Number.isInteger(resolved.maxDeliveries) || resolved.maxDeliveries < 1) {
    throw queueErrors.invalidOptions('maxDeliveries must be a positive integer.');
  }
  return resolved;
}
