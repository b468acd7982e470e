import { randomBytes } from 'node:crypto';
import type { Queryable } from '@tern/store';
import { digest } from './session-store';

export type OneTimePurpose = 'verify-email' | 'reset-password';

export const ONE_TIME_TOKEN_TTL_MS: Record<OneTimePurpose, number> = {
  'verify-email': 24 * 3_600_000,
  'reset-password': 3_600_000,
};

/**
 * Single-use, expiring tokens sent by mail, stored only as digests. Issuing a new one for a
 * purpose retires the user's older unused ones, so only the latest mail works.
 */
export const oneTimeTokenStore = {
  async issue(db: Queryable, purpose: OneTimePurpose, userId: string, email: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    await db.execute(
      'UPDATE auth_one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL',
      [now, userId, purpose],
    );
    await db.execute(
      `INSERT INTO auth_one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [digest(token), purpose, userId, email, now, now + ONE_TIME_TOKEN_TTL_MS[purpose]],
    );
    return token;
  },

  /** Marks the token used and returns whom it was for; undefined when unknown, used or expired. */
  async consume(
    db: Queryable,
    purpose: OneTimePurpose,
    token: string,
  ): Promise<{ userId: string; email: string } | undefined> {
    const now = Date.now();
    const rows = await db.query<{ user_id: string; email: string }>(
      `UPDATE auth_one_time_tokens SET used_at = $1
       WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
       RETURNING user_id, email`,
      [now, digest(token), purpose],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, email: row.email } : undefined;
  },

  async prune(db: Queryable, keepMs: number): Promise<void> {
    await db.execute('DELETE FROM auth_one_time_tokens WHERE expires_at < $1', [Date.now() - keepMs]);
  },
};
