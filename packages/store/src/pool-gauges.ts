import { Gauge } from '@tern/telemetry';
import type { Registry } from '@tern/telemetry';

interface PoolCounts {
  readonly waitingCount: number;
  readonly totalCount: number;
}

// prom-client keeps one metric per name and registry, and its collect callback has to see every
// pool reporting to that registry. Keyed weakly by the registry each caller passes in, so this
// holds no state of its own beyond the registries' lifetimes.
const poolsByRegistry = new WeakMap<Registry, Set<PoolCounts>>();

/** Reports the pool in `tern_db_pool_waiting` / `tern_db_pool_total`; returns the untrack function. */
export function trackPoolGauges(registry: Registry, pool: PoolCounts): () => void {
  let pools = poolsByRegistry.get(registry);
  if (!pools) {
    const tracked = new Set<PoolCounts>();
    const sum = (read: (pool: PoolCounts) => number) => [...tracked].reduce((total, p) => total + read(p), 0);
    register(registry, 'tern_db_pool_waiting', 'Queries waiting for a free database connection.', () =>
      sum((p) => p.waitingCount),
    );
    register(registry, 'tern_db_pool_total', 'Open database connections, idle or in use.', () =>
      sum((p) => p.totalCount),
    );
    poolsByRegistry.set(registry, tracked);
    pools = tracked;
  }
  const registered = pools;
  registered.add(pool);
  return () => {
    registered.delete(pool);
  };
}

function register(registry: Registry, name: string, help: string, read: () => number): void {
  if (registry.getSingleMetric(name)) return;
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
