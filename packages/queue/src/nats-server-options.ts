import { queueErrors } from './queue-errors';

export interface NatsServerOptions {
  servers: string;
  user?: string;
  pass?: string;
  token?: string;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Splits a NATS URL into the server nats.js should dial and the credentials it holds. nats.js
 * ignores user info in `servers`, so `nats://user:pass@host` would connect without them and be
 * refused. A user name alone (`nats://token@host`) is a token, as in the other NATS clients.
 * Percent-encoding is undone, so a password may contain `@`, `:` or `/`.
 */
export function natsServerOptions(url: string): NatsServerOptions {
  // Without user info there is nothing to take out; nats.js also accepts a bare `host:port`.
  if (!url.includes('@')) return { servers: url };
  const hasScheme = SCHEME.test(url);
  let user: string;
  let pass: string;
  let host: string;
  let protocol: string;
  try {
    const parsed = new URL(hasScheme ? url : `nats://${url}`);
    user = decodeURIComponent(parsed.username);
    pass = decodeURIComponent(parsed.password);
    host = parsed.host;
    protocol = parsed.protocol;
  } catch {
    // Not the URL itself: it holds credentials.
    throw queueErrors.invalidConfig('The NATS URL cannot be parsed.');
  }
  const servers = hasScheme ? `${protocol}//${host}` : host;
  if (pass) return { servers, user, pass };
  if (user) return { servers, token: user };
  return { servers };
}
