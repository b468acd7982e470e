import { createHash } from 'node:crypto';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { TernError } from '@tern/errors';
import { counter, summarizeError, type Telemetry } from '@tern/telemetry';

export type OAuthProvider = 'apple' | 'google';

export interface OAuthProviderConfig {
  provider: OAuthProvider;
  /** The provider's JWKS: Apple https://appleid.apple.com/auth/keys, Google https://www.googleapis.com/oauth2/v3/certs. */
  jwksUrl: string;
  /** Accepted issuers: Apple ['https://appleid.apple.com'], Google ['https://accounts.google.com', 'accounts.google.com']. */
  issuers: string[];
  /** Your app's client ids (bundle id / services id for Apple, OAuth client ids for Google). */
  audiences: string[];
}

/** Who the provider says signed in. */
export interface ExternalIdentity {
  provider: OAuthProvider;
  /** The provider's stable user id (`sub`). */
  subject: string;
  /** Lower-cased and trimmed; only to be trusted (matched to an account) when `emailVerified`. */
  email: string | undefined;
  emailVerified: boolean;
}

export interface IdTokenVerifier {
  /**
   * Resolves the identity, or rejects with 401 `auth/oauth-invalid-token`, `auth/oauth-token-expired`
   * or `auth/oauth-nonce-mismatch`, or 503 `runtime/dependency-unavailable` when the provider's keys
   * cannot be fetched.
   */
  verify(idToken: string, nonce: string | undefined): Promise<ExternalIdentity>;
}

export interface IdTokenVerifierOptions {
  /** Leeway on `exp` and `nbf`, for clocks that disagree; 30 s unless told. */
  clockToleranceSeconds?: number;
  /** Minimum time between key refetches triggered by an unknown `kid`; 30 s unless told. */
  cooldownMs?: number;
  /** How long a key fetch may take; 5 s unless told. */
  timeoutMs?: number;
}

export const PROVIDER_DEFAULTS: Record<OAuthProvider, { jwksUrl: string; issuers: string[] }> = {
  apple: { jwksUrl: 'https://appleid.apple.com/auth/keys', issuers: ['https://appleid.apple.com'] },
  google: {
    jwksUrl: 'https://www.googleapis.com/oauth2/v3/certs',
    issuers: ['https://accounts.google.com', 'accounts.google.com'],
  },
};

/** 16 KiB: real Apple and Google ID tokens are around 1 KiB; anything this big is not worth parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_SUBJECT_LENGTH = 255;
/** What Apple and Google sign with. Fixed, whatever the token's header says, so `alg: none` and HMAC tricks fail. */
const ALGORITHMS = ['RS256', 'ES256'];

export const oauthErrors = {
  invalid: (detail = 'The ID token is not valid.') =>
    new TernError({ code: 'auth/oauth-invalid-token', status: 401, title: 'Unauthorized', detail }),
  expired: () =>
    new TernError({
      code: 'auth/oauth-token-expired',
      status: 401,
      title: 'Unauthorized',
      detail: 'The ID token has expired; sign in with the provider again.',
    }),
  nonceMismatch: (detail: string) =>
    new TernError({ code: 'auth/oauth-nonce-mismatch', status: 401, title: 'Unauthorized', detail }),
  keysUnavailable: (provider: OAuthProvider, cause: unknown) =>
    new TernError({
      code: 'runtime/dependency-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail: `The ${provider === 'apple' ? 'Apple' : 'Google'} signing keys could not be fetched.`,
      retryable: true,
      details: { dependency: `${provider}-jwks` },
      cause,
    }),
};

/**
 * Verifies "Sign in with Apple" and "Sign in with Google" ID tokens against the provider's JWKS.
 * Keys are cached and refetched when a token names an unknown `kid`, at most once per cooldown, so
 * tokens with made-up kids cannot make us hammer the provider. Tokens are never logged or echoed.
 */
