import { SignJWT } from 'jose';
import type { AuthConfig } from '@tern/config';
import type { SigningKeyRing } from './signing-key-ring';

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
  roles: string[];
  anonymous: boolean;
  claims: Record<string, unknown>;
}

export interface IssuedAccessToken {
  token: string;
  kid: string;
  issuedAt: number;
  expiresIn: number;
}

export interface AccessTokenIssuer {
  /**
   * Signs an access token. Ed25519 signatures are deterministic, so the same subject, `issuedAt`
   * and `kid` give the very same token: that is how a retried refresh gets its answer again.
   */
  issue(subject: AccessTokenSubject, at?: { issuedAt: number; kid: string }): Promise<IssuedAccessToken>;
}

export function createAccessTokenIssuer(config: AuthConfig, keys: SigningKeyRing): AccessTokenIssuer {
  return {
    async issue(subject, at) {
      const key = at ? (keys.byKid(at.kid) ?? keys.active()) : keys.active();
      const issuedAt = at && key.kid === at.kid ? at.issuedAt : Math.floor(Date.now() / 1000);
      // Custom claims first, so the reserved claims written after them always win.
      const payload: Record<string, unknown> = {
        ...subject.claims,
        roles: subject.roles,
        sid: subject.sessionId,
      };
      if (subject.anonymous) payload.anon = true;
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
        .setSubject(subject.userId)
        .setIssuer(config.issuer)
        .setAudience(config.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + config.accessTokenTtlSeconds)
        .sign(key.privateKey);
      return {
        token,
        kid: key.kid,
        issuedAt,
        expiresIn: Math.max(0, issuedAt + config.accessTokenTtlSeconds - Math.floor(Date.now() / 1000)),
      };
    },
  };
}
