import { Pool } from 'undici';

export interface OutlierPolicy {
  /** Timeouts or 5xx answers in a row that eject an instance (a refused connection ejects at once). */
  consecutiveFailures: number;
  /** The first ejection's length; each further one in a row doubles it, up to `maxEjectionMs`. */
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export const DEFAULT_OUTLIER_POLICY: OutlierPolicy = {
  consecutiveFailures: 5,
  baseEjectionMs: 5_000,
  maxEjectionMs: 60_000,
};

/** Why a request to an instance failed, as far as ejection is concerned. */
export type FailureKind = 'connect' | 'timeout' | 'server-error';

/**
 * One instance of a service behind the gateway: a keep-alive connection pool (undici), the
 * requests outstanding on it, and its health as the gateway sees it.
 *
 * Health has three inputs:
 * - the active check (`/readyz`, by the health checker): `healthy`;
 * - passive outlier detection, which doubles as the instance's circuit breaker: a refused or
 *   reset connection, or `consecutiveFailures` timeouts/5xx in a row, open the circuit (the
 *   instance is ejected) for a backoff that doubles with each ejection in a row; once it ends
 *   the circuit is half-open: the instance takes traffic again, a first success closes the
 *   circuit (and resets the backoff), a first failure opens it again for twice as long;
 * - draining: an instance leaving takes no new requests and finishes those it has.
 */
export class UpstreamInstance {
  readonly pool: Pool;
  outstanding = 0;
  healthy = true;
  draining = false;
  ejectedUntil = 0;
  private ejectionsInRow = 0;
  private failuresInRow = 0;
  private halfOpen = false;

  constructor(
    readonly service: string,
    readonly version: string,
    readonly origin: string,
    private readonly policy: OutlierPolicy,
    private readonly onEject: (instance: UpstreamInstance, forMs: number) => void = () => {},
  ) {
    this.pool = new Pool(origin, {
      // Keep-alive: connections are reused across requests; idle ones close after 30 s.
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connections: 256,
      pipelining: 1,
    });
  }

  available(now: number): boolean {
    return this.healthy && !this.draining && now >= this.ejectedUntil;
  }

  ejected(now: number): boolean {
    return now < this.ejectedUntil;
  }

  recordSuccess(): void {
    this.failuresInRow = 0;
    if (this.halfOpen) {
      this.halfOpen = false;
      this.ejectionsInRow = 0;
    }
  }

  recordFailure(kind: FailureKind, now: number): void {
    this.failuresInRow += 1;
    if (kind === 'connect' || this.halfOpen || this.failuresInRow >= this.policy.consecutiveFailures) {
      this.eject(now);
    }
  }

  private eject(now: number): void {
    if (this.ejected(now)) return;
    this.ejectionsInRow += 1;
    const forMs = Math.min(
      this.policy.maxEjectionMs,
      this.policy.baseEjectionMs * 2 ** (this.ejectionsInRow - 1),
    );
    this.ejectedUntil = now + forMs;
    this.failuresInRow = 0;
    this.halfOpen = true;
    this.onEject(this, forMs);
  }

  private closing: Promise<void> | undefined;

  /** Closes the pool once its requests are done; closing again (retired, then the gateway stopped) waits for the same. */
  close(): Promise<void> {
    this.closing ??= this.pool.close();
    return this.closing;
  }
}

/**
 * Power of two choices on outstanding requests: two instances drawn at random among those
 * available (not ejected, healthy, not draining, not already tried for this request), the one
 * with fewer requests in flight wins. Nearly as good as least-outstanding over all instances,
 * without the herd that follows the single least-loaded one when several gateways balance at once.
 */
export function pickInstance(
  instances: readonly UpstreamInstance[],
  now: number,
  tried?: ReadonlySet<UpstreamInstance>,
  random: () => number = Math.random,
): UpstreamInstance | undefined {
  let first: UpstreamInstance | undefined;
  let second: UpstreamInstance | undefined;
  let seen = 0;
  // Reservoir sampling of two, without building the list of candidates.
  for (const instance of instances) {
    if (!instance.available(now) || tried?.has(instance)) continue;
    seen += 1;
    if (seen === 1) first = instance;
    else if (seen === 2) second = instance;
    else {
      const slot = Math.floor(random() * seen);
      if (slot === 0) first = instance;
      else if (slot === 1) second = instance;
    }
  }
  if (!first || !second) return first;
  if (first.outstanding !== second.outstanding)
    return first.outstanding < second.outstanding ? first : second;
  return random() < 0.5 ? first : second;
}
