import { createHash } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { DEAD_LETTER_RETENTION_MS, DEDUP_WINDOW_MS, MESSAGE_RETENTION_MS } from './queue-limits';
import type { ResolvedConsumeOptions } from './queue-input';
import { queueErrors } from './queue-errors';

const STREAM_NAME = /^[A-Za-z0-9_-]{1,100}$/;
// JetStream API errors: "stream name already in use with a different configuration", "consumer
// not found", "stream not found".
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NOT_FOUND = 10059;
// How a pull reports a missing consumer or stream: nats.js turns the server's status replies into
// errors with these messages, without an API error code. "no responders" is a pull request that
// nothing on the server took: no consumer by that name.
const MISSING_MESSAGES = new Set([
  'consumer not found',
  'stream not found',
  'consumer deleted',
  'no responders',
]);

export const deadLetterStreamName = (stream: string) => `${stream}_DLQ`;

/** Creates the message stream and its dead-letter stream, or updates them to this configuration. */
export async function ensureStreams(jsm: JetStreamManager, stream: string): Promise<void> {
  if (!STREAM_NAME.test(stream)) {
    throw queueErrors.invalidConfig(`NATS stream name ${JSON.stringify(stream)} must match ${STREAM_NAME}.`);
  }
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(DEDUP_WINDOW_MS),
  };
  await ensureStream(jsm, {
    ...common,
    name: stream,
    subjects: [`${stream}.>`],
    max_age: nanos(MESSAGE_RETENTION_MS),
  });
  const dlq = deadLetterStreamName(stream);
  await ensureStream(jsm, {
    ...common,
    name: dlq,
    subjects: [`${dlq}.>`],
    max_age: nanos(DEAD_LETTER_RETENTION_MS),
    // Error histories are one rolled-up message per delivery, read back by subject.
    allow_rollup_hdrs: true,
  });
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NAME_IN_USE) throw error;
    await jsm.streams.update(config.name, config);
  }
}

function apiErrorCode(error: unknown): number | undefined {
  const api = (error as { api_error?: { err_code?: number } } | undefined)?.api_error;
  return api?.err_code;
}

/** Whether `error` says the durable consumer or its stream no longer exists on the server. */
export function isMissingResource(error: unknown): boolean {
  const code = apiErrorCode(error);
  if (code === CONSUMER_NOT_FOUND || code === STREAM_NOT_FOUND) return true;
  return error instanceof Error && MISSING_MESSAGES.has(error.message.toLowerCase());
}

/**
 * A durable name per (group, topic), limited to what NATS allows ([A-Za-z0-9_-]). The hash keeps
 * two pairs that sanitise alike ("a.b" and "a_b") apart.
 */
export function natsConsumerName(group: string, topic: string): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60);
  const hash = createHash('sha256').update(`${group}\n${topic}`).digest('hex').slice(0, 12);
  return `${safe(group)}__${safe(topic)}_${hash}`;
}

/**
 * Creates the durable pull consumer, or updates ack_wait when it already exists (the last process
 * to start with new options wins). max_deliver stays unlimited: the client dead-letters on the
 * delivery count, so a worker dying mid-dead-letter only delays it instead of stranding the message.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  topic: string,
  options: ResolvedConsumeOptions,
): Promise<string> {
  const name = natsConsumerName(options.group, topic);
  const config = {
    durable_name: name,
    filter_subject: `${stream}.${topic}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: -1,
  };
  try {
    await jsm.consumers.add(stream, config);
  } catch (error) {
    // Newer servers refuse to create over an existing consumer with another configuration.
    await jsm.consumers.update(stream, name, { ack_wait: config.ack_wait, max_deliver: -1 }).catch(() => {
      throw error;
    });
  }
  return name;
}
