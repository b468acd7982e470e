export type {
  Dialect,
  Migration,
  MigrationResult,
  Queryable,
  Reader,
  ReadOptions,
  Row,
  SqlParam,
  Store,
  StoreConfig,
} from './store';
export { createStore } from './create-store';
export { createSqliteStore, type SqliteStoreConfig } from './sqlite-store';
export { createPostgresStore, type PostgresStoreConfig } from './postgres-store';
export { isUniqueViolation } from './is-unique-violation';
export { createWalSync } from './wal-sync';
export { storeErrors } from './store-errors';
export { isConsistencyToken } from './consistency';
export { createBatcher, MAX_BATCH, BATCHES_IN_FLIGHT } from './batcher';
