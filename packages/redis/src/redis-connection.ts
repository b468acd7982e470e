import { Redis, type RedisOptions } from 'ioredis';
import { summarizeError, type Logger } from '@tern/telemetry';

/** Long enough for a loaded machine, short enough that a request never waits on a dead Redis. */
const CONNECT_TIMEOUT_MS = 2_000;
const COMMAND_TIMEOUT_MS = 2_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * Opens an ioredis connection that fails fast and never crashes the process: the first connect
 * is awaited (so a wrong URL fails at startup), after which commands issued while Redis is
 * down reject at once instead of queueing, and the client keeps reconnecting in the background.
 */
export async function connectRedis(url: string, log: Logger, options: RedisOptions = {}): Promise<Redis> {
  const target = describeRedisUrl(url);
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    ...options,
  });

  // One line per outage, not one per reconnect attempt.
  let down = false;
  let lastError: unknown;
  client.on('error', (error: unknown) => {
    lastError = error;
    if (down) {
      log.debug({ redis: target, err: summarizeError(error) }, 'redis still unreachable');
      return;
    }
    down = true;
    log.error({ redis: target, err: summarizeError(error) }, 'redis connection error; reconnecting');
  });
  client.on('ready', () => {
    if (down) log.info({ redis: target }, 'redis connection restored');
    down = false;
  });

  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    // ioredis rejects with a bare "Connection is closed."; the 'error' event saw the actual reason.
    const reason = summarizeError(lastError ?? error).message;
    throw new Error(`cannot connect to redis at ${target}: ${reason}`, { cause: error });
  }
  client.options.enableOfflineQueue = false;
  return client;
}

/** Quits politely when connected; otherwise just stops reconnecting. Never hangs, never rejects. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Where a URL points, without its credentials: safe to log. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname}`;
  } catch {
    return 'redis (unparseable url)';
  }
}
