import type { Queryable } from '@tern/store';
import { counter, type Telemetry } from '@tern/telemetry';

export type AuditEventType =
  | 'user.signup'
  | 'user.login'
  | 'user.login-failed'
  | 'user.anonymous-created'
  | 'user.linked'
  | 'user.oauth-login'
  | 'user.email-verified'
  | 'user.password-reset'
  | 'user.password-reset-requested'
  | 'user.updated-by-admin'
  | 'session.refresh-reused'
  | 'session.revoked'
  | 'session.revoked-all'
  | 'keys.rotated';

/** Who did it, from where: the request's context. */
export interface AuditActor {
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
}

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  sessionId?: string | null;
  /** Never a password or token: the list of what changed, ids, reasons. */
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  id: string;
  at: string;
  type: string;
  userId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  userId?: string;
  type?: string;
  /** Only records older than this id (the previous page's cursor). */
  before?: number;
  limit: number;
}

export interface AuditLog {
  /** Written in the caller's transaction when one is given, so the record exists exactly when the change does. */
  record(db: Queryable, actor: AuditActor, event: AuditEvent): Promise<void>;
  list(db: Queryable, query: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor: string | null }>;
}

interface AuditRow {
  id: number | bigint;
  at: number;
  type: string;
  user_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: string;
}

/** Security events (sign-ins, failures, revocations, role changes), newest first, readable by admins. */
export function createAuditLog(telemetry: Telemetry): AuditLog {
  const events = counter(
    telemetry.metrics,
    'tern_auth_audit_events_total',
    'Audit events recorded, by type.',
    ['type'],
  );
  return {
    async record(db, actor, event) {
      await db.execute(
        `INSERT INTO auth_audit_log (at, type, user_id, session_id, ip, user_agent, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          Date.now(),
          event.type,
          event.userId ?? null,
          event.sessionId ?? null,
          actor.ip ?? null,
          actor.userAgent?.slice(0, 512) ?? null,
          actor.requestId ?? null,
          JSON.stringify(event.details ?? {}),
        ],
      );
      events.inc({ type: event.type });
    },
    async list(db, query) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.userId !== undefined) {
        params.push(query.userId);
        where.push(`user_id = $${params.length}`);
      }
      if (query.type !== undefined) {
        params.push(query.type);
        where.push(`type = $${params.length}`);
      }
      if (query.before !== undefined) {
        params.push(query.before);
        where.push(`id < $${params.length}`);
      }
      params.push(query.limit + 1);
      const rows = await db.query<AuditRow & Record<string, unknown>>(
        `SELECT id, at, type, user_id, session_id, ip, user_agent, request_id, details FROM auth_audit_log
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((row) => ({
          id: String(row.id),
          at: new Date(Number(row.at)).toISOString(),
          type: row.type,
          userId: row.user_id,
          sessionId: row.session_id,
          ip: row.ip,
          userAgent: row.user_agent,
          requestId: row.request_id,
          details: JSON.parse(row.details) as Record<string, unknown>,
        })),
        nextCursor: rows.length > query.limit && last ? String(last.id) : null,
      };
    },
  };
}
