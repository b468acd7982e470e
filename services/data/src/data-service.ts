import type { ServiceDefinition, ServiceDeps, ServiceModule } from '@tern/runtime';
import { createCollectionRegistry } from './collection-registry';
import { DATA_MIGRATIONS } from './data-migrations';
import { collectionRoutes } from './routes/collection-routes';
import { documentRoutes } from './routes/document-routes';

/** App data: collections of JSON documents with schemas, indexes and access rules. */
export function createDataService(deps: ServiceDeps): ServiceModule {
  const registry = createCollectionRegistry(deps.store);
  return {
    name: 'data',
    migrations: DATA_MIGRATIONS,
    routes: [...collectionRoutes(registry), ...documentRoutes(deps, registry)],
  };
}

export const dataService: ServiceDefinition = { name: 'data', create: createDataService };
