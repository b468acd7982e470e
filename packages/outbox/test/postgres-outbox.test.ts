import { Writable } from 'node:stream';
import { connect } from 'nats';
import { createNatsQueue } from '@tern/queue';
import { createPostgresStore } from '@tern/store';
import { createLogger, createMetricsRegistry } from '@tern/telemetry';
import { createTestDatabase, TEST_NATS_URL, uniqueName } from '@tern/testing';
import { runOutboxContract } from '../src/outbox.contract';

runOutboxContract('PostgreSQL store + NATS JetStream queue', async () => {
  const database = await createTestDatabase();
  const stream = uniqueName('OBX').toUpperCase();
  const telemetry = {
    log: createLogger({
      level: 'warn',
      service: 't',
      instance: 't',
      destination: new Writable({ write: (_c, _e, done) => done() }),
    }),
    metrics: createMetricsRegistry({ service: 't', instance: 't' }),
  };
  const store = await createPostgresStore({ url: database.url, poolSize: 8 }, telemetry);
  const queue = await createNatsQueue({ url: TEST_NATS_URL, stream }, telemetry);
  return {
    store,
    queue,
    async cleanup() {
      await queue.close();
      await store.close();
      await database.drop();
      const nc = await connect({ servers: TEST_NATS_URL });
      const jsm = await nc.jetstreamManager();
      for await (const info of jsm.streams.list()) {
        if (info.config.name.startsWith(stream)) await jsm.streams.delete(info.config.name);
      }
      await nc.close();
    },
  };
});
