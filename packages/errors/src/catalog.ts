import { TernError } from './tern-error';

/**
 * Constructors for the runtime's own errors. Each code here is listed in docs/errors.md;
 * services define their own codes under their own namespace (`auth/…`, `data/…`).
 */
export const runtimeErrors = {
  notFound: (detail = 'No route matches this path.') =>
    new TernError({ code: 'runtime/not-found', status: 404, title: 'Not Found', detail }),
  methodNotAllowed: (method: string, allowed: string[]) =>
    new TernError({
      code: 'runtime/method-not-allowed',
      status: 405,
      title: 'Method Not Allowed',
      detail: `${method} is not allowed here; allowed: ${allowed.join(', ')}.`,
      details: { allowed },
      headers: { allow: allowed.join(', ') },
    }),
  malformedJson: (detail = 'The request body is not valid JSON.') =>
    new TernError({ code: 'runtime/malformed-json', status: 400, title: 'Malformed JSON', detail }),
  bodyTooLarge: (limitBytes: number) =>
    new TernError({
      code: 'runtime/body-too-large',
      status: 413,
      title: 'Content Too Large',
      detail: `The request body exceeds the limit of ${limitBytes} bytes.`,
      details: { limitBytes },
    }),
  unsupportedMediaType: (contentType: string | undefined) =>
    new TernError({
      code: 'runtime/unsupported-media-type',
      status: 415,
      title: 'Unsupported Media Type',
      detail: `Content-Type ${contentType === undefined ? '(none)' : JSON.stringify(contentType.slice(0, 100))} is not supported; send application/json.`,
    }),
  validationFailed: (errors: { location: string; path: string; message: string }[]) =>
    new TernError({
      code: 'runtime/validation-failed',
      status: 400,
      title: 'Validation Failed',
      detail: errors
        .slice(0, 5)
        .map((e) => `${e.location}${e.path} ${e.message}`)
        .join('; '),
      details: { errors },
    }),
  badRequest: (detail: string) =>
    new TernError({ code: 'runtime/bad-request', status: 400, title: 'Bad Request', detail }),
  unauthorized: (detail = 'Missing or invalid credentials.') =>
    new TernError({
      code: 'runtime/unauthorized',
      status: 401,
      title: 'Unauthorized',
      detail,
      headers: { 'www-authenticate': 'Bearer' },
    }),
  forbidden: (detail = 'These credentials do not grant access to this resource.') =>
    new TernError({ code: 'runtime/forbidden', status: 403, title: 'Forbidden', detail }),
  notReady: (failing: string[]) =>
    new TernError({
      code: 'runtime/not-ready',
      status: 503,
      title: 'Service Unavailable',
      detail: `Not ready: ${failing.join(', ')}.`,
      retryable: true,
      details: { failing },
    }),
  shuttingDown: () =>
    new TernError({
      code: 'runtime/shutting-down',
      status: 503,
      title: 'Service Unavailable',
      detail: 'This instance is shutting down; retry on another.',
      retryable: true,
      headers: { connection: 'close', 'retry-after': '1' },
    }),
  /** `retryable` only for reads: a timed-out write may still complete after the answer. */
  timeout: (retryable: boolean) =>
    new TernError({
      code: 'runtime/timeout',
      status: 503,
      title: 'Service Unavailable',
      detail: retryable
        ? 'The request took too long.'
        : 'The request took too long; it may still complete, so retry only with an Idempotency-Key.',
      retryable,
    }),
  internal: (cause?: unknown) =>
    new TernError({
      code: 'runtime/internal',
      status: 500,
      title: 'Internal Server Error',
      detail: 'An unexpected error occurred. It has been logged with this request id.',
      retryable: true,
      cause,
    }),
  dependencyUnavailable: (dependency: string, cause?: unknown) =>
    new TernError({
      code: 'runtime/dependency-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail: `A dependency (${dependency}) is unavailable.`,
      retryable: true,
      details: { dependency },
      cause,
    }),
};
