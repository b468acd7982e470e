import type { Dialect, Queryable, Reader, Store } from '@tern/store';
import { bodyOf, toView, type DocumentView } from './document-store';

export type ChangeOp = 'create' | 'update' | 'delete';

export interface ChangeItem {
  op: ChangeOp;
  id: string;
  version: number;
  /** The document after the change; null for a delete (a tombstone). */
  document: DocumentView | null;
}

/**
 * The change feed for offline sync: every write appends the document's new state (for a delete,
 * its last state, so the read rule can still judge it) to `data_changes`, in the write's
 * transaction. On PostgreSQL a sequence number is taken at insert, not at commit, so a reader
 * could pass a number whose transaction commits later and miss it; writers of one collection
 * therefore take a transaction-scoped advisory lock just before appending, which makes numbers
 * follow commit order. Append last in the transaction: the lock is held until commit.
 */
export function createChangeLog(dialect: Dialect) {
  /** Appends one row in commit order (see above); returns its position. */
  async function appendRow(
    tx: Queryable,
    collection: string,
    op: ChangeOp | 'reset',
    document: DocumentView,
  ): Promise<number> {
    if (dialect === 'postgres') {
      await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('tern.data.changes:' || $1, 0))", [
        collection,
      ]);
    }
    const rows = await tx.query<{ seq: number | bigint }>(
      `INSERT INTO data_changes (collection, op, id, owner_id, version, created_at, updated_at, body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
      [
        collection,
        op,
        document.id,
        document.ownerId,
        document.version,
        document.createdAt,
        document.updatedAt,
        JSON.stringify(bodyOf(document)),
      ],
    );
    return Number(rows[0]?.seq ?? 0);
  }

  return {
    async append(tx: Queryable, collection: string, op: ChangeOp, document: DocumentView): Promise<void> {
      await appendRow(tx, collection, op, document);
    },

    /**
     * Ends a collection's feed (it was dropped): its changes are deleted and a marker row takes a
     * position after them, recorded as the pruned point. Every cursor handed out before then is
     * below it (410: resync), the head is the marker, and a following reader never receives the
     * marker itself, since it only reads positions after its cursor.
     */
    async reset(tx: Queryable, collection: string): Promise<void> {
      await tx.execute('DELETE FROM data_changes WHERE collection = $1', [collection]);
      const now = new Date().toISOString();
      const marker = await appendRow(tx, collection, 'reset', {
        id: '',
        ownerId: '',
        version: 0,
        createdAt: now,
        updatedAt: now,
      });
      await tx.execute(
        `INSERT INTO data_change_watermarks (collection, pruned_through) VALUES ($1, $2)
         ON CONFLICT (collection) DO UPDATE SET pruned_through = excluded.pruned_through`,
        [collection, marker],
      );
    },

    /** The position of the newest change: where a client that has just synced in full starts following. */
    async head(db: Reader, collection: string): Promise<number> {
      const rows = await db.query<{ head: number | bigint | null }>(
        'SELECT MAX(seq) AS head FROM data_changes WHERE collection = $1',
        [collection],
      );
      return Number(rows[0]?.head ?? 0);
    },

    /** Up to where the log was pruned: a cursor before this has missed changes for good. */
    async prunedThrough(db: Reader, collection: string): Promise<number> {
      const rows = await db.query<{ pruned_through: number | bigint }>(
        'SELECT pruned_through FROM data_change_watermarks WHERE collection = $1',
        [collection],
      );
      return Number(rows[0]?.pruned_through ?? 0);
    },

    /** Deletes changes of documents last written before `before`, recording how far it went. */
    async prune(store: Store, before: Date): Promise<number> {
      const collections = await store.query<{ collection: string }>(
        'SELECT DISTINCT collection FROM data_changes',
      );
      let removed = 0;
      for (const { collection } of collections) {
        removed += await store.transaction(async (tx) => {
          const rows = await tx.query<{ upto: number | bigint | null }>(
            'SELECT MAX(seq) AS upto FROM data_changes WHERE collection = $1 AND updated_at < $2',
            [collection, before.toISOString()],
          );
          const upto = rows[0]?.upto;
          if (upto === null || upto === undefined) return 0;
          const result = await tx.execute('DELETE FROM data_changes WHERE collection = $1 AND seq <= $2', [
            collection,
            Number(upto),
          ]);
          await tx.execute(
            `INSERT INTO data_change_watermarks (collection, pruned_through) VALUES ($1, $2)
             ON CONFLICT (collection) DO UPDATE SET pruned_through = excluded.pruned_through
             WHERE data_change_watermarks.pruned_through < excluded.pruned_through`,
            [collection, Number(upto)],
          );
          return result.rowCount;
        });
      }
      return removed;
    },

    /**
     * Changes after `since`, oldest first, only those the read rule (as SQL, parameters from $4)
     * lets the caller see. Returns the position to resume from.
     */
    async read(
      db: Reader,
      collection: string,
      since: number,
      limit: number,
      rule: { sql: string; params: (string | number | boolean | null)[] } | undefined,
    ): Promise<{ items: ChangeItem[]; position: number; hasMore: boolean }> {
      const rows = await db.query<Record<string, unknown> & { seq: number | bigint; op: ChangeOp }>(
        `SELECT seq, op, id, owner_id, version, created_at, updated_at, body FROM data_changes
         WHERE collection = $1 AND seq > $2 ${rule ? `AND (${rule.sql})` : ''}
         ORDER BY seq LIMIT $3`,
        [collection, since, limit + 1, ...(rule?.params ?? [])],
      );
      const page = rows.slice(0, limit);
      const items = page.map((row): ChangeItem => {
        const document = toView(row);
        return {
          op: row.op,
          id: document.id,
          version: document.version,
          document: row.op === 'delete' ? null : document,
        };
      });
      const last = page[page.length - 1];
      return { items, position: last ? Number(last.seq) : since, hasMore: rows.length > limit };
    },
  };
}

export type ChangeLog = ReturnType<typeof createChangeLog>;
