// Where the integration tests find the machine's real services (see ../shared/MACHINE.md).
export const TEST_POSTGRES_URL =
  process.env.TERN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TERN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_NATS_URL = process.env.TERN_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
