import pg from 'pg';
import type { SqlParam } from './store';

const CONNECT_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 30_000;
// Probes a silent peer well before the kernel's default of two hours.
const KEEPALIVE_DELAY_MS = 10_000;
const QUERY_CANCELED = '57014';
const INT8_OID = 20;

// BIGINT and COUNT(*) read as numbers like on SQLite, as bigint beyond 2^53 rather than rounded.
const parseInt8 = (value: string): number | bigint => {
  const parsed = BigInt(value);
  return parsed >= Number.MIN_SAFE_INTEGER && parsed <= Number.MAX_SAFE_INTEGER ? Number(parsed) : parsed;
};
const TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig;

/** A pool with Tern's settings: timeouts, keep-alive, and integers read as numbers (or bigint). */
export function openPgPool(url: string, max: number, statementTimeoutMs: number): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    statement_timeout: statementTimeoutMs,
    types: TYPES,
  });
}

/** Timeouts: a cancelled slow statement, a link that stopped answering, a connection never made. */
export function isTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof pg.DatabaseError) {
    return error.code === QUERY_CANCELED && error.message.includes('statement timeout');
  }
  return (
    error.message === 'Query read timeout' ||
    error.message.startsWith('timeout exceeded when trying to connect') ||
    error.message.includes('connection timeout')
  );
}

/** pg honours `query_timeout` per query as well, though its types list it only for the client. */
export function queryConfig(
  text: string,
  values: unknown[],
  options: { queryTimeoutMs?: number },
  /** Prepares the statement under this name on each connection that runs it. */
  name?: string,
): pg.QueryConfig<unknown[]> {
  const config: pg.QueryConfig<unknown[]> & { query_timeout?: number } = {
    text,
    values,
    query_timeout: options.queryTimeoutMs,
    ...(name === undefined ? {} : { name }),
  };
  return config;
}

export function toPg(param: SqlParam): unknown {
  // pg would render a Date in the process's time zone; ISO strings read the same in both dialects.
  return param instanceof Date ? param.toISOString() : param;
}

/** Where the store connects, for logs: never the password. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '[unparseable url]';
  }
}

/** pg-pool attaches the whole client to idle errors; log only what explains the failure. */
export function describeError(error: Error): { message: string; code?: unknown } {
  return { message: error.message, code: (error as { code?: unknown }).code };
}
