import type { Dialect, Queryable, Store } from '@tern/store';
import { bodyOf, toView, type DocumentView } from './document-store';
import type { ReadRule } from './query/compile-query';

export type ChangeOp = 'create' | 'update' | 'delete';

export interface ChangeItem {
  op: ChangeOp;
  id: string;
  version: number;
  /** The document after the change; null for a delete (a tombstone). */
  document: DocumentView | null;
}

/** Changes given positions per sequencing pass; a longer backlog is positioned over several reads. */
const SEQUENCE_BATCH = 10_000;

/**
 * The change feed for offline sync: every write appends the document's new state (for a delete,
 * its last state, so the read rule can still judge it) to `data_changes`, in the write's
 * transaction. A change's feed position (`pos`) is not given by the writer: `seq` is taken at
 * insert, not at commit, so a reader that followed `seq` could pass a number whose transaction
 * commits later and miss it, and making writers take turns to prevent that would serialise every
 * commit of a collection. Instead readers give positions to changes already committed, in `seq`
 * order, one sequencer at a time per collection: a change committed later always gets a higher
 * position than every position handed out before, so a cursor never skips one, and a write that
 * depends on an earlier one (it waited for its row, or read it) has the higher `seq` too.
 */
export function createChangeLog(dialect: Dialect) {
  /** Positions the collection's committed, not yet positioned changes; true if more may be left. */
  async function sequence(store: Store, collection: string): Promise<boolean> {
    const pending = await store.query(
      'SELECT 1 AS pending FROM data_changes WHERE collection = $1 AND pos IS NULL LIMIT 1',
      [collection],
    );
    if (pending.length === 0) return false;
    return store.transaction(async (tx) => {
      // Its own statement: the UPDATE below must take its snapshot after the previous sequencer committed.
      await lockFeed(tx, collection);
      const base = await lastPosition(tx, collection);
      const result = await tx.execute(
        `UPDATE data_changes SET pos = $2 + next.n
         FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY seq) AS n FROM data_changes
               WHERE collection = $1 AND pos IS NULL ORDER BY seq LIMIT ${SEQUENCE_BATCH}) AS next
         WHERE data_changes.seq = next.seq`,
        [collection, base],
      );
      return result.rowCount === SEQUENCE_BATCH;
    });
  }

  /** One sequencer (or reset) of a collection's feed at a time, until the transaction ends. */
  async function lockFeed(tx: Queryable, collection: string): Promise<void> {
    if (dialect !== 'postgres') return; // SQLite transactions already take turns
    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('tern.data.changes:' || $1, 0))", [
      collection,
    ]);
  }

  /** The highest position given so far, or pruned away. */
  async function lastPosition(db: Queryable, collection: string): Promise<number> {
    const rows = await db.query<{ last: number | bigint | null }>(
      `SELECT MAX(p) AS last FROM (
         SELECT MAX(pos) AS p FROM data_changes WHERE collection = $1
         UNION ALL SELECT pruned_through AS p FROM data_change_watermarks WHERE collection = $1) AS positions`,
      [collection],
    );
    return Number(rows[0]?.last ?? 0);
  }

  return {
    /** Appends a change in the write's transaction; its feed position is given once it committed. */
    async append(tx: Queryable, collection: string, op: ChangeOp, document: DocumentView): Promise<void> {
      await tx.execute(
        `INSERT INTO data_changes (collection, op, id, owner_id, version, created_at, updated_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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
    },

    /**
     * Ends a collection's feed (it was dropped): its changes are deleted and the pruned point set
     * past every position handed out, so every cursor of the dropped collection answers 410
     * (resync), also once a collection of the same name exists again; its feed starts after it.
     */
    async reset(tx: Queryable, collection: string): Promise<void> {
      await lockFeed(tx, collection);
      const last = await lastPosition(tx, collection);
      await tx.execute('DELETE FROM data_changes WHERE collection = $1', [collection]);
      await tx.execute(
        `INSERT INTO data_change_watermarks (collection, pruned_through) VALUES ($1, $2)
         ON CONFLICT (collection) DO UPDATE SET pruned_through = excluded.pruned_through`,
        [collection, last + 1],
      );
    },

    /** PostgreSQL only: appends several changes in one statement, in the order given. */
    async appendMany(
      tx: Queryable,
      collection: string,
      op: ChangeOp,
      documents: readonly DocumentView[],
    ): Promise<void> {
      await tx.execute(
        `INSERT INTO data_changes (collection, op, id, owner_id, version, created_at, updated_at, body)
         SELECT $1, $2, d.id, d.owner_id, d.version, d.created_at, d.updated_at, d.body
         FROM ROWS FROM (jsonb_to_recordset($3::jsonb) AS (id text, owner_id text, version integer,
           created_at text, updated_at text, body jsonb)) WITH ORDINALITY AS d(id, owner_id, version, created_at, updated_at, body, n)
         ORDER BY d.n`,
        [
          collection,
          op,
          JSON.stringify(
            documents.map((document) => ({
              id: document.id,
              owner_id: document.ownerId,
              version: document.version,
              created_at: document.createdAt,
              updated_at: document.updatedAt,
              body: bodyOf(document),
            })),
          ),
        ],
      );
    },

    /** The position of the newest change: where a client that has just synced in full starts following. */
    async head(store: Store, collection: string): Promise<number> {
      while (await sequence(store, collection));
      return lastPosition(store, collection);
    },

    /** Up to where the log was pruned: a cursor before this has missed changes for good. */
    async prunedThrough(db: Queryable, collection: string): Promise<number> {
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
            'SELECT MAX(pos) AS upto FROM data_changes WHERE collection = $1 AND updated_at < $2',
            [collection, before.toISOString()],
          );
          const upto = rows[0]?.upto;
          if (upto === null || upto === undefined) return 0;
          const result = await tx.execute('DELETE FROM data_changes WHERE collection = $1 AND pos <= $2', [
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
      store: Store,
      collection: string,
      since: number,
      limit: number,
      readRule: ReadRule,
    ): Promise<{ items: ChangeItem[]; position: number; hasMore: boolean }> {
      // The rule's parameters follow the three bound here.
      const rule = readRule(4);
      if (rule === 'none') return { items: [], position: since, hasMore: false };
      const backlog = await sequence(store, collection);
      const rows = await store.query<Record<string, unknown> & { pos: number | bigint; op: ChangeOp }>(
        `SELECT pos, op, id, owner_id, version, created_at, updated_at, body FROM data_changes
         WHERE collection = $1 AND pos > $2 ${rule === 'all' ? '' : `AND (${rule.sql})`}
         ORDER BY pos LIMIT $3`,
        [collection, since, limit + 1, ...(rule === 'all' ? [] : rule.params)],
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
      return { items, position: last ? Number(last.pos) : since, hasMore: rows.length > limit || backlog };
    },
  };
}

export type ChangeLog = ReturnType<typeof createChangeLog>;
