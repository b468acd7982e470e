import { Redis } from 'ioredis';
import { connect } from 'nats';
import { TEST_NATS_URL, TEST_REDIS_URL } from './test-urls';

/** Deletes every Redis key under `prefix` (SCAN, never KEYS); returns how many. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let deleted = 0;
    for await (const keys of redis.scanStream({ match: pattern, count: 500 })) {
      const batch = keys as string[];
      if (batch.length > 0) deleted += await redis.del(...batch);
    }
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every JetStream stream whose name starts with `prefix` (a test's stream and its DLQ). */
export async function deleteNatsStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await nc.jetstreamManager();
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith(prefix)) await jsm.streams.delete(info.config.name);
    }
  } finally {
    await nc.close();
  }
}
