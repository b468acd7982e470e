import { randomUUID } from 'node:crypto';
import { preparePublish } from '@tern/queue';
import type { Migration, Queryable } from '@tern/store';
import { activeSpan, injectTraceHeaders, SpanKind, type Tracer } from '@tern/telemetry';

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
  {
    id: 2,
    name: 'outbox-attempts',
    sql: {
      sqlite: `ALTER TABLE tern_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tern_outbox ADD COLUMN last_error TEXT;
        ALTER TABLE tern_outbox ADD COLUMN failed_at INTEGER;`,
      postgres: `ALTER TABLE tern_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tern_outbox ADD COLUMN last_error TEXT;
        ALTER TABLE tern_outbox ADD COLUMN failed_at BIGINT;`,
    },
  },
  {
    // Published rows are deleted rather than marked sent and kept for an hour: marking rewrote
    // each row (a non-HOT update, since sent_at was in the pending index's predicate) on top of
    // the claim, so an event cost three row versions and their index entries. The pending index
    // is the primary key's order now. On PostgreSQL free space is left in each page so the
    // claim's update stays on the page (HOT) and adds no index entries, and autovacuum is told to
    // clean the table after every thousand dead rows rather than a fifth of the table: it is a
    // queue, nearly empty and churning, and the claim's scan walks the dead rows until they go.
    id: 3,
    name: 'outbox-delete-on-publish',
    sql: {
      sqlite: `DELETE FROM tern_outbox WHERE sent_at IS NOT NULL;
        DROP INDEX tern_outbox_pending;
        ALTER TABLE tern_outbox DROP COLUMN sent_at;`,
      postgres: `DELETE FROM tern_outbox WHERE sent_at IS NOT NULL;
        DROP INDEX tern_outbox_pending;
        ALTER TABLE tern_outbox DROP COLUMN sent_at;
        ALTER TABLE tern_outbox SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0,
          autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0,
          autovacuum_vacuum_insert_threshold = 1000);`,
    },
  },
];

/**
 * `added` hears of every add, after its statement ran (its transaction may not have committed
 * yet): the host tells this process's relay to look soon.
 */
export function createOutbox(options: { added?: () => void; tracer?: Tracer } = {}): Outbox {
  /**
   * The headers an event goes out with: its own, and the trace it belongs to. Inside a sampled
   * request a `publish` span marks the hop and is what the consumer's span continues; otherwise
   * the active trace's ids are passed on as they are.
   */
  function withTrace(topic: string, headers: Record<string, string>): Record<string, string> {
    if (headers.traceparent) return headers;
    const active = activeSpan();
    if (!active) return headers;
    const traced = { ...headers };
    if (options.tracer && active.isRecording()) {
      const span = options.tracer.startSpan(`publish ${topic}`, {
        kind: SpanKind.PRODUCER,
        attributes: { 'messaging.destination.name': topic, 'messaging.operation.type': 'send' },
      });
      injectTraceHeaders(span, traced);
      span.end();
    } else injectTraceHeaders(active, traced);
    return traced;
  }

  return {
    async add(tx, events) {
      const list = Array.isArray(events) ? events : [events as OutboxEvent];
      if (list.length === 0) return [];
      const ids: string[] = [];
      const params: (string | number)[] = [];
      for (const event of list) {
        // The queue's own publish checks, run inside the transaction: an event the queue would
        // refuse rolls back the write instead of committing and then stalling in the relay.
        const prepared = preparePublish(event.topic, event.payload, {
          headers: withTrace(event.topic, event.headers ?? {}),
        });
        const eventId = randomUUID();
        params.push(eventId, event.topic, prepared.payload, JSON.stringify(prepared.headers), Date.now());
        ids.push(eventId);
      }
      // One statement for the lot, rows in the order given (the relay publishes by id).
      const rows = ids.map(
        (_, row) => `(${[1, 2, 3, 4, 5].map((column) => `$${row * 5 + column}`).join(', ')})`,
      );
      await tx.execute(
        `INSERT INTO tern_outbox (event_id, topic, payload, headers, created_at) VALUES ${rows.join(', ')}`,
        params,
      );
      options.added?.();
      return ids;
    },
  };
}
