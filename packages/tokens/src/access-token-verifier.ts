import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { TernError } from '@tern/errors';
import { counter, type Telemetry } from '@tern/telemetry';

/** What a verified Tern access token says about its bearer. */
export interface AccessTokenClaims {
  /** User id. */
  sub: string;
  roles: string[];
  /** Session id: lets a service or the gateway tie the token to a device session. */
  sid: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** An anonymous account (not yet linked to an email or provider). */
  anonymous: boolean;
  /** Custom claims set through the admin API. */
  claims: Record<string, unknown>;
}

export type KeySource =
  /** The auth service's `/.well-known/jwks.json`: fetched, cached, refetched on an unknown `kid`. */
  | { kind: 'remote'; url: string; cooldownMs?: number; timeoutMs?: number }
  /** Keys in hand. */
  | { kind: 'local'; jwks: JSONWebKeySet }
  /**
   * Keys from a function, e.g. the auth service's key ring in the same process: loaded once,
   * loaded again when a token names an unknown `kid` (at most once per `cooldownMs`).
   */
  | { kind: 'provider'; load: () => Promise<JSONWebKeySet>; cooldownMs?: number };

export interface AccessTokenVerifierOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** Verified tokens remembered until they expire, so a hot token costs a hash lookup. */
  cacheEntries?: number;
  clockToleranceSeconds?: number;
  telemetry: Telemetry;
}

export interface AccessTokenVerifier {
  /** Resolves the claims, or rejects with 401 `auth/invalid-token` or `auth/token-expired`. */
  verify(token: string): Promise<AccessTokenClaims>;
}

const MAX_TOKEN_LENGTH = 8192;
const RESERVED = new Set(['sub', 'roles', 'sid', 'anon', 'exp', 'iat', 'nbf', 'iss', 'aud', 'jti']);

export const tokenErrors = {
  invalid: (detail = 'The access token is not valid.') =>
    new TernError({
      code: 'auth/invalid-token',
      status: 401,
      title: 'Unauthorized',
      detail,
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    }),
  expired: () =>
    new TernError({
      code: 'auth/token-expired',
      status: 401,
      title: 'Unauthorized',
      detail: 'The access token has expired; refresh it.',
      headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="expired"' },
    }),
  keysUnavailable: (cause: unknown) =>
    new TernError({
      code: 'runtime/dependency-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail: 'The signing keys could not be fetched.',
      retryable: true,
      details: { dependency: 'jwks' },
      cause,
    }),
};

/**
 * Verifies Tern access tokens (EdDSA JWTs) against a JWKS: the shared helper every service and
 * the gateway use, so no one parses tokens by hand. Only EdDSA is accepted, whatever the
 * token's header says, so `alg: none` and HMAC-with-the-public-key tricks fail.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const getKey = keyResolver(options.keys);
  const cache = new LRUCache<string, AccessTokenClaims>({ max: options.cacheEntries ?? 10_000 });
  const outcomes = counter(
    options.telemetry.metrics,
    'tern_token_verifications_total',
    'Access token verifications by outcome.',
    ['result'],
  );

  async function verifyUncached(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['EdDSA'],
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['sub', 'sid', 'exp'],
      });
      const roles = payload.roles ?? [];
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.sid !== 'string' ||
        typeof payload.exp !== 'number'
      ) {
        throw tokenErrors.invalid('The access token lacks sub, sid or exp.');
      }
      if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
        throw tokenErrors.invalid('The access token has malformed roles.');
      }
      const claims = Object.fromEntries(Object.entries(payload).filter(([name]) => !RESERVED.has(name)));
      return {
        sub: payload.sub,
        sid: payload.sid,
        exp: payload.exp,
        roles,
        anonymous: payload.anon === true,
        claims,
      };
    } catch (error) {
      if (error instanceof TernError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw tokenErrors.expired();
      if (error instanceof joseErrors.JWKSTimeout || isFetchFailure(error))
        throw tokenErrors.keysUnavailable(error);
      throw tokenErrors.invalid();
    }
  }

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        outcomes.inc({ result: 'rejected' });
        throw tokenErrors.invalid();
      }
      // Keyed by the whole token (at most MAX_TOKEN_LENGTH characters; a part of it, such as the
      // signature, would let a forged payload borrow a genuine token's entry). Hashing it first
      // cost 4 % of a cached read's CPU (bench/README.md).
      const key = token;
      const cached = cache.get(key);
      if (cached && cached.exp * 1000 > Date.now()) {
        outcomes.inc({ result: 'cached' });
        return cached;
      }
      try {
        const claims = await verifyUncached(token);
        cache.set(key, claims, { ttl: Math.max(1, claims.exp * 1000 - Date.now()) });
        outcomes.inc({ result: 'verified' });
        return claims;
      } catch (error) {
        outcomes.inc({ result: 'rejected' });
        throw error;
      }
    },
  };
}

function keyResolver(source: KeySource): JWTVerifyGetKey {
  switch (source.kind) {
    case 'remote':
      return createRemoteJWKSet(new URL(source.url), {
        cooldownDuration: source.cooldownMs ?? 30_000,
        timeoutDuration: source.timeoutMs ?? 5_000,
      });
    case 'local':
      return createLocalJWKSet(source.jwks);
    case 'provider':
      return providedKeys(source.load, source.cooldownMs ?? 1_000);
    default: {
      const unknown: never = source;
      throw new Error(`unknown key source ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

/** Like jose's remote set, for keys that come from a function: reloaded on an unknown `kid`, rate limited. */
function providedKeys(load: () => Promise<JSONWebKeySet>, cooldownMs: number): JWTVerifyGetKey {
  let current: { getKey: JWTVerifyGetKey; loadedAt: number } | undefined;
  let loading: Promise<JWTVerifyGetKey> | undefined;
  const reload = () => {
    loading ??= load()
      .then((jwks) => {
        const getKey = createLocalJWKSet(jwks);
        current = { getKey, loadedAt: performance.now() };
        return getKey;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };
  return async (header, token) => {
    const getKey = current?.getKey ?? (await reload());
    try {
      return await getKey(header, token);
    } catch (error) {
      const stale = current === undefined || performance.now() - current.loadedAt >= cooldownMs;
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !stale) throw error;
      return (await reload())(header, token);
    }
  };
}

function isFetchFailure(error: unknown): boolean {
  // jose reports an unreachable or failing JWKS endpoint as JOSEError subclasses or fetch TypeErrors.
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) return true;
  return (
    error instanceof joseErrors.JOSEError &&
    error.code === 'ERR_JOSE_GENERIC' &&
    /JWKS|fetch|response/i.test(error.message)
  );
}

/**
 * Three dot-separated parts, the first a base64url JSON object (`eyJ` is `{"`): the shape of a
 * JWS compact token. Lets a caller skip comparing such a credential with an opaque admin key.
 */
export function looksLikeJwt(credential: string): boolean {
  const first = credential.indexOf('.');
  const second = first < 0 ? -1 : credential.indexOf('.', first + 1);
  return credential.startsWith('eyJ') && second > 0 && credential.indexOf('.', second + 1) < 0;
}
