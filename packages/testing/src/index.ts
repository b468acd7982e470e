export { createTestDatabase, type TestDatabase } from './test-database';
export { uniqueName } from './unique-name';
export { waitFor } from './wait-for';
export { TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_NATS_URL } from './test-urls';
export { startTcpProxy } from './start-tcp-proxy';
export { quietTelemetry } from './quiet-telemetry';
export { deleteRedisKeys, deleteNatsStreams } from './cleanup';
export { startPostgresCluster, type PostgresCluster, type PostgresNode } from './postgres-cluster';
export { freePort } from './free-port';
