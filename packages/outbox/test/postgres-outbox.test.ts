import { createNatsQueue } from '@tern/queue';
import { createPostgresStore } from '@tern/store';
import {
  createTestDatabase,
  deleteNatsStreams,
  quietTelemetry,
  TEST_NATS_URL,
  uniqueName,
} from '@tern/testing';
import { runOutboxContract } from '../src/outbox.contract';

runOutboxContract('PostgreSQL store + NATS JetStream queue', async () => {
  const database = await createTestDatabase();
  const stream = uniqueName('OBX').toUpperCase();
  const telemetry = quietTelemetry();
  const store = await createPostgresStore({ url: database.url, poolSize: 8 }, telemetry);
  const queue = await createNatsQueue({ url: TEST_NATS_URL, stream }, telemetry);
  return {
    store,
    queue,
    async cleanup() {
      await queue.close();
      await store.close();
      await database.drop();
      await deleteNatsStreams(stream);
    },
  };
});
