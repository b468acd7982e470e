import { createHash, timingSafeEqual } from 'node:crypto';
import { runtimeErrors } from '@tern/errors';
import { looksLikeJwt, type AccessTokenVerifier } from '@tern/tokens';

/** Who is calling, as the gateway established it: for rate limits and logs. */
export type EdgeIdentity =
  { kind: 'anonymous' } | { kind: 'admin' } | { kind: 'user'; id: string; roles: readonly string[] };

export interface EdgeAuthOptions {
  /** Verifies user access tokens (the shared verifier, with its cache of verified tokens). */
  verifier: AccessTokenVerifier;
  /** The admin credential (`TERN_ADMIN_KEY`), accepted as a bearer credential like the services accept it. */
  adminKey?: string;
}

const BEARER = /^Bearer +([\x21-\x7e]{1,8192})$/i;

/**
 * Authentication at the edge: a private route (every route the configuration does not mark
 * public) needs a valid credential, checked here before any instance sees the request, so
 * anonymous floods and forged tokens stop at the gateway. The credential itself is forwarded
 * unchanged and each service verifies it again (a cache hit after the first time): a call that
 * bypasses the gateway is judged exactly as one that came through it, and no header the gateway
 * adds is a credential a client could forge.
 */
export function createEdgeAuth(options: EdgeAuthOptions) {
  const adminDigest =
    options.adminKey === undefined ? undefined : createHash('sha256').update(options.adminKey).digest();
  // As in the services: a JWT-shaped credential is not compared with an admin key that is not one.
  const adminKeyIsJwtShaped = options.adminKey !== undefined && looksLikeJwt(options.adminKey);
  return {
    /** The caller of a private route; rejects with 401 problem+json errors. */
    async authenticate(authorization: string | undefined): Promise<EdgeIdentity> {
      if (authorization === undefined) throw runtimeErrors.unauthorized();
      const credential = BEARER.exec(authorization)?.[1];
      if (!credential) throw runtimeErrors.unauthorized();
      const jwt = looksLikeJwt(credential);
      if (adminDigest && (adminKeyIsJwtShaped || !jwt)) {
        const presented = createHash('sha256').update(credential).digest();
        if (timingSafeEqual(presented, adminDigest)) return { kind: 'admin' };
      }
      if (!jwt) throw runtimeErrors.unauthorized();
      const claims = await options.verifier.verify(credential);
      return { kind: 'user', id: claims.sub, roles: claims.roles };
    },
    /** The caller of a public route: a user when it sends a valid token, else anonymous; never refuses. */
    async identify(authorization: string | undefined): Promise<EdgeIdentity> {
      if (authorization === undefined) return { kind: 'anonymous' };
      try {
        return await this.authenticate(authorization);
      } catch {
        return { kind: 'anonymous' };
      }
    },
  };
}

export type EdgeAuth = ReturnType<typeof createEdgeAuth>;
