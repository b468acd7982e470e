import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CorsPolicy {
  /** Origins allowed to call from a browser (`https://app.example.com`), or `*` for any. */
  origins: readonly string[];
  /** How long a browser may cache a preflight answer. */
  maxAgeSeconds?: number;
}

/** Headers a browser app may read from answers: what clients of Tern act on. */
const EXPOSED = [
  'x-request-id',
  'etag',
  'tern-consistency',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
].join(', ');
const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
const REQUEST_HEADER = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Headers every answer of the gateway carries: no MIME sniffing, no framing, no referrer, and,
 * when it terminates TLS, HSTS so browsers never come back over plain HTTP.
 */
export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    ...(tls ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {}),
  };
}

/**
 * CORS (the Fetch standard) at the edge: an allowed origin gets `Access-Control-Allow-Origin` on
 * every answer and its preflights answered here, without reaching a service; any other origin
 * gets no CORS header, so the browser withholds the answer. Bearer tokens, not cookies, carry
 * identity, so credentials mode is never allowed.
 */
export function createCors(policy: CorsPolicy | undefined) {
  const any = policy?.origins.includes('*') ?? false;
  const allowed = new Set(policy?.origins ?? []);
  const allows = (origin: string | undefined): origin is string =>
    origin !== undefined && (any || allowed.has(origin));

  return {
    /** Headers for an answer to a request from `origin` (none if it is not allowed). */
    headers(request: IncomingMessage): Record<string, string> {
      const origin = request.headers.origin;
      if (!policy || !allows(origin)) return {};
      return {
        'access-control-allow-origin': any ? '*' : origin,
        'access-control-expose-headers': EXPOSED,
        ...(any ? {} : { vary: 'Origin' }),
      };
    },
    /** Answers a CORS preflight; false when the request is not one (it is then routed as usual). */
    preflight(request: IncomingMessage, response: ServerResponse, extra: Record<string, string>): boolean {
      if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) {
        return false;
      }
      const origin = request.headers.origin;
      if (!policy || !allows(origin)) {
        response.writeHead(204, { ...extra, vary: 'Origin' });
        response.end();
        return true;
      }
      const requested = (request.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((name) => name.trim().toLowerCase())
        .filter((name) => REQUEST_HEADER.test(name));
      response.writeHead(204, {
        ...extra,
        'access-control-allow-origin': any ? '*' : origin,
        'access-control-allow-methods': METHODS,
        ...(requested.length ? { 'access-control-allow-headers': requested.join(', ') } : {}),
        'access-control-max-age': String(policy.maxAgeSeconds ?? 600),
        vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      });
      response.end();
      return true;
    },
  };
}

export type Cors = ReturnType<typeof createCors>;
