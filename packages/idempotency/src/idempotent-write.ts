import { createHash } from 'node:crypto';
import { TernError } from '@tern/errors';
import { isUniqueViolation, type Migration, type Queryable, type Store } from '@tern/store';

/** What a write answered: replayed as is to a retry with the same key and request. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface IdempotencyRequest {
  /** Who the key belongs to (a user id, or `admin`): keys are scoped per caller. */
  scope: string;
  /** The client's `Idempotency-Key`. */
  key: string;
  /** Method, route and body: the same key with another request is refused (422). */
  fingerprint: string;
}

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export const idempotencyErrors = {
  invalidKey: () =>
    new TernError({
      code: 'idempotency/invalid-key',
      status: 400,
      title: 'Bad Request',
      detail: 'Idempotency-Key must be 1–255 printable ASCII characters.',
    }),
  mismatch: () =>
    new TernError({
      code: 'idempotency/key-reused',
      status: 422,
      title: 'Unprocessable Content',
      detail: 'This Idempotency-Key was used with a different request.',
    }),
};

/** The runtime applies these under `tern.idempotency`. */
export const IDEMPOTENCY_MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'create-idempotency-keys',
    sql: `CREATE TABLE tern_idempotency (
      scope TEXT NOT NULL,
      idem_key TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      status INTEGER NOT NULL,
      body TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (scope, idem_key)
    );
    CREATE INDEX tern_idempotency_created ON tern_idempotency (created_at);`,
  },
];

export function fingerprintOf(method: string, route: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${route}\n${JSON.stringify(body ?? null)}`)
    .digest('base64url');
}

/**
 * Runs a write at most once per key: the key's row is inserted in the write's own transaction,
 * so the stored answer exists exactly when the write committed. A retry with the same key and
 * request gets the stored answer; with another request, 422. Two attempts at once: the second
 * waits on the first's row (PostgreSQL) or its turn (SQLite), then replays. Both return a consistency
 * token that covers the write (`Store.transactionWithToken`, or for a replay `consistencyToken`).
 */
export async function idempotentWrite(
  store: Store,
  request: IdempotencyRequest,
  write: (tx: Queryable) => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean; consistency?: string }> {
  if (!IDEMPOTENCY_KEY.test(request.key)) throw idempotencyErrors.invalidKey();
  const replay = async (): Promise<
    (StoredResponse & { replayed: boolean; consistency?: string }) | undefined
  > => {
    const rows = await store.query<{ fingerprint: string; status: number; body: string; created_at: number }>(
      'SELECT fingerprint, status, body, created_at FROM tern_idempotency WHERE scope = $1 AND idem_key = $2',
      [request.scope, request.key],
    );
    const row = rows[0];
    if (!row || Number(row.created_at) < Date.now() - IDEMPOTENCY_TTL_MS) return undefined;
    if (row.fingerprint !== request.fingerprint) throw idempotencyErrors.mismatch();
    // The first attempt committed before this read; a token from now covers it.
    const consistency = await store.consistencyToken();
    const stored = { status: Number(row.status), body: JSON.parse(row.body) as unknown, replayed: true };
    return consistency === undefined ? stored : { ...stored, consistency };
  };
  const earlier = await replay();
  if (earlier) return earlier;
  try {
    const { result, consistency } = await store.transactionWithToken(async (tx) => {
      // An expired row gives way to the new attempt.
      await tx.execute(
        'DELETE FROM tern_idempotency WHERE scope = $1 AND idem_key = $2 AND created_at < $3',
        [request.scope, request.key, Date.now() - IDEMPOTENCY_TTL_MS],
      );
      // Claimed first: a concurrent attempt with the same key waits here until this one ends.
      await tx.execute(
        `INSERT INTO tern_idempotency (scope, idem_key, fingerprint, status, body, created_at)
         VALUES ($1, $2, $3, 0, 'null', $4)`,
        [request.scope, request.key, request.fingerprint, Date.now()],
      );
      const response = await write(tx);
      await tx.execute(
        'UPDATE tern_idempotency SET status = $1, body = $2 WHERE scope = $3 AND idem_key = $4',
        [response.status, JSON.stringify(response.body ?? null), request.scope, request.key],
      );
      return { ...response, replayed: false };
    });
    return consistency === undefined ? result : { ...result, consistency };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const winner = await replay();
    if (winner) return winner;
    throw error;
  }
}

/** Deletes answers older than the retention; run now and then. */
export async function pruneIdempotencyKeys(db: Queryable): Promise<number> {
  const result = await db.execute('DELETE FROM tern_idempotency WHERE created_at < $1', [
    Date.now() - IDEMPOTENCY_TTL_MS,
  ]);
  return result.rowCount;
}
