import { EventEmitter } from 'node:events';
import {
  checkEntry,
  checkWeights,
  weightsText,
  type Weights,
  DEFAULT_POLL_MS,
  DEFAULT_TTL_MS,
  entryKey,
  sameEntries,
  sortEntries,
  type RegistryEntry,
  type ServiceRegistry,
} from './registry';

/** The registry within one process: the all-in-one shape and tests. */
export function createMemoryRegistry(): ServiceRegistry {
  const entries = new Map<string, { entry: RegistryEntry; expiresAt: number }>();
  const changes = new EventEmitter();
  let split: Weights = {};
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const live = (service?: string): RegistryEntry[] => {
    const now = Date.now();
    const found: RegistryEntry[] = [];
    for (const [key, { entry, expiresAt }] of entries) {
      if (expiresAt <= now) entries.delete(key);
      else if (service === undefined || entry.service === service) found.push(entry);
    }
    return sortEntries(found);
  };

  return {
    kind: 'memory',
    async register(entry, ttlMs = DEFAULT_TTL_MS) {
      checkEntry(entry);
      const key = entryKey(entry);
      const renew = () => entries.set(key, { entry: { ...entry }, expiresAt: Date.now() + ttlMs });
      renew();
      changes.emit('change');
      const heartbeat = setInterval(renew, Math.max(10, Math.floor(ttlMs / 3)));
      heartbeat.unref();
      timers.add(heartbeat);
      return {
        async deregister() {
          clearInterval(heartbeat);
          timers.delete(heartbeat);
          if (entries.delete(key)) changes.emit('change');
        },
      };
    },
    async list(service) {
      return live(service);
    },
    async setWeights(service, weights) {
      checkWeights(service, weights);
      split = { ...split, [service]: { ...weights } };
      changes.emit('change');
    },
    async weights() {
      return structuredClone(split);
    },
    async watch(onChange, pollMs = DEFAULT_POLL_MS) {
      let last: RegistryEntry[] = live();
      let lastWeights = weightsText(split);
      onChange(last, structuredClone(split));
      const check = () => {
        const now = live();
        const nowWeights = weightsText(split);
        if (!sameEntries(now, last) || nowWeights !== lastWeights) {
          last = now;
          lastWeights = nowWeights;
          onChange(now, structuredClone(split));
        }
      };
      changes.on('change', check);
      const poll = setInterval(check, pollMs);
      poll.unref();
      timers.add(poll);
      return () => {
        changes.off('change', check);
        clearInterval(poll);
        timers.delete(poll);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearInterval(timer);
      timers.clear();
      changes.removeAllListeners();
    },
  };
}
