import { connect } from 'nats';
import { TEST_NATS_URL, uniqueName } from '@tern/testing';
import { createNatsQueue, type Queue } from '@tern/queue';
import { runQueueContract, silentTelemetry } from '../src/queue.contract';

runQueueContract('nats', async () => {
  const stream = uniqueName('TQ').toUpperCase().replace(/-/g, '_');
  const telemetry = silentTelemetry();
  const opened: Queue[] = [await createNatsQueue({ url: TEST_NATS_URL, stream }, telemetry)];
  return {
    queue: opened[0]!,
    metrics: telemetry.metrics,
    reopen: async () => {
      const queue = await createNatsQueue({ url: TEST_NATS_URL, stream }, silentTelemetry());
      opened.push(queue);
      return queue;
    },
    async cleanup() {
      await Promise.all(opened.map((queue) => queue.close()));
      const nc = await connect({ servers: TEST_NATS_URL });
      try {
        const jsm = await nc.jetstreamManager();
        for (const name of [stream, `${stream}_DLQ`]) await jsm.streams.delete(name).catch(() => false);
      } finally {
        await nc.close();
      }
    },
  };
});
