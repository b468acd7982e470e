import { createMemoryRegistry } from './memory-registry';
import { runRegistryContract } from './registry.contract';

void runRegistryContract('memory registry', async () => {
  const registry = createMemoryRegistry();
  // One process: both handles are the registry itself; closing "first" stops its heartbeats only.
  let heartbeatsStopped = false;
  const first = {
    ...registry,
    async close() {
      heartbeatsStopped = true;
      await registry.close();
    },
  };
  return {
    first,
    second: {
      ...registry,
      // After "first" closed (its heartbeats stopped), the second handle still reads the entries.
      list: (service?: string) => registry.list(service),
    },
    cleanup: async () => {
      if (!heartbeatsStopped) await registry.close();
    },
  };
});
