import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Dialect, Queryable } from '@tern/store';

export type SessionMethod = 'password' | 'anonymous' | 'apple' | 'google';

export interface NewSession {
  userId: string;
  method: SessionMethod;
  device: string | undefined;
  userAgent: string | undefined;
  ip: string | undefined;
}

export interface SessionView {
  id: string;
  method: string;
  device: string | null;
  userAgent: string | null;
  ip: string | null;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
}

/** What presenting a refresh token led to. */
export type RefreshOutcome =
  | { kind: 'invalid' }
  /** First use: the token rotated; the successor is new. */
  | {
      kind: 'rotated';
      sessionId: string;
      userId: string;
      refreshToken: string;
      issuedAt: number;
      kid: string;
    }
  /** A retry within the grace window: the successor handed out before, and the access token's iat/kid to re-sign it. */
  | {
      kind: 'replayed';
      sessionId: string;
      userId: string;
      refreshToken: string;
      issuedAt: number;
      kid: string;
    }
  /** A rotated token presented after the grace window: the whole session (token family) is now revoked. */
  | { kind: 'reused'; sessionId: string; userId: string };

interface TokenRow {
  token_hash: string;
  session_id: string;
  generation: number;
  rotated_at: number | null;
  successor_nonce: string | null;
  successor_issued_at: number | null;
  successor_kid: string | null;
  user_id: string;
  revoked_at: number | null;
  expires_at: number;
}

interface SessionRow {
  id: string;
  method: string;
  device: string | null;
  user_agent: string | null;
  ip: string | null;
  created_at: number;
  last_used_at: number;
  expires_at: number;
}

/** Refresh tokens are stored only as this digest. */
export function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * The token that follows `presented` in its family. Derived from the presented token and a
 * random nonce kept with it, so a retry can be answered with the same successor while the store
 * never holds a usable token: recomputing it takes the presented token, which only the client has.
 */
function successorOf(presented: string, nonce: string): string {
  return createHmac('sha256', presented).update(nonce).digest('base64url');
}

const newToken = () => randomBytes(32).toString('base64url');

/**
 * Device sessions and their refresh token families. A session is one sign-in on one device;
 * each refresh rotates its token; a rotated token presented again after the grace window revokes
 * the session, since either the client or a thief holds a copy it should not.
 */
