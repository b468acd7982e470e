import type { ServiceDeps } from '@tern/runtime';
import type { Collection, CollectionRegistry } from './collection-registry';

/**
 * Where a document's cached copy lives. The key carries the collection's incarnation, so after a
 * collection is dropped and created again no copy of a document of the old one can be served.
 */
export const documentCacheKey = (collection: Collection, id: string) =>
  `data:doc:${collection.definition.name}:${collection.incarnation}:${id}`;

type Consumer = Awaited<ReturnType<ServiceDeps['queue']['consume']>>;

interface ChangeEvent {
  collection?: unknown;
  id?: unknown;
}

const GROUP = 'data-cache';
const SYNC_EVERY_MS = 5_000;

/**
 * With a cache shared by several instances (Redis), the durable way a write's cached copy goes:
 * every write's change event (`data.<collection>.changed`, from the transactional outbox, so one
 * per committed write) deletes the document's key, once, on one instance of the group. The write
 * path already deletes it twice (at once, and again a second later); this covers those deletes
 * failing (Redis unreachable at that moment: the event is retried until it succeeds). Each
 * instance's L1 drops its copy when Redis announces the delete. In-process caches need none of
 * this: the writer's own delete cannot fail.
 *
 * The queue has no wildcard topics, so one consumer per collection, added as collections appear.
 */
export function createCacheInvalidation(deps: ServiceDeps, registry: CollectionRegistry) {
  const consumers = new Map<string, Consumer>();
  let timer: NodeJS.Timeout | undefined;
  let syncing: Promise<void> | undefined;
  let stopped = false;

  async function follow(collection: string): Promise<void> {
    const consumer = await deps.queue.consume<ChangeEvent>(
      `data.${collection}.changed`,
      async (message) => {
        const { id } = message.payload;
        if (typeof id !== 'string') return;
        // The current incarnation: a copy cached under an earlier one can never be read again.
        // A collection dropped since has nothing left to drop: the event is done.
        const current = await registry.get(collection).catch((error: unknown) => {
          if ((error as { code?: unknown }).code === 'data/collection-not-found') return undefined;
          throw error;
        });
        if (current) await deps.cache.delete(documentCacheKey(current, id));
      },
      { group: GROUP, concurrency: 4 },
    );
    if (stopped) await consumer.stop();
    else consumers.set(collection, consumer);
  }

  /** Follows new collections and stops following dropped ones; one run at a time. */
  async function sync(): Promise<void> {
    const names = new Set((await registry.list()).map(({ name }) => name));
    for (const name of names) {
      if (!consumers.has(name) && !stopped) await follow(name);
    }
    for (const [name, consumer] of consumers) {
      if (names.has(name)) continue;
      consumers.delete(name);
      await consumer.stop();
    }
  }
  const syncOnce = () => {
    syncing ??= sync().finally(() => {
      syncing = undefined;
    });
    return syncing;
  };

  return {
    async start(): Promise<void> {
      if (deps.cache.kind !== 'redis') return;
      await syncOnce();
      timer = setInterval(() => {
        syncOnce().catch((error: unknown) =>
          deps.log.warn({ err: error }, 'could not follow change events for cache invalidation'),
        );
      }, SYNC_EVERY_MS);
      timer.unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await syncing?.catch(() => undefined);
      await Promise.allSettled([...consumers.values()].map((consumer) => consumer.stop()));
      consumers.clear();
    },
  };
}
