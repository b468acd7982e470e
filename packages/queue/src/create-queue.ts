import type { Telemetry } from '@tern/telemetry';
import type { Queue, QueueConfig } from './queue';
import { createNatsQueue } from './nats-queue';
import { createSqliteQueue } from './sqlite-queue';

export async function createQueue(config: QueueConfig, telemetry: Telemetry): Promise<Queue> {
  switch (config.kind) {
    case 'sqlite':
      return createSqliteQueue({ file: config.file }, telemetry);
    case 'nats':
      return createNatsQueue({ url: config.url, stream: config.stream }, telemetry);
    default: {
      const unknown: never = config;
      // Only the kind: the rest of the config may hold a password.
      throw new Error(`unknown queue kind: ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}
