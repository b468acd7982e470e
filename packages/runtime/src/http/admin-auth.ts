import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '@tern/config';
import type { Identity } from '../service';

/**
 * Resolves the caller's identity from the Authorization header. The admin key is compared in
 * constant time (over fixed-length digests, so the key's length does not leak either).
 */
export function createIdentityResolver(adminKey: Secret) {
  const expected = createHash('sha256').update(adminKey.reveal()).digest();
  return function resolveIdentity(authorization: string | undefined): Identity | 'invalid' {
    if (authorization === undefined) return { kind: 'anonymous' };
    const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(authorization);
    if (!match?.[1]) return 'invalid';
    const presented = createHash('sha256').update(match[1]).digest();
    if (timingSafeEqual(presented, expected)) return { kind: 'admin', via: 'admin-key' };
    // User access tokens are verified here once the auth service exists; until then they are refused.
    return 'invalid';
  };
}
