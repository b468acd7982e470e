import { counter, histogram } from '@tern/telemetry';
import type { Registry } from '@tern/telemetry';
import type { Dialect } from './store';

export type StoreOp = 'query' | 'execute' | 'transaction' | 'wal-sync';

export interface StoreMetrics {
  /** Starts timing one operation; call the result when it ends, however it ends. */
  time(op: StoreOp): () => void;
  /** Counts a failure reported by the database or the driver (not a rollback the caller asked for). */
  failed(op: StoreOp | 'connection'): void;
  /** Records one group fsync of SQLite's WAL, shared by the commits it covers. */
  synced(ms: number): void;
}

export function createStoreMetrics(registry: Registry, store: Dialect): StoreMetrics {
  const duration = histogram(
    registry,
    'tern_db_query_duration_seconds',
    'Time spent in store operations; a transaction is timed from waiting for it to its commit or rollback.',
    ['store', 'op'],
  );
  const errors = counter(registry, 'tern_db_errors_total', 'Store operations the database rejected.', [
    'store',
    'op',
  ]);
  return {
    time: (op) => duration.startTimer({ store, op }),
    failed: (op) => errors.inc({ store, op }),
    synced: (ms) => duration.observe({ store, op: 'wal-sync' }, ms / 1000),
  };
}
