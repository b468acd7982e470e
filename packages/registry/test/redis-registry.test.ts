import { deleteRedisKeys, quietTelemetry, TEST_REDIS_URL, uniqueName } from '@tern/testing';
import { createRedisRegistry } from '@tern/registry';
import { runRegistryContract } from '../src/registry.contract';

void runRegistryContract('redis registry', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const config = { url: TEST_REDIS_URL, keyPrefix };
  const first = await createRedisRegistry(config, quietTelemetry('first'));
  const second = await createRedisRegistry(config, quietTelemetry('second'));
  return {
    first,
    second,
    cleanup: async () => {
      await Promise.all([first.close(), second.close()]);
      await deleteRedisKeys(keyPrefix);
    },
  };
});
