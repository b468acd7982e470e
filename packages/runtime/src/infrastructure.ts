import { createCache, type Cache } from '@tern/cache';
import type { TernConfig } from '@tern/config';
import { createMailer, type Mailer } from '@tern/mail';
import { createQueue, type Queue } from '@tern/queue';
import { createRateLimitStore, type RateLimitStore } from '@tern/rate-limit';
import { createStore, type Store } from '@tern/store';
import type { Telemetry } from '@tern/telemetry';

export interface Infrastructure {
  store: Store;
  cache: Cache;
  queue: Queue;
  rateLimit: RateLimitStore;
  /** Not probed by readiness: mail goes out through the queue, so an SMTP outage only delays it. */
  mailer: Mailer;
}

/** Builds every adapter the config names. On failure, closes whatever was already open. */
export async function createInfrastructure(
  config: TernConfig,
  telemetry: Telemetry,
): Promise<Infrastructure> {
  const opened: { close(): Promise<void> }[] = [];
  const open = async <T extends { close(): Promise<void> }>(
    what: string,
    create: () => Promise<T> | T,
  ): Promise<T> => {
    try {
      const adapter = await create();
      opened.push(adapter);
      return adapter;
    } catch (error) {
      await Promise.allSettled(opened.map((adapter) => adapter.close()));
      // The driver's own reason (it names no password) says what to fix: a missing database, a wrong role.
      const cause = (error as { cause?: unknown }).cause;
      const reason =
        cause instanceof Error && cause.message !== (error as Error).message ? ` (${cause.message})` : '';
      throw new Error(`could not open the ${what}: ${(error as Error).message}${reason}`, { cause: error });
    }
  };
  const store = await open('store', () => createStore(config.store, telemetry));
  const cache = await open('cache', () => createCache(config.cache, telemetry));
  const queue = await open('queue', () => createQueue(config.queue, telemetry));
  const rateLimit = await open('rate-limit store', () => createRateLimitStore(config.rateLimit, telemetry));
  const mailer = await open('mail transport', () => createMailer(config.mail, telemetry));
  return { store, cache, queue, rateLimit, mailer };
}

/** Closes in reverse order of dependence: nothing publishes or queries after its target closed. */
export async function closeInfrastructure(infrastructure: Infrastructure): Promise<void> {
  await Promise.allSettled([
    infrastructure.queue.close(),
    infrastructure.cache.close(),
    infrastructure.rateLimit.close(),
    infrastructure.mailer.close(),
  ]);
  await infrastructure.store.close();
}
