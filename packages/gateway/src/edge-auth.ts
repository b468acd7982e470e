import { createHash, timingSafeEqual } from 'node:crypto';
import { runtimeErrors } from '@tern/errors';
import { looksLikeJwt, type AccessTokenVerifier } from '@tern/tokens';

/** Who is calling, as the gateway established it: for rate limits and logs. */
export type EdgeIdentity =
  | { kind: 'anonymous' }
  | { kind: 'admin' }
  | { kind: 'user'; id: string; roles: readonly string[] }
  | { kind: 'apiKey'; name: string; as: ApiKey['as'] };

/**
 * An API key for a server-to-server caller. Only its SHA-256 is configured, never the key.
 * It admits requests under its prefixes only; upstream they carry the admin credential (`as:
 * 'admin'`) or no credential at all (`as: 'anonymous'`, for routes the service serves publicly):
 * services never see, and cannot be given, the API key itself.
 */
export interface ApiKey {
  name: string;
  /** Hex SHA-256 of the key. */
  sha256: string;
  prefixes: readonly string[];
  as: 'admin' | 'anonymous';
}

/** The header server-to-server callers send their API key in. */
export const API_KEY_HEADER = 'x-api-key';

export interface EdgeAuthOptions {
  /** Verifies user access tokens (the shared verifier, with its cache of verified tokens). */
  verifier: AccessTokenVerifier;
  /** The admin credential (`TERN_ADMIN_KEY`), accepted as a bearer credential like the services accept it. */
  adminKey?: string;
  apiKeys?: readonly ApiKey[];
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
  const apiKeys = new Map((options.apiKeys ?? []).map((key) => [key.sha256.toLowerCase(), key]));
  return {
    /**
     * The caller presenting an API key, for a request to `path`: 401 for a key not configured,
     * 403 outside the key's prefixes. Looked up by the key's SHA-256, so the keys are not in memory.
     */
    apiKey(presented: string, path: string): EdgeIdentity {
      const key =
        presented.length <= 512
          ? apiKeys.get(createHash('sha256').update(presented).digest('hex'))
          : undefined;
      if (!key) throw runtimeErrors.unauthorized('The API key is not valid.');
      if (!key.prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) {
        throw runtimeErrors.forbidden(`The API key "${key.name}" does not reach this path.`);
      }
      return { kind: 'apiKey', name: key.name, as: key.as };
    },
    /** The admin credential, for requests made with an API key acting as admin. */
    adminCredential(): string | undefined {
      return options.adminKey;
    },
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
