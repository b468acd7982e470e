import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '@tern/config';
import { looksLikeJwt, type AccessTokenVerifier } from '@tern/tokens';
import type { Identity } from '../service';

const BEARER = /^Bearer +([\x21-\x7e]{1,8192})$/i;

/**
 * Resolves the caller's identity from the Authorization header: the admin key (compared in
 * constant time over fixed-length digests, so its length does not leak either), else a user
 * access token verified by the shared verifier (with its cache of verified tokens).
 * Rejects with the verifier's 401 (`auth/invalid-token`, `auth/token-expired`) or resolves
 * `'invalid'` for a header that is not a bearer credential.
 */
export function createIdentityResolver(adminKey: Secret, verifier: AccessTokenVerifier | undefined) {
  const expected = createHash('sha256').update(adminKey.reveal()).digest();
  // A credential shaped like a JWT cannot be an admin key that is not: it skips the hash and
  // comparison (3 % of a cached read's CPU). The shortcut depends only on the presented
  // credential and on a fixed property of the key, so it tells nothing about the key.
  const adminKeyIsJwtShaped = looksLikeJwt(adminKey.reveal());
  return async function resolveIdentity(authorization: string | undefined): Promise<Identity | 'invalid'> {
    if (authorization === undefined) return { kind: 'anonymous' };
    const match = BEARER.exec(authorization);
    if (!match?.[1]) return 'invalid';
    if (adminKeyIsJwtShaped || !looksLikeJwt(match[1])) {
      const presented = createHash('sha256').update(match[1]).digest();
      if (timingSafeEqual(presented, expected)) return { kind: 'admin', via: 'admin-key' };
    }
    if (!verifier) return 'invalid';
    const claims = await verifier.verify(match[1]);
    return {
      kind: 'user',
      id: claims.sub,
      roles: claims.roles,
      sessionId: claims.sid,
      anonymous: claims.anonymous,
      claims: claims.claims,
    };
  };
}