export function createSessionStore(options: { dialect: Dialect; sessionTtlMs: number; graceMs: number }) {
  const lock = options.dialect === 'postgres' ? 'FOR UPDATE OF t' : '';

  return {
    async create(db: Queryable, session: NewSession): Promise<{ sessionId: string; refreshToken: string }> {
      const now = Date.now();
      const sessionId = randomUUID();
      const refreshToken = newToken();
      await db.execute(
        `INSERT INTO auth_sessions (id, user_id, method, device, user_agent, ip, created_at, last_used_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
        [
          sessionId,
          session.userId,
          session.method,
          session.device ?? null,
          session.userAgent?.slice(0, 512) ?? null,
          session.ip ?? null,
          now,
          now + options.sessionTtlMs,
        ],
      );
      await db.execute(
        'INSERT INTO auth_refresh_tokens (token_hash, session_id, generation, created_at) VALUES ($1, $2, 1, $3)',
        [digest(refreshToken), sessionId, now],
      );
      return { sessionId, refreshToken };
    },

    /** Run inside a transaction: on PostgreSQL the token row is locked, so concurrent refreshes take turns. */
    async refresh(tx: Queryable, presented: string, activeKid: string): Promise<RefreshOutcome> {
      const now = Date.now();
      const rows = await tx.query<TokenRow & Record<string, unknown>>(
        `SELECT t.token_hash, t.session_id, t.generation, t.rotated_at, t.successor_nonce, t.successor_issued_at,
                t.successor_kid, s.user_id, s.revoked_at, s.expires_at
         FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1 ${lock}`,
        [digest(presented)],
      );
      const row = rows[0];
      if (!row || row.revoked_at !== null || Number(row.expires_at) <= now) return { kind: 'invalid' };
      const session = { sessionId: row.session_id, userId: row.user_id };

      if (row.rotated_at === null) {
        const nonce = randomBytes(16).toString('base64url');
        const refreshToken = successorOf(presented, nonce);
        const issuedAt = Math.floor(now / 1000);
        const claimed = await tx.execute(
          `UPDATE auth_refresh_tokens SET rotated_at = $1, successor_nonce = $2, successor_issued_at = $3, successor_kid = $4
           WHERE token_hash = $5 AND rotated_at IS NULL`,
          [now, nonce, issuedAt, activeKid, row.token_hash],
        );
        if (claimed.rowCount !== 1) return { kind: 'invalid' };
        await tx.execute(
          'INSERT INTO auth_refresh_tokens (token_hash, session_id, generation, created_at) VALUES ($1, $2, $3, $4)',
          [digest(refreshToken), row.session_id, Number(row.generation) + 1, now],
        );
        await tx.execute('UPDATE auth_sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3', [
          now,
          now + options.sessionTtlMs,
          row.session_id,
        ]);
        return { kind: 'rotated', ...session, refreshToken, issuedAt, kid: activeKid };
      }

      if (now - Number(row.rotated_at) <= options.graceMs && row.successor_nonce && row.successor_kid) {
        const refreshToken = successorOf(presented, row.successor_nonce);
        // Only while the successor is unused: a client retrying a lost answer has not used it;
        // someone who has is walking the chain with a copy, which is reuse.
        const successor = await tx.query<{ rotated_at: number | null }>(
          'SELECT rotated_at FROM auth_refresh_tokens WHERE token_hash = $1',
          [digest(refreshToken)],
        );
        if (successor[0]?.rotated_at === null) {
          return {
            kind: 'replayed',
            ...session,
            refreshToken,
            issuedAt: Number(row.successor_issued_at),
            kid: row.successor_kid,
          };
        }
      }

      await tx.execute(
        `UPDATE auth_sessions SET revoked_at = $1, revoked_reason = 'refresh-reused' WHERE id = $2 AND revoked_at IS NULL`,
        [now, row.session_id],
      );
      return { kind: 'reused', ...session };
    },

    /** Whether the session an access token names is still live (not revoked, not expired). */
    async isLive(db: Queryable, userId: string, sessionId: string): Promise<boolean> {
      const rows = await db.query(
        'SELECT 1 AS live FROM auth_sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3',
        [sessionId, userId, Date.now()],
      );
      return rows.length > 0;
    },

    async list(db: Queryable, userId: string): Promise<SessionView[]> {
      const rows = await db.query<SessionRow & Record<string, unknown>>(
        `SELECT id, method, device, user_agent, ip, created_at, last_used_at, expires_at FROM auth_sessions
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 200`,
        [userId, Date.now()],
      );
      return rows.map((row) => ({
        id: row.id,
        method: row.method,
        device: row.device,
        userAgent: row.user_agent,
        ip: row.ip,
        createdAt: new Date(Number(row.created_at)).toISOString(),
        lastUsedAt: new Date(Number(row.last_used_at)).toISOString(),
        expiresAt: new Date(Number(row.expires_at)).toISOString(),
      }));
    },

    /** Revokes one session of the user; false when it is not theirs or already ended. */
    async revoke(db: Queryable, userId: string, sessionId: string, reason: string): Promise<boolean> {
      const result = await db.execute(
        `UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2
         WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL`,
        [Date.now(), reason, sessionId, userId],
      );
      return result.rowCount > 0;
    },

    /** Revokes every live session of the user; returns how many. */
    async revokeAll(db: Queryable, userId: string, reason: string): Promise<number> {
      const result = await db.execute(
        `UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL`,
        [Date.now(), reason, userId],
      );
      return result.rowCount;
    },

    /** Deletes sessions (and their token families) that ended more than `keepMs` ago. */
    async prune(db: Queryable, keepMs: number): Promise<number> {
      const cutoff = Date.now() - keepMs;
      const result = await db.execute(
        'DELETE FROM auth_sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)',
        [cutoff],
      );
      return result.rowCount;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
