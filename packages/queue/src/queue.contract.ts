import { describe } from 'node:test';
import { deliveryCases } from './queue-delivery.contract';
import { failureCases } from './queue-failure.contract';
import type { ContractContext, OpenedQueue } from './queue-contract-kit';

export { silentTelemetry, type OpenedQueue } from './queue-contract-kit';

/**
 * The behaviour every Queue implementation promises; each implementation's test file runs it.
 * Every case opens its own queue. `void` on describe/test: node:test runs what is registered, the
 * returned promises only report completion.
 */
export function runQueueContract(name: string, open: () => Promise<OpenedQueue>): void {
  const context: ContractContext = {
    async withQueue(body) {
      const opened = await open();
      try {
        await body(opened);
      } finally {
        await opened.cleanup();
      }
    },
    second: async (opened) => (opened.reopen ? opened.reopen() : opened.queue),
  };
  void describe(`${name} queue contract`, () => {
    deliveryCases(context);
    failureCases(context);
  });
}
