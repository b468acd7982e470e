import type { Identity, RequestContext, ServiceDeps } from '@tern/runtime';
import { runtimeErrors } from '@tern/errors';
import type { Queryable } from '@tern/store';
import type { AccessTokenIssuer } from './access-token-issuer';
import { authErrors } from './auth-errors';
import type { AuditActor, AuditEventType, AuditLog } from './audit-log';
import type { LoginThrottle } from './login-throttle';
import type { IdTokenVerifier, OAuthProvider } from './oauth/id-token-verifier';
import type { PasswordHasher } from './password-hasher';
import type { SessionMethod, SessionStore } from './session-store';
import type { SigningKeyRing } from './signing-key-ring';
import { publicUser, userStore, type User } from './user-store';

/** Everything the auth routes share, built once by createAuthService. */
export interface AuthCore {
  deps: ServiceDeps;
  hasher: PasswordHasher;
  keys: SigningKeyRing;
  issuer: AccessTokenIssuer;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: AuditLog;
  oauth: Partial<Record<OAuthProvider, IdTokenVerifier>>;
}

export function actorOf(ctx: RequestContext): AuditActor {
  return { ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId };
}

/** The signed-in user of a `user` route (the runtime has already refused everyone else). */
export function signedInUser(identity: Identity): Extract<Identity, { kind: 'user' }> {
  if (identity.kind !== 'user')
    throw runtimeErrors.forbidden('This needs a user access token, not the admin key.');
  return identity;
}

/**
 * Like signedInUser, and the token's session must still be live: auth's own session routes
 * honour a logout at once, while other services trust the token until it expires (minutes).
 */
export async function liveSession(core: AuthCore, identity: Identity) {
  const user = signedInUser(identity);
  if (!(await core.sessions.isLive(core.deps.store, user.id, user.sessionId)))
    throw authErrors.sessionEnded();
  return user;
}

/**
 * For the admin API: the admin key passes; a user passes only if, right now, their session is
 * live and their account holds the `admin` role and is enabled. The token's roles are minutes
 * old, and a demoted or disabled administrator must not keep (or restore) their rights meanwhile.
 */
export async function currentAdmin(core: AuthCore, identity: Identity): Promise<void> {
  if (identity.kind === 'admin') return;
  const caller = await liveSession(core, identity);
  const user = await userStore.byId(core.deps.store, caller.id);
  if (!user || user.disabled || !user.roles.includes('admin')) {
    throw runtimeErrors.forbidden('This account no longer holds the admin role.');
  }
}

/** Opens a device session for a sign-in and records it in the audit log, in the caller's transaction. */
export async function openSession(
  core: AuthCore,
  tx: Queryable,
  ctx: RequestContext,
  opened: {
    userId: string;
    method: SessionMethod;
    device: string | undefined;
    audit: AuditEventType;
    details?: Record<string, unknown>;
  },
) {
  const session = await core.sessions.create(tx, {
    userId: opened.userId,
    method: opened.method,
    device: opened.device,
    userAgent: ctx.userAgent,
    ip: ctx.ip,
  });
  await core.audit.record(tx, actorOf(ctx), {
    type: opened.audit,
    userId: opened.userId,
    sessionId: session.sessionId,
    ...(opened.details ? { details: opened.details } : {}),
  });
  return session;
}

/** The answer to every sign-in: the user and a fresh token pair. */
export async function signedInBody(
  core: AuthCore,
  user: User,
  session: { sessionId: string; refreshToken: string },
  at?: { issuedAt: number; kid: string },
) {
  const access = await core.issuer.issue(
    {
      userId: user.id,
      sessionId: session.sessionId,
      roles: user.roles,
      anonymous: user.anonymous,
      claims: user.claims,
    },
    at,
  );
  return {
    user: publicUser(user),
    accessToken: access.token,
    refreshToken: session.refreshToken,
    tokenType: 'Bearer' as const,
    expiresIn: access.expiresIn,
  };
}
