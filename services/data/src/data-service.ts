import type { ServiceDefinition, ServiceDeps, ServiceModule } from '@tern/runtime';
import { createCollectionRegistry } from './collection-registry';
import { createCacheInvalidation } from './cache-invalidation';
import { createChangeLog } from './change-log';
import { DATA_MIGRATIONS } from './data-migrations';
import { collectionRoutes } from './routes/collection-routes';
import { documentRoutes } from './routes/document-routes';

const PRUNE_EVERY_MS = 3_600_000;

/** App data: collections of JSON documents with schemas, indexes and access rules. */
export function createDataService(deps: ServiceDeps): ServiceModule {
  const registry = createCollectionRegistry(deps.store);
  const changeLog = createChangeLog(deps.store.kind);
  const cacheInvalidation = createCacheInvalidation(deps, registry);
  let pruning: NodeJS.Timeout | undefined;
  const prune = async () => {
    const before = new Date(Date.now() - deps.config.data.changesRetentionDays * 86_400_000);
    const removed = await changeLog.prune(deps.store, before);
    if (removed > 0) deps.log.info({ removed }, 'pruned the change feed');
  };
  return {
    name: 'data',
    migrations: DATA_MIGRATIONS,
    routes: [...collectionRoutes(registry), ...documentRoutes(deps, registry)],
    async start() {
      pruning = setInterval(() => {
        prune().catch((error: unknown) => deps.log.warn({ err: error }, 'pruning the change feed failed'));
      }, PRUNE_EVERY_MS);
      pruning.unref();
      await cacheInvalidation.start();
    },
    async stop() {
      clearInterval(pruning);
      await cacheInvalidation.stop();
    },
  };
}

export const dataService: ServiceDefinition = { name: 'data', create: createDataService };
