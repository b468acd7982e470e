/** One instance of one service, as it announces itself. */
export interface RegistryEntry {
  service: string;
  /** The deployment it belongs to (`v1`, `v2`, `blue`…): traffic shifting splits between versions. */
  version: string;
  /** Where the gateway reaches it: an origin such as `http://10.0.0.5:8080`. */
  origin: string;
  instanceId: string;
}

export interface Registration {
  /** Leaves the registry at once (before draining), rather than when the heartbeat stops. */
  deregister(): Promise<void>;
}

/**
 * Service discovery: instances register on start and keep their entry alive with a heartbeat;
 * an entry not renewed within its TTL (a crashed instance) disappears by itself. Watchers hear
 * of every change. Two implementations pass one contract suite (`registry.contract.ts`):
 * in-process (all-in-one, tests) and Redis (shared by every process of a deployment).
 */
export interface ServiceRegistry {
  readonly kind: 'memory' | 'redis';
  /** Announces an entry, renewed every `ttlMs / 3` until deregistered or closed. */
  register(entry: RegistryEntry, ttlMs?: number): Promise<Registration>;
  /** The live entries, of one service or all. */
  list(service?: string): Promise<RegistryEntry[]>;
  /**
   * The traffic split of a service between its versions, 0–100 each (they need not add up to
   * 100: each version gets its weight's share of the total). Replaces the service's previous split.
   */
  setWeights(service: string, weights: Readonly<Record<string, number>>): Promise<void>;
  /** Every service's split, as last set. */
  weights(): Promise<Weights>;
  /**
   * Calls `onChange` with every live entry and the weights now, then whenever either changes (a
   * registration, a deregistration, new weights, an expiry noticed within `pollMs`). Resolves to
   * a function that stops it.
   */
  watch(onChange: (entries: RegistryEntry[], weights: Weights) => void, pollMs?: number): Promise<() => void>;
  close(): Promise<void>;
}

/** Per service, per version: its weight. */
export type Weights = Record<string, Record<string, number>>;

export type RegistryConfig = { kind: 'memory' } | { kind: 'redis'; url: string; keyPrefix: string };

export const DEFAULT_TTL_MS = 10_000;
export const DEFAULT_POLL_MS = 1_000;

/** The identity of an entry, for sets and change detection. */
export function entryKey(entry: RegistryEntry): string {
  return `${entry.service}|${entry.version}|${entry.origin}|${entry.instanceId}`;
}

export function parseEntryKey(key: string): RegistryEntry | undefined {
  const [service, version, origin, instanceId, ...rest] = key.split('|');
  if (!service || !version || !origin || !instanceId || rest.length > 0) return undefined;
  return { service, version, origin, instanceId };
}

const NAME = /^[a-z][a-z0-9-]{0,47}$/;
const VERSION = /^[A-Za-z0-9._-]{1,32}$/;
const INSTANCE = /^[A-Za-z0-9._-]{1,64}$/;

/** Throws a RangeError for an entry that could not be stored or routed to. */
export function checkEntry(entry: RegistryEntry): void {
  if (!NAME.test(entry.service)) throw new RangeError(`service ${JSON.stringify(entry.service)}`);
  if (!VERSION.test(entry.version)) throw new RangeError(`version ${JSON.stringify(entry.version)}`);
  if (!INSTANCE.test(entry.instanceId))
    throw new RangeError(`instanceId ${JSON.stringify(entry.instanceId)}`);
  let origin: URL;
  try {
    origin = new URL(entry.origin);
  } catch {
    throw new RangeError(`origin ${JSON.stringify(entry.origin)} is not a URL`);
  }
  if (!['http:', 'https:'].includes(origin.protocol) || origin.origin !== entry.origin) {
    throw new RangeError(`origin ${JSON.stringify(entry.origin)} must be an http(s) origin, no path`);
  }
}

/** Sorted, so two lists of the same entries compare equal. */
export function sameEntries(a: readonly RegistryEntry[], b: readonly RegistryEntry[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((entry, index) => entryKey(entry) === entryKey(b[index] as RegistryEntry));
}

export function sortEntries(entries: RegistryEntry[]): RegistryEntry[] {
  return entries.sort((x, y) => (entryKey(x) < entryKey(y) ? -1 : entryKey(x) > entryKey(y) ? 1 : 0));
}

/** Throws a RangeError unless every weight is a whole number from 0 to 100 of a valid version. */
export function checkWeights(service: string, weights: Readonly<Record<string, number>>): void {
  if (!NAME.test(service)) throw new RangeError(`service ${JSON.stringify(service)}`);
  for (const [version, weight] of Object.entries(weights)) {
    if (!VERSION.test(version)) throw new RangeError(`version ${JSON.stringify(version)}`);
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new RangeError(`weight of ${version} must be a whole number from 0 to 100`);
    }
  }
}

/** A stable text of weights, for change detection. */
export function weightsText(weights: Weights): string {
  return JSON.stringify(
    Object.keys(weights)
      .sort()
      .map((service) => [
        service,
        Object.entries(weights[service] ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      ]),
  );
}
