import { randomUUID } from 'node:crypto';
import type { Queryable } from '@tern/store';

export interface User {
  id: string;
  email: string | null;
  emailVerified: boolean;
  anonymous: boolean;
  displayName: string | null;
  avatarUrl: string | null;
  locale: string | null;
  roles: string[];
  claims: Record<string, unknown>;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface UserWithSecret extends User {
  passwordHash: string | null;
}

export interface ProfileChanges {
  displayName?: string | null;
  avatarUrl?: string | null;
  locale?: string | null;
}

export interface AdminChanges {
  roles?: string[];
  claims?: Record<string, unknown>;
  disabled?: boolean;
}

interface UserRow {
  id: string;
  email: string | null;
  email_verified: number;
  password_hash: string | null;
  anonymous: number;
  display_name: string | null;
  avatar_url: string | null;
  locale: string | null;
  roles: string;
  claims: string;
  disabled: number;
  created_at: number;
  updated_at: number;
}

const COLUMNS =
  'id, email, email_verified, password_hash, anonymous, display_name, avatar_url, locale, roles, claims, disabled, created_at, updated_at';

function toUser(row: UserRow): UserWithSecret {
  return {
    id: row.id,
    email: row.email,
    emailVerified: Number(row.email_verified) === 1,
    anonymous: Number(row.anonymous) === 1,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    locale: row.locale,
    roles: JSON.parse(row.roles) as string[],
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    disabled: Number(row.disabled) === 1,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
    passwordHash: row.password_hash,
  };
}

/** Strips what must never leave the service. */
export function publicUser(user: UserWithSecret | User): User {
  const { passwordHash: _secret, ...rest } = user as UserWithSecret;
  return rest;
}

/** Accounts. Every function takes the connection or transaction to run on, so callers compose them. */
export const userStore = {
  async create(
    db: Queryable,
    user: { email: string | null; passwordHash: string | null; anonymous: boolean; emailVerified?: boolean },
  ): Promise<UserWithSecret> {
    const now = Date.now();
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `INSERT INTO auth_users (id, email, email_verified, password_hash, anonymous, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${COLUMNS}`,
      [randomUUID(), user.email, user.emailVerified ? 1 : 0, user.passwordHash, user.anonymous ? 1 : 0, now],
    );
    return toUser(rows[0] as UserRow);
  },

  async byId(db: Queryable, id: string): Promise<UserWithSecret | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM auth_users WHERE id = $1`,
      [id],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  async byEmail(db: Queryable, email: string): Promise<UserWithSecret | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM auth_users WHERE email = $1`,
      [email],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  async byIdentity(db: Queryable, provider: string, subject: string): Promise<UserWithSecret | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `SELECT ${COLUMNS.split(', ')
        .map((column) => `u.${column}`)
        .join(', ')} FROM auth_identities i JOIN auth_users u ON u.id = i.user_id
       WHERE i.provider = $1 AND i.subject = $2`,
      [provider, subject],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  async addIdentity(
    db: Queryable,
    identity: { provider: string; subject: string; userId: string; email: string | undefined },
  ): Promise<void> {
    await db.execute(
      `INSERT INTO auth_identities (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)`,
      [identity.provider, identity.subject, identity.userId, identity.email ?? null, Date.now()],
    );
  },

  async identities(db: Queryable, userId: string): Promise<{ provider: string; email: string | null }[]> {
    return db.query<{ provider: string; email: string | null }>(
      'SELECT provider, email FROM auth_identities WHERE user_id = $1 ORDER BY created_at',
      [userId],
    );
  },

  async updateProfile(
    db: Queryable,
    id: string,
    changes: ProfileChanges,
  ): Promise<UserWithSecret | undefined> {
    const sets: string[] = [];
    const params: (string | number | null)[] = [];
    const columns: Record<keyof ProfileChanges, string> = {
      displayName: 'display_name',
      avatarUrl: 'avatar_url',
      locale: 'locale',
    };
    for (const [field, column] of Object.entries(columns) as [keyof ProfileChanges, string][]) {
      const value = changes[field];
      if (value === undefined) continue;
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    }
    return this.update(db, id, sets, params);
  },

  async updateByAdmin(db: Queryable, id: string, changes: AdminChanges): Promise<UserWithSecret | undefined> {
    const sets: string[] = [];
    const params: (string | number | null)[] = [];
    if (changes.roles !== undefined) {
      params.push(JSON.stringify(changes.roles));
      sets.push(`roles = $${params.length}`);
    }
    if (changes.claims !== undefined) {
      params.push(JSON.stringify(changes.claims));
      sets.push(`claims = $${params.length}`);
    }
    if (changes.disabled !== undefined) {
      params.push(changes.disabled ? 1 : 0);
      sets.push(`disabled = $${params.length}`);
    }
    return this.update(db, id, sets, params);
  },

  /**
   * Turns an anonymous account into a password account, keeping its id (and so its data).
   * Undefined when the account is no longer anonymous: of concurrent links, one wins.
   */
  async link(
    db: Queryable,
    id: string,
    email: string,
    passwordHash: string,
  ): Promise<UserWithSecret | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `UPDATE auth_users SET email = $1, password_hash = $2, anonymous = 0, email_verified = 0, updated_at = $3
       WHERE id = $4 AND anonymous = 1 RETURNING ${COLUMNS}`,
      [email, passwordHash, Date.now(), id],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  /** Marks an anonymous account as signed in through a provider (with its verified email, if free). */
  async upgradeAnonymous(
    db: Queryable,
    id: string,
    email: string | undefined,
  ): Promise<UserWithSecret | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `UPDATE auth_users SET anonymous = 0, email = COALESCE(CAST($1 AS TEXT), email),
         email_verified = CASE WHEN CAST($1 AS TEXT) IS NULL THEN email_verified ELSE 1 END, updated_at = $2
       WHERE id = $3 AND anonymous = 1 RETURNING ${COLUMNS}`,
      [email ?? null, Date.now(), id],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  async setPassword(db: Queryable, id: string, passwordHash: string | null): Promise<void> {
    await this.update(db, id, ['password_hash = $1'], [passwordHash]);
  },

  async markEmailVerified(db: Queryable, id: string, email: string): Promise<boolean> {
    const result = await db.execute(
      'UPDATE auth_users SET email_verified = 1, updated_at = $1 WHERE id = $2 AND email = $3',
      [Date.now(), id, email],
    );
    return result.rowCount > 0;
  },

  async update(
    db: Queryable,
    id: string,
    sets: string[],
    params: (string | number | null)[],
  ): Promise<UserWithSecret | undefined> {
    const all = [...params, Date.now(), id];
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `UPDATE auth_users SET ${[...sets, `updated_at = $${params.length + 1}`].join(', ')}
       WHERE id = $${params.length + 2} RETURNING ${COLUMNS}`,
      all,
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  },

  async list(
    db: Queryable,
    query: { email?: string; after?: string; limit: number },
  ): Promise<{ items: UserWithSecret[]; nextCursor: string | null }> {
    const params: (string | number)[] = [];
    const where: string[] = [];
    if (query.email !== undefined) {
      params.push(query.email);
      where.push(`email = $${params.length}`);
    }
    if (query.after !== undefined) {
      params.push(query.after);
      where.push(`id > $${params.length}`);
    }
    params.push(query.limit + 1);
    const rows = await db.query<UserRow & Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM auth_users ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, query.limit).map(toUser);
    return {
      items,
      nextCursor: rows.length > query.limit ? (items[items.length - 1]?.id ?? null) : null,
    };
  },
};
