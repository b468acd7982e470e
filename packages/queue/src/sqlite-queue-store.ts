import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { DeadLetter, PublishResult, QueueMessage } from './queue';
import type { PreparedPublish } from './queue-input';
import { DEAD_LETTER_RETENTION_MS, DEDUP_WINDOW_MS, MESSAGE_RETENTION_MS } from './queue-limits';

// One delivery row per (group, message) holds that group's progress: 'ready' (claimable from
// available_at, which carries the retry backoff), 'leased' (claimed until lease_until, then
// claimable again), 'dead'. Acked rows are deleted; messages stay for the retention period so a
// group created later still gets them, like a JetStream consumer with deliver-all.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  headers TEXT NOT NULL,
  dedup_id TEXT UNIQUE,
  published_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_topic ON queue_messages (topic, seq);
CREATE INDEX IF NOT EXISTS queue_messages_published ON queue_messages (published_at);
CREATE TABLE IF NOT EXISTS queue_groups (
  topic TEXT NOT NULL,
  grp TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (topic, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_deliveries (
  topic TEXT NOT NULL,
  grp TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('ready', 'leased', 'dead')),
  deliveries INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL,
  lease_until INTEGER,
  errors TEXT NOT NULL DEFAULT '[]',
  dead_at INTEGER,
  PRIMARY KEY (topic, grp, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_deliveries_seq ON queue_deliveries (seq);
CREATE INDEX IF NOT EXISTS queue_deliveries_dead ON queue_deliveries (topic, dead_at) WHERE state = 'dead';
`;

interface MessageRow {
  seq: number;
  id: string;
  topic: string;
  payload: string;
  headers: string;
  published_at: number;
}

export interface Claimed {
  seq: number;
  message: QueueMessage;
}

export type SqliteQueueStore = ReturnType<typeof openSqliteQueueStore>;

function toMessage(row: MessageRow, deliveries: number): QueueMessage {
  return {
    id: row.id,
    topic: row.topic,
    payload: JSON.parse(row.payload) as unknown,
    headers: JSON.parse(row.headers) as Record<string, string>,
    deliveries,
    publishedAt: new Date(row.published_at),
  };
}

/** The queue's tables and every statement on them; time is passed in so callers decide "now". */
export function openSqliteQueueStore(file: string) {
  const db = new Database(file);
  // busy_timeout first: another process may hold the write lock while this one switches to WAL.
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  // Durability comes from the queue's group fsync after each publish (createWalSync), not from COMMIT itself.
  db.pragma('synchronous = NORMAL');
  db.transaction(() => db.exec(SCHEMA)).immediate();

  const findDedup = db.prepare<{ dedupId: string }, { id: string; published_at: number }>(
    'SELECT id, published_at FROM queue_messages WHERE dedup_id = $dedupId',
  );
  const expireDedup = db.prepare('UPDATE queue_messages SET dedup_id = NULL WHERE dedup_id = $dedupId');
  const insertMessage = db.prepare(
    `INSERT INTO queue_messages (id, topic, payload, headers, dedup_id, published_at)
     VALUES ($id, $topic, $payload, $headers, $dedupId, $now)`,
  );
  const fanOut = db.prepare(
    `INSERT INTO queue_deliveries (topic, grp, seq, state, available_at)
     SELECT topic, grp, $seq, 'ready', $now FROM queue_groups WHERE topic = $topic`,
  );
  const insertGroup = db.prepare(
    'INSERT OR IGNORE INTO queue_groups (topic, grp, created_at) VALUES ($topic, $group, $now)',
  );
  const backfillGroup = db.prepare(
    `INSERT OR IGNORE INTO queue_deliveries (topic, grp, seq, state, available_at)
     SELECT topic, $group, seq, 'ready', $now FROM queue_messages WHERE topic = $topic`,
  );
  const claimDue = db.prepare<
    { topic: string; group: string; now: number; leaseUntil: number; limit: number },
    { seq: number; deliveries: number }
  >(
    `UPDATE queue_deliveries
     SET state = 'leased', deliveries = deliveries + 1, lease_until = $leaseUntil
     WHERE topic = $topic AND grp = $group AND seq IN (
       SELECT seq FROM queue_deliveries
       WHERE topic = $topic AND grp = $group
         AND ((state = 'ready' AND available_at <= $now) OR (state = 'leased' AND lease_until <= $now))
       ORDER BY seq LIMIT $limit)
     RETURNING seq, deliveries`,
  );
  const getMessage = db.prepare<{ seq: number }, MessageRow>('SELECT * FROM queue_messages WHERE seq = $seq');
  const ack = db.prepare('DELETE FROM queue_deliveries WHERE topic = $topic AND grp = $group AND seq = $seq');
  // Guarded by deliveries: a worker whose lease expired must not undo the newer delivery's lease.
  const retry = db.prepare(
    `UPDATE queue_deliveries
     SET state = 'ready', available_at = $availableAt, lease_until = NULL, errors = json_insert(errors, '$[#]', $error)
     WHERE topic = $topic AND grp = $group AND seq = $seq AND state = 'leased' AND deliveries = $deliveries`,
  );
  const deadLetter = db.prepare(
    `UPDATE queue_deliveries
     SET state = 'dead', dead_at = $now, lease_until = NULL, errors = json_insert(errors, '$[#]', $error)
     WHERE topic = $topic AND grp = $group AND seq = $seq AND state = 'leased' AND deliveries = $deliveries`,
  );
  const listDead = db.prepare<
    { topic: string; limit: number },
    MessageRow & { grp: string; deliveries: number; errors: string; dead_at: number }
  >(
    `SELECT m.*, d.grp, d.deliveries, d.errors, d.dead_at
     FROM queue_deliveries d JOIN queue_messages m ON m.seq = d.seq
     WHERE d.topic = $topic AND d.state = 'dead'
     ORDER BY d.dead_at DESC, d.seq DESC LIMIT $limit`,
  );
  const sweepStatements = [
    db.prepare(`DELETE FROM queue_deliveries WHERE state = 'dead' AND dead_at < $deadCutoff`),
    db.prepare(
      `DELETE FROM queue_deliveries WHERE state <> 'dead'
       AND seq IN (SELECT seq FROM queue_messages WHERE published_at < $cutoff)`,
    ),
    db.prepare(
      `DELETE FROM queue_messages WHERE published_at < $cutoff
       AND NOT EXISTS (SELECT 1 FROM queue_deliveries d WHERE d.seq = queue_messages.seq)`,
    ),
    db.prepare(
      'UPDATE queue_messages SET dedup_id = NULL WHERE dedup_id IS NOT NULL AND published_at < $dedupCutoff',
    ),
  ];

  const publishOne = (
    topic: string,
    payload: string,
    headers: string,
    dedupId: string | null,
    now: number,
  ): PublishResult => {
    if (dedupId !== null) {
      const existing = findDedup.get({ dedupId });
      if (existing && existing.published_at > now - DEDUP_WINDOW_MS)
        return { id: existing.id, duplicate: true };
      if (existing) expireDedup.run({ dedupId });
    }
    const id = dedupId ?? randomUUID();
    const { lastInsertRowid } = insertMessage.run({ id, topic, payload, headers, dedupId, now });
    fanOut.run({ seq: lastInsertRowid, topic, now });
    return { id, duplicate: false };
  };
  /** Several publishes in one transaction, in order; a dedup id repeated among them is a duplicate too. */
  const publishMany = db.transaction(
    (items: readonly { topic: string; prepared: PreparedPublish }[], now: number): PublishResult[] =>
      items.map(({ topic, prepared }) =>
        publishOne(topic, prepared.payload, JSON.stringify(prepared.headers), prepared.dedupId ?? null, now),
      ),
  );
  const joinGroup = db.transaction((topic: string, group: string, now: number) => {
    if (insertGroup.run({ topic, group, now }).changes > 0) backfillGroup.run({ topic, group, now });
  });
  const claim = db.transaction(
    (topic: string, group: string, limit: number, ackWaitMs: number, now: number): Claimed[] =>
      claimDue
        .all({ topic, group, now, leaseUntil: now + ackWaitMs, limit })
        .sort((a, b) => a.seq - b.seq)
        .flatMap(({ seq, deliveries }) => {
          const row = getMessage.get({ seq });
          return row ? [{ seq, message: toMessage(row, deliveries) }] : [];
        }),
  );
  const sweep = db.transaction((now: number) => {
    const cutoffs = {
      cutoff: now - MESSAGE_RETENTION_MS,
      deadCutoff: now - DEAD_LETTER_RETENTION_MS,
      dedupCutoff: now - DEDUP_WINDOW_MS,
    };
    // better-sqlite3 ignores named parameters a statement does not use.
    for (const statement of sweepStatements) statement.run(cutoffs);
  });

  type Key = { topic: string; group: string; seq: number };
  return {
    /** Commits before returning; the messages survive a power loss once the WAL is synced (the caller's job). */
    publishMany: (items: readonly { topic: string; prepared: PreparedPublish }[]) =>
      publishMany.immediate(items, Date.now()),
    joinGroup: (topic: string, group: string) => joinGroup.immediate(topic, group, Date.now()),
    /** BEGIN IMMEDIATE takes the write lock first, so two processes never lease the same row at once. */
    claim: (topic: string, group: string, limit: number, ackWaitMs: number) =>
      claim.immediate(topic, group, limit, ackWaitMs, Date.now()),
    ack(key: Key): void {
      ack.run(key);
    },
    retry(key: Key & { deliveries: number; error: string; delayMs: number }): void {
      retry.run({ ...key, availableAt: Date.now() + key.delayMs });
    },
    deadLetter(key: Key & { deliveries: number; error: string }): void {
      deadLetter.run({ ...key, now: Date.now() });
    },
    deadLetters: (topic: string, limit: number): DeadLetter[] =>
      listDead
        .all({ topic, limit })
        .reverse()
        .map((row) => ({
          message: toMessage(row, row.deliveries),
          group: row.grp,
          errors: JSON.parse(row.errors) as string[],
          deadAt: new Date(row.dead_at),
        })),
    sweep: () => sweep.immediate(Date.now()),
    ping(): void {
      db.prepare('SELECT 1').get();
    },
    close: () => db.close(),
  };
}