export function createIdTokenVerifier(
  config: OAuthProviderConfig,
  telemetry: Telemetry,
  options: IdTokenVerifierOptions = {},
): IdTokenVerifier {
  const { provider } = config;
  if (config.issuers.length === 0) throw new Error(`OAuth provider ${provider}: no issuers configured.`);
  if (config.audiences.length === 0) throw new Error(`OAuth provider ${provider}: no audiences configured.`);
  const issuers = [...config.issuers];
  const audiences = [...config.audiences];
  const clockTolerance = options.clockToleranceSeconds ?? 30;

  const remote = createRemoteJWKSet(new URL(config.jwksUrl), {
    cooldownDuration: options.cooldownMs ?? 30_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
  });
  // Whatever goes wrong resolving a key, other than the token naming a key or algorithm the set
  // lacks, happened fetching or reading the provider's key set: theirs to fix, ours to retry.
  const getKey: JWTVerifyGetKey = async (protectedHeader, token) => {
    try {
      return await remote(protectedHeader, token);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys ||
        error instanceof joseErrors.JOSENotSupported
      ) {
        throw error;
      }
      throw oauthErrors.keysUnavailable(provider, error);
    }
  };

  const outcomes = counter(
    telemetry.metrics,
    'tern_oauth_verifications_total',
    'Sign in with Apple / Google ID token verifications by provider and outcome.',
    ['provider', 'result'],
  );

  async function verifySignatureAndClaims(idToken: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(idToken, getKey, {
        algorithms: ALGORITHMS,
        issuer: issuers,
        audience: audiences,
        clockTolerance,
        requiredClaims: ['sub', 'exp'],
      });
      return payload;
    } catch (error) {
      throw toTernError(error);
    }
  }

  async function verifyIdentity(idToken: string, nonce: string | undefined): Promise<ExternalIdentity> {
    if (typeof idToken !== 'string' || idToken.length === 0 || idToken.length > MAX_TOKEN_LENGTH) {
      throw oauthErrors.invalid('The ID token is malformed.');
    }
    const payload = await verifySignatureAndClaims(idToken);
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
      throw oauthErrors.invalid('The ID token has no valid subject.');
    }
    checkNonce(provider, payload.nonce, nonce);
    const email = typeof payload.email === 'string' ? payload.email.trim().toLowerCase() : '';
    return {
      provider,
      subject,
      email: email === '' ? undefined : email,
      emailVerified: email !== '' && (payload.email_verified === true || payload.email_verified === 'true'),
    };
  }

  return {
    async verify(idToken, nonce) {
      try {
        const identity = await verifyIdentity(idToken, nonce);
        outcomes.inc({ provider, result: 'verified' });
        return identity;
      } catch (error) {
        if (error instanceof TernError && error.status === 503) {
          outcomes.inc({ provider, result: 'unavailable' });
          telemetry.log.warn(
            { provider, err: summarizeError(error.cause) },
            'oauth signing keys could not be fetched',
          );
        } else {
          outcomes.inc({ provider, result: 'rejected' });
        }
        throw error;
      }
    },
  };
}

/**
 * The nonce binds the token to the sign-in the app started. A supplied nonce must match the claim;
 * Apple's iOS SDK takes the SHA-256 (lowercase hex) of the nonce while the app sends us the raw one,
 * so for Apple the hash matches too. A token carrying a nonce when none was supplied comes from some
 * other flow: replayed, so refused.
 */
function checkNonce(provider: OAuthProvider, claim: unknown, supplied: string | undefined): void {
  if (supplied === undefined || supplied === '') {
    if (claim !== undefined)
      throw oauthErrors.nonceMismatch('The ID token carries a nonce but none was sent.');
    return;
  }
  if (typeof claim !== 'string') throw oauthErrors.nonceMismatch('The ID token carries no nonce.');
  if (claim === supplied) return;
  if (provider === 'apple' && claim === createHash('sha256').update(supplied).digest('hex')) return;
  throw oauthErrors.nonceMismatch("The ID token's nonce does not match.");
}

/** jose's failures as 401s that say which check failed, never what the token held. */
function toTernError(error: unknown): TernError {
  if (error instanceof TernError) return error;
  if (error instanceof joseErrors.JWTExpired) return oauthErrors.expired();
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === 'missing')
      return oauthErrors.invalid(`The ID token lacks the "${error.claim}" claim.`);
    if (error.claim === 'iss') return oauthErrors.invalid('The ID token has the wrong issuer.');
    if (error.claim === 'aud') return oauthErrors.invalid('The ID token has the wrong audience.');
    if (error.claim === 'nbf') return oauthErrors.invalid('The ID token is not valid yet.');
    return oauthErrors.invalid(`The ID token's "${error.claim}" claim is not valid.`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return oauthErrors.invalid('The ID token has a bad signature.');
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return oauthErrors.invalid('The ID token is signed by an unknown key.');
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return oauthErrors.invalid('The ID token is signed with an algorithm that is not accepted.');
  }
  return oauthErrors.invalid('The ID token is malformed.');
}
