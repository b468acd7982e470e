import type { Span } from '@tern/telemetry';
import { randomFillSync, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), which describe one connection and are not forwarded,
 * plus what the gateway sets itself: `host` (the upstream's own, from its URL) and `expect`
 * (Node's server has already answered `100-continue`).
 */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-request-id',
  'traceparent',
  // A server-to-server caller's API key stops at the gateway.
  'x-api-key',
]);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Trace and span ids come from a pool of random bytes refilled 8 KiB at a time, as randomUUID
// does: one crypto call per request for a few bytes cost 3 % of the gateway's CPU.
const POOL = Buffer.alloc(8192);
let offset = POOL.length;
function randomHex(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The client's request id when well-formed, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const incoming = headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * W3C trace context: a valid incoming `traceparent` is continued (same trace, the gateway's hop
 * as the new parent span), otherwise a trace starts here, sampled.
 */
export function traceparentFor(headers: IncomingHttpHeaders): string {
  const incoming = headers.traceparent;
  const match = typeof incoming === 'string' ? TRACEPARENT.exec(incoming) : null;
  const traceId = match?.[1];
  const valid = traceId !== undefined && !/^0+$/.test(traceId) && !/^0+$/.test(match?.[2] ?? '');
  const spanId = randomHex(8);
  return valid ? `00-${traceId}-${spanId}-${match?.[3]}` : `00-${randomHex(16)}-${spanId}-01`;
}

/** The `traceparent` that makes `span` the upstream's parent. */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The headers sent upstream: the client's, minus hop-by-hop ones (and any the client's
 * `Connection` header names), plus the gateway's `X-Forwarded-*`, request id and trace context.
 * `X-Forwarded-For` is the connecting address only: the gateway is the edge, and a client's own
 * `X-Forwarded-For` would let it pick the address rate limits and audit logs see.
 */
export function upstreamHeaders(
  request: IncomingMessage,
  requestId: string,
  traceparent: string,
): Record<string, string | string[]> {
  const incoming = request.headers;
  const named = incoming.connection
    ?.split(',')
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean);
  const headers: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || NOT_FORWARDED.has(name) || named?.includes(name)) continue;
    headers[name] = value;
  }
  headers['x-forwarded-for'] = request.socket.remoteAddress ?? '';
  headers['x-forwarded-proto'] = (request.socket as TLSSocket).encrypted ? 'https' : 'http';
  if (incoming.host !== undefined) headers['x-forwarded-host'] = incoming.host;
  headers['x-request-id'] = requestId;
  headers.traceparent = traceparent;
  return headers;
}

/**
 * A path the gateway will route: absolute, with no empty, `.` or `..` segment, no backslash and no
 * encoded slash, backslash or dot, so no prefix can be escaped on its way to a service that
 * normalises differently. `pathname` excludes the query string.
 */
export function isCleanPath(pathname: string, maxLength: number): boolean {
  if (pathname.length === 0 || pathname.length > maxLength || pathname.charCodeAt(0) !== 47) return false;
  if (pathname.includes('\\') || /%(2f|5c|2e)/i.test(pathname)) return false;
  if (pathname === '/') return true;
  const segments = pathname.slice(1).split('/');
  // A trailing slash is allowed (the services ignore it); an empty segment elsewhere is not.
  if (segments[segments.length - 1] === '') segments.pop();
  return segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
