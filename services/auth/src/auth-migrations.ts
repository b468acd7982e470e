import type { Migration } from '@tern/store';

// Times are epoch milliseconds (BIGINT) and flags 0/1 integers, so one schema reads the same on
// SQLite and PostgreSQL.
const TABLES = `
CREATE TABLE auth_users (
  id TEXT PRIMARY KEY,
  email TEXT UNIQUE,
  email_verified INTEGER NOT NULL DEFAULT 0,
  password_hash TEXT,
  anonymous INTEGER NOT NULL DEFAULT 0,
  display_name TEXT,
  avatar_url TEXT,
  locale TEXT,
  roles TEXT NOT NULL DEFAULT '[]',
  claims TEXT NOT NULL DEFAULT '{}',
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE auth_identities (
  provider TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  email TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE INDEX auth_identities_user ON auth_identities (user_id);
CREATE TABLE auth_sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  method TEXT NOT NULL,
  device TEXT,
  user_agent TEXT,
  ip TEXT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT,
  revoked_reason TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id, created_at);
CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);
CREATE TABLE auth_refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  generation INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  rotated_at BIGINT,
  successor_nonce TEXT,
  successor_issued_at BIGINT,
  successor_kid TEXT
);
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);
CREATE TABLE auth_one_time_tokens (
  token_hash TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX auth_one_time_tokens_user ON auth_one_time_tokens (user_id, purpose);
CREATE TABLE auth_signing_keys (
  kid TEXT PRIMARY KEY,
  generation INTEGER NOT NULL UNIQUE,
  private_jwk TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activates_at BIGINT NOT NULL,
  retired_at BIGINT
);
`;

const AUDIT = (idColumn: string) => `
CREATE TABLE auth_audit_log (
  id ${idColumn},
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  user_id TEXT,
  session_id TEXT,
  ip TEXT,
  user_agent TEXT,
  request_id TEXT,
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX auth_audit_log_user ON auth_audit_log (user_id, id);
CREATE INDEX auth_audit_log_type ON auth_audit_log (type, id);
`;

export const AUTH_MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'create-auth-tables',
    sql: {
      sqlite: TABLES + AUDIT('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: TABLES + AUDIT('BIGSERIAL PRIMARY KEY'),
    },
  },
];
