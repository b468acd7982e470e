import type { Migration } from '@tern/store';

// Times are epoch milliseconds (BIGINT), JSON is TEXT: one schema reads the same on SQLite and
// PostgreSQL.
const TABLES = `
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  owner_key TEXT NOT NULL,
  idempotency_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  errors TEXT NOT NULL DEFAULT '[]',
  result TEXT,
  run_at BIGINT NOT NULL,
  dispatched INTEGER NOT NULL DEFAULT 0,
  lease_until BIGINT,
  schedule TEXT,
  request_id TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_key, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (run_at) WHERE dispatched = 0;
CREATE INDEX jobs_owner ON jobs (owner_key, created_at);
CREATE INDEX jobs_dead ON jobs (updated_at) WHERE status = 'dead';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE job_schedules (
  name TEXT PRIMARY KEY,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  next_run_at BIGINT NOT NULL,
  last_run_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX job_schedules_due ON job_schedules (next_run_at);
`;

export const JOBS_MIGRATIONS: Migration[] = [
  { id: 1, name: 'jobs and schedules', sql: TABLES },
  {
    id: 2,
    name: 'account exports',
    sql: `
CREATE TABLE job_exports (
  job_id TEXT PRIMARY KEY,
  owner_key TEXT NOT NULL,
  content TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX job_exports_expiry ON job_exports (expires_at);
`,
  },
];
