import { defineRoute, Type, type ServiceDeps, type ServiceModule } from '@tern/runtime';

const SystemStatus = Type.Object({
  version: Type.String(),
  instanceId: Type.String(),
  services: Type.Array(Type.String()),
  uptimeSeconds: Type.Number(),
  adapters: Type.Object({
    store: Type.String(),
    cache: Type.String(),
    queue: Type.String(),
    rateLimit: Type.String(),
  }),
  migrations: Type.Record(Type.String(), Type.Array(Type.Integer())),
});

/**
 * Operator's view of one process: what it hosts, on which infrastructure, which migrations
 * are applied. Admin only.
 */
export function createSystemService(deps: ServiceDeps): ServiceModule {
  return {
    name: 'system',
    routes: [
      defineRoute({
        method: 'GET',
        url: '/v1/admin/system',
        summary: 'What this process hosts and runs on.',
        tags: ['admin'],
        access: 'admin',
        schema: { response: { 200: SystemStatus } },
      }).handle(async () => {
        const migrations: Record<string, number[]> = {};
        for (const name of ['tern.outbox', 'tern.idempotency', ...deps.process.services]) {
          migrations[name] = await deps.store.appliedMigrations(name);
        }
        return {
          status: 200,
          body: {
            version: deps.process.version,
            instanceId: deps.process.instanceId,
            services: deps.process.services,
            uptimeSeconds: Math.round((Date.now() - deps.process.startedAt.getTime()) / 1000),
            adapters: {
              store: deps.store.kind,
              cache: deps.cache.kind,
              queue: deps.queue.kind,
              rateLimit: deps.rateLimit.kind,
            },
            migrations,
          },
        };
      }),
    ],
  };
}
