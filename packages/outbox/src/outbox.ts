import { randomUUID } from 'node:crypto';
import { TOPIC_PATTERN } from '@tern/queue';
import type { Migration, Queryable } from '@tern/store';

export interface OutboxEvent {
  topic: string;
  payload: unknown;
  headers?: Record<string, string>;
}

/**
 * Writes events in the caller's transaction, so an event exists exactly when the write that
 * caused it committed. The relay publishes them to the queue afterwards, at least once.
 */
export interface Outbox {
  add(tx: Queryable, events: OutboxEvent | readonly OutboxEvent[]): Promise<string[]>;
}

/** The runtime applies these under the service name `tern.outbox` before any service starts. */
export const OUTBOX_MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'create-outbox',
    sql: {
      sqlite: `CREATE TABLE tern_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        headers TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        claimed_by TEXT,
        claimed_until INTEGER,
        sent_at INTEGER
      );
      CREATE INDEX tern_outbox_pending ON tern_outbox (id) WHERE sent_at IS NULL;`,
      postgres: `CREATE TABLE tern_outbox (
        id BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        headers TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        claimed_by TEXT,
        claimed_until BIGINT,
        sent_at BIGINT
      );
      CREATE INDEX tern_outbox_pending ON tern_outbox (id) WHERE sent_at IS NULL;`,
    },
  },
];

export function createOutbox(): Outbox {
  return {
    async add(tx, events) {
      const list = Array.isArray(events) ? events : [events as OutboxEvent];
      const ids: string[] = [];
      for (const event of list) {
        // Fail inside the transaction, so a bad topic rolls back the write instead of stalling the relay.
        if (!TOPIC_PATTERN.test(event.topic))
          throw new Error(`invalid outbox topic: ${JSON.stringify(event.topic)}`);
        const eventId = randomUUID();
        await tx.execute(
          'INSERT INTO tern_outbox (event_id, topic, payload, headers, created_at) VALUES ($1, $2, $3, $4, $5)',
          [
            eventId,
            event.topic,
            JSON.stringify(event.payload ?? null),
            JSON.stringify(event.headers ?? {}),
            Date.now(),
          ],
        );
        ids.push(eventId);
      }
      return ids;
    },
  };
}
