import type { RegistryEntry, Weights } from '@tern/registry';
import { pickInstance, type UpstreamInstance } from './upstream-instance';

/** The version an instance listed in `TERN_GATEWAY_UPSTREAMS` without `@version` belongs to. */
export const DEFAULT_VERSION = 'v1';

/** Splits a configured upstream key, `data` or `data@v2`. */
export function parseUpstreamKey(key: string): { service: string; version: string } {
  const at = key.indexOf('@');
  return at === -1
    ? { service: key, version: DEFAULT_VERSION }
    : { service: key.slice(0, at), version: key.slice(at + 1) };
}

/** FNV-1a: a user's stable point in [0, 1), so a shift moves each user once, not back and forth. */
export function cohortPoint(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 2 ** 32;
}

/**
 * Every service's instances, grouped by version, from two sources: the static list of the
 * configuration and the registry's live entries. An instance gone from both is retired: it takes
 * no new request and its pool closes once its requests in flight are done (draining). The split
 * between versions follows the weights: a version's share is its weight over the total of the
 * versions that have an available instance; a version without a weight gets none while another
 * has one, and all share equally when none has.
 */
export class ServiceTable {
  private readonly byService = new Map<string, Map<string, UpstreamInstance[]>>();
  private readonly byKey = new Map<string, UpstreamInstance>();
  private registered: readonly RegistryEntry[] = [];
  private split: Weights = {};

  constructor(
    private readonly fixed: Readonly<Record<string, readonly string[]>>,
    private readonly make: (service: string, version: string, origin: string) => UpstreamInstance,
    private readonly retire: (instance: UpstreamInstance) => void,
  ) {
    this.rebuild();
  }

  /** New registry entries and/or weights (from the registry's watch or the admin API). */
  update(entries: readonly RegistryEntry[] | undefined, weights: Weights | undefined): void {
    if (entries) this.registered = entries;
    if (weights) this.split = weights;
    this.rebuild();
  }

  setWeights(service: string, weights: Record<string, number>): void {
    this.split = { ...this.split, [service]: { ...weights } };
  }

  weights(): Weights {
    return this.split;
  }

  services(): string[] {
    return [...this.byService.keys()];
  }

  versions(service: string): ReadonlyMap<string, readonly UpstreamInstance[]> {
    return this.byService.get(service) ?? new Map();
  }

  instances(service: string): UpstreamInstance[] {
    return [...this.versions(service).values()].flat();
  }

  all(): UpstreamInstance[] {
    return [...this.byKey.values()];
  }

  /**
   * An instance for a request: the pinned version when it has an available instance, else a
   * version drawn by weight (at the user's cohort point when known, so a user stays on one
   * version while the split holds), then power of two choices within it. Versions with nothing
   * available are skipped, so a shift never sends traffic to an empty version.
   */
  pick(
    service: string,
    now: number,
    tried: ReadonlySet<UpstreamInstance>,
    pin: string | undefined,
    point: number | undefined,
  ): UpstreamInstance | undefined {
    const versions = this.byService.get(service);
    if (!versions) return undefined;
    const open: [string, readonly UpstreamInstance[]][] = [];
    for (const entry of versions) {
      if (entry[1].some((instance) => instance.available(now) && !tried.has(instance))) open.push(entry);
    }
    if (open.length === 0) return undefined;
    if (pin !== undefined) {
      const pinned = versions.get(pin);
      const chosen = pinned && pickInstance(pinned, now, tried);
      if (chosen) return chosen;
    }
    if (open.length === 1) return pickInstance((open[0] as [string, UpstreamInstance[]])[1], now, tried);
    const configured = this.split[service];
    const weighted = configured && Object.keys(configured).length > 0;
    let total = 0;
    const shares = open.map(([version, list]) => {
      const weight = weighted ? (configured[version] ?? 0) : 1;
      total += weight;
      return { weight, list };
    });
    // Every open version weighted 0: serve rather than refuse.
    if (total === 0) {
      for (const share of shares) share.weight = 1;
      total = shares.length;
    }
    let at = (point ?? Math.random()) * total;
    for (const share of shares) {
      if (at < share.weight) return pickInstance(share.list, now, tried);
      at -= share.weight;
    }
    return pickInstance(
      (shares[shares.length - 1] as { list: readonly UpstreamInstance[] }).list,
      now,
      tried,
    );
  }

  private rebuild(): void {
    const wanted = new Map<string, { service: string; version: string; origin: string }>();
    for (const [key, origins] of Object.entries(this.fixed)) {
      const { service, version } = parseUpstreamKey(key);
      for (const origin of origins)
        wanted.set(`${service}|${version}|${origin}`, { service, version, origin });
    }
    for (const { service, version, origin } of this.registered) {
      wanted.set(`${service}|${version}|${origin}`, { service, version, origin });
    }
    for (const [key, instance] of this.byKey) {
      if (wanted.has(key)) continue;
      this.byKey.delete(key);
      this.retire(instance);
    }
    for (const [key, { service, version, origin }] of wanted) {
      if (!this.byKey.has(key)) this.byKey.set(key, this.make(service, version, origin));
    }
    this.byService.clear();
    for (const instance of this.byKey.values()) {
      let versions = this.byService.get(instance.service);
      if (!versions) {
        versions = new Map();
        this.byService.set(instance.service, versions);
      }
      versions.set(instance.version, [...(versions.get(instance.version) ?? []), instance]);
    }
  }
}
