import { TernError } from '@tern/errors';

/** Every error the auth service answers with; each code is listed in docs/errors.md. */
export const authErrors = {
  emailTaken: () =>
    new TernError({
      code: 'auth/email-taken',
      status: 409,
      title: 'Conflict',
      detail: 'An account with this email already exists.',
    }),
  invalidEmail: (detail = 'The email address is not valid.') =>
    new TernError({ code: 'auth/invalid-email', status: 400, title: 'Bad Request', detail }),
  passwordPolicy: (detail: string) =>
    new TernError({ code: 'auth/password-policy', status: 400, title: 'Bad Request', detail }),
  invalidCredentials: () =>
    new TernError({
      code: 'auth/invalid-credentials',
      status: 401,
      title: 'Unauthorized',
      detail: 'The email or password is wrong.',
    }),
  throttled: (retryAfterMs: number) => {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new TernError({
      code: 'auth/too-many-attempts',
      status: 429,
      title: 'Too Many Requests',
      detail: `Too many failed attempts; try again in ${seconds} s.`,
      retryable: true,
      details: { retryAfterSeconds: seconds },
      headers: { 'retry-after': String(seconds) },
    });
  },
  busy: () =>
    new TernError({
      code: 'auth/busy',
      status: 503,
      title: 'Service Unavailable',
      detail: 'Too many sign-ins are being processed; try again shortly.',
      retryable: true,
      headers: { 'retry-after': '1' },
    }),
  accountDisabled: () =>
    new TernError({
      code: 'auth/account-disabled',
      status: 403,
      title: 'Forbidden',
      detail: 'This account is disabled.',
    }),
  invalidRefreshToken: () =>
    new TernError({
      code: 'auth/invalid-refresh-token',
      status: 401,
      title: 'Unauthorized',
      detail: 'The refresh token is not valid, has expired or its session has ended; sign in again.',
    }),
  refreshReused: () =>
    new TernError({
      code: 'auth/refresh-reused',
      status: 401,
      title: 'Unauthorized',
      detail: 'This refresh token was already used; the session has been revoked. Sign in again.',
    }),
  sessionEnded: () =>
    new TernError({
      code: 'auth/session-ended',
      status: 401,
      title: 'Unauthorized',
      detail: 'The session of this access token has ended; sign in again.',
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    }),
  sessionNotFound: () =>
    new TernError({
      code: 'auth/session-not-found',
      status: 404,
      title: 'Not Found',
      detail: 'No such session.',
    }),
  userNotFound: () =>
    new TernError({ code: 'auth/user-not-found', status: 404, title: 'Not Found', detail: 'No such user.' }),
  notAnonymous: () =>
    new TernError({
      code: 'auth/not-anonymous',
      status: 409,
      title: 'Conflict',
      detail: 'Only an anonymous account can be linked to an email and password.',
    }),
  noEmail: () =>
    new TernError({
      code: 'auth/no-email',
      status: 409,
      title: 'Conflict',
      detail: 'This account has no email address to verify.',
    }),
  alreadyVerified: () =>
    new TernError({
      code: 'auth/already-verified',
      status: 409,
      title: 'Conflict',
      detail: 'This email address is already verified.',
    }),
  invalidOneTimeToken: () =>
    new TernError({
      code: 'auth/invalid-one-time-token',
      status: 400,
      title: 'Bad Request',
      detail: 'The token is not valid, was already used or has expired; request a new one.',
    }),
  tooManyRequests: (retryAfterMs: number) => {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new TernError({
      code: 'auth/too-many-requests',
      status: 429,
      title: 'Too Many Requests',
      detail: `Too many requests of this kind; try again in ${seconds} s.`,
      retryable: true,
      headers: { 'retry-after': String(seconds) },
    });
  },
  providerDisabled: (provider: string) =>
    new TernError({
      code: 'auth/provider-disabled',
      status: 404,
      title: 'Not Found',
      detail: `Sign in with ${provider} is not configured on this server.`,
    }),
  invalidProfile: (detail: string) =>
    new TernError({ code: 'auth/invalid-profile', status: 400, title: 'Bad Request', detail }),
  invalidClaims: (detail: string) =>
    new TernError({ code: 'auth/invalid-claims', status: 400, title: 'Bad Request', detail }),
};
