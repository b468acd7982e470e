import {
  headers as natsHeaders,
  JSONCodec,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import type { DeadLetter, QueueMessage } from './queue';
import { toNatsHeaders, userHeaders } from './nats-headers';
import { deadLetterStreamName } from './nats-streams';

const json = JSONCodec<unknown>();

/** Identifies one stored message as seen by one durable consumer. */
export interface DeliveryKey {
  consumer: string;
  seq: number;
}

export type NatsDeadLetters = ReturnType<typeof createNatsDeadLetters>;

/**
 * Dead letters and the error history that leads to them, both in the `<stream>_DLQ` stream: the
 * history must outlive the process that saw an error, since the next delivery may go elsewhere.
 *   <stream>_DLQ.errors.<consumer>.<seq>  one rolled-up message: the errors so far
 *   <stream>_DLQ.dead.<topic>             the dead letters, original payload and headers kept
 */
export function createNatsDeadLetters(jsm: JetStreamManager, js: JetStreamClient, stream: string) {
  const dlq = deadLetterStreamName(stream);
  const historySubject = ({ consumer, seq }: DeliveryKey) => `${dlq}.errors.${consumer}.${seq}`;

  async function history(key: DeliveryKey): Promise<string[]> {
    try {
      const stored = await jsm.streams.getMessage(dlq, { last_by_subj: historySubject(key) });
      return stored.json<string[]>();
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  return {
    async recordError(key: DeliveryKey, error: string): Promise<string[]> {
      const errors = [...(await history(key)), error];
      const rollup = natsHeaders();
      rollup.set('Nats-Rollup', 'sub');
      await js.publish(historySubject(key), json.encode(errors), { headers: rollup });
      return errors;
    },

    async clearErrors(key: DeliveryKey): Promise<void> {
      await jsm.streams.purge(dlq, { filter: historySubject(key) });
    },

    async add(key: DeliveryKey, message: QueueMessage, data: Uint8Array, group: string, errors: string[]) {
      const meta = {
        'Tern-Id': message.id,
        'Tern-Topic': message.topic,
        'Tern-Group': group,
        'Tern-Deliveries': String(message.deliveries),
        'Tern-Published-At': String(message.publishedAt.getTime()),
        'Tern-Errors': JSON.stringify(errors),
      };
      // The msgID makes a retried dead-lettering of the same delivery land once.
      await js.publish(`${dlq}.dead.${message.topic}`, data, {
        msgID: `${key.consumer}:${key.seq}`,
        headers: toNatsHeaders(message.headers, meta),
      });
    },

    /** Reads the topic's dead letters oldest first, keeping the newest `limit`. */
    async list(topic: string, limit: number): Promise<DeadLetter[]> {
      const subject = `${dlq}.dead.${topic}`;
      // Counting first avoids waiting out a pull's expiry when there is nothing to read.
      const info = await jsm.streams.info(dlq, { subjects_filter: subject });
      let remaining = info.state.subjects?.[subject] ?? 0;
      if (remaining === 0) return [];
      const reader = await js.consumers.get(dlq, { filterSubjects: subject });
      const kept: DeadLetter[] = [];
      try {
        while (remaining > 0) {
          const batch = await reader.fetch({ max_messages: Math.min(remaining, 500), expires: 1000 });
          let received = 0;
          for await (const stored of batch) {
            received++;
            kept.push(toDeadLetter(stored));
            if (kept.length > limit) kept.shift();
            // pending counts what is left for this reader: expiry by max_age can make it smaller.
            remaining = Math.min(remaining - 1, stored.info.pending);
            if (remaining === 0) batch.stop();
          }
          if (received === 0) break;
        }
      } finally {
        await reader.delete().catch(() => false);
      }
      return kept;
    },
  };
}

function toDeadLetter(stored: JsMsg): DeadLetter {
  const meta = (name: string) => stored.headers?.get(name) ?? '';
  return {
    message: {
      id: meta('Tern-Id'),
      topic: meta('Tern-Topic'),
      payload: parseOrNull(stored.data),
      headers: userHeaders(stored.headers),
      deliveries: Number(meta('Tern-Deliveries')),
      publishedAt: new Date(Number(meta('Tern-Published-At'))),
    },
    group: meta('Tern-Group'),
    errors: JSON.parse(meta('Tern-Errors') || '[]') as string[],
    deadAt: new Date(Math.floor(stored.info.timestampNanos / 1e6)),
  };
}

function parseOrNull(data: Uint8Array): unknown {
  try {
    return json.decode(data);
  } catch {
    return null;
  }
}

function isNotFound(error: unknown): boolean {
  const { code, api_error: api } = error as { code?: unknown; api_error?: { code?: number } };
  return code === '404' || api?.code === 404;
}
