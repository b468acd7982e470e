import type pg from 'pg';
import { counter, gauge } from '@tern/telemetry';
import type { Logger, Registry } from '@tern/telemetry';
import { formatConsistencyToken, parseConsistencyToken } from './consistency';
import { trackPoolGauges } from './pool-gauges';
import { describeError, describeTarget, openPgPool, queryConfig } from './pg-pool';

export interface ReplicaSetConfig {
  urls: readonly string[];
  poolSize: number;
  statementTimeoutMs: number;
  /** A replica further behind the primary than this is out of rotation until it catches up. */
  maxLagMs: number;
  /** How often each replica's replay position (and the primary's WAL position) is read. */
  checkIntervalMs: number;
  /** The primary's current WAL position; `undefined` when it could not be read. */
  primaryPosition(): Promise<bigint | undefined>;
  log: Logger;
  registry: Registry;
}

export interface Replica {
  /** `host:port/db`, for logs and metrics; never the password. */
  readonly name: string;
  readonly pool: pg.Pool;
  /** Statements running on it now, for least-loaded routing. */
  outstanding: number;
  /** Settles when the replica next leaves rotation: reads still waiting on it give up then. */
  readonly leftRotation: Promise<void>;
}

export type ReplicaHealth = 'up' | 'lagging' | 'down' | 'not-a-replica' | 'unchecked';

export interface ReplicaStatus {
  name: string;
  health: ReplicaHealth;
  lagMs: number;
  replayed: string | undefined;
}

export interface ReplicaSet {
  /**
   * The least-loaded replica in rotation that has replayed at least `position`, if any. A replica's
   * replayed position is only ever read, never guessed, so a replica chosen here shows every
   * commit up to `position`.
   */
  pick(position?: bigint): Replica | undefined;
  /** Takes a replica out of rotation after a failed connection; the next good check puts it back. */
  markDown(replica: Replica, error: unknown): void;
  status(): ReplicaStatus[];
  /** Runs one round of checks now (also run every `checkIntervalMs`). */
  check(): Promise<void>;
  close(): Promise<void>;
}

interface Member extends Replica {
  leftRotation: Promise<void>;
  leave: () => void;
  health: ReplicaHealth;
  replayed: bigint;
  lagMs: number;
}

const CHECK_TIMEOUT_MS = 2_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** The primary's recent WAL positions, to turn a replica's replay position into a lag in time. */
const MAX_SAMPLES = 600;

/**
 * Read replicas of the primary: a pool each, a health check that reads each replica's replay
 * position, and routing to the least-loaded replica in rotation.
 *
 * Lag is measured in time against the primary's own history: every check records the primary's
 * WAL position; a replica is at most as far behind as the newest recorded position it has
 * replayed is old (0 when it has replayed the latest). An idle primary therefore never makes a
 * healthy replica look late, a replica that stops replaying shows a lag that grows with the
 * clock, and one behind every recorded position (found far behind at start-up) is not admitted.
 */
export function createReplicaSet(config: ReplicaSetConfig): ReplicaSet {
  const log = config.log.child({ component: 'replicas' });
  const lagGauge = gauge(
    config.registry,
    'tern_db_replica_lag_seconds',
    'How far each read replica is behind the primary.',
    ['replica'],
  );
  const upGauge = gauge(
    config.registry,
    'tern_db_replica_in_rotation',
    '1 while a read replica takes reads, 0 while it lags or is down.',
    ['replica'],
  );
  const transitions = counter(
    config.registry,
    'tern_db_replica_transitions_total',
    'Read replicas taken out of or put back into rotation.',
    ['replica', 'to'],
  );
  const samples: { at: number; position: bigint }[] = [];
  const members: Member[] = config.urls.map((url) => {
    const pool = openPgPool(url, config.poolSize, config.statementTimeoutMs);
    const name = describeTarget(url);
    pool.on('error', (error) =>
      log.warn({ replica: name, err: describeError(error) }, 'idle replica connection failed'),
    );
    return { name, pool, outstanding: 0, health: 'unchecked', replayed: 0n, lagMs: 0, ...rotationSignal() };
  });
  const untrack = members.map((member) => trackPoolGauges(config.registry, member.pool));
  let checking: Promise<void> | undefined;
  let closed = false;

  function setHealth(member: Member, health: ReplicaHealth, detail: Record<string, unknown> = {}): void {
    const wasIn = member.health === 'up';
    const isIn = health === 'up';
    if (member.health !== health) {
      const line = { replica: member.name, from: member.health, to: health, ...detail };
      if (isIn) log.info(line, 'replica in rotation');
      else log.warn(line, 'replica out of rotation');
    }
    if (wasIn !== isIn) transitions.inc({ replica: member.name, to: isIn ? 'in' : 'out' });
    if (wasIn && !isIn) {
      member.leave();
      Object.assign(member, rotationSignal());
    }
    member.health = health;
    upGauge.set({ replica: member.name }, isIn ? 1 : 0);
  }

  /**
   * How far behind a replica is, at most: the age of the newest primary position it has replayed
   * (0 once it has replayed the latest). Infinite when it has replayed none of the positions
   * recorded, which covers a replica found far behind at start-up: it is not admitted until it
   * passes a position the primary held within the threshold.
   */
  function lagOf(replayed: bigint, now: number): number {
    const latest = samples.at(-1);
    if (latest && replayed >= latest.position) return 0;
    for (let i = samples.length - 1; i >= 0; i--) {
      const sample = samples[i] as (typeof samples)[number];
      if (sample.position <= replayed) return now - sample.at;
    }
    return Number.POSITIVE_INFINITY;
  }

  async function checkMember(member: Member, now: number): Promise<void> {
    try {
      const { rows } = await member.pool.query<{ standby: boolean; replayed: string | null }>(
        queryConfig('SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed', [], {
          queryTimeoutMs: CHECK_TIMEOUT_MS,
        }),
      );
      const row = rows[0];
      if (!row?.standby) {
        setHealth(member, 'not-a-replica', {
          reason: 'the server is not in recovery (promoted, or the primary)',
        });
        return;
      }
      member.replayed = (row.replayed && parseConsistencyToken(row.replayed)) || 0n;
      member.lagMs = lagOf(member.replayed, now);
      lagGauge.set({ replica: member.name }, member.lagMs / 1000);
      setHealth(member, member.lagMs > config.maxLagMs ? 'lagging' : 'up', {
        lagMs: Number.isFinite(member.lagMs)
          ? member.lagMs
          : 'unknown: behind every recorded primary position',
      });
    } catch (error) {
      setHealth(member, 'down', { err: describeError(error as Error) });
    }
  }

  async function checkAll(): Promise<void> {
    const position = await config.primaryPosition().catch(() => undefined);
    const now = Date.now();
    if (position !== undefined) {
      samples.push({ at: now, position });
      if (samples.length > MAX_SAMPLES) samples.shift();
      // Samples older than the lag threshold only ever say "too late"; keep one of them for that.
      while (samples.length > 1 && (samples[1]?.at ?? now) < now - config.maxLagMs * 2) samples.shift();
    }
    await Promise.all(members.map((member) => checkMember(member, now)));
  }

  const check = () => {
    checking ??= checkAll().finally(() => {
      checking = undefined;
    });
    return checking;
  };
  const timer = setInterval(() => {
    if (!closed) void check();
  }, config.checkIntervalMs);
  timer.unref();

  return {
    pick(position = 0n) {
      let best: Member | undefined;
      for (const member of members) {
        if (member.health !== 'up' || member.replayed < position) continue;
        if (!best || member.outstanding < best.outstanding) best = member;
      }
      return best;
    },
    markDown(replica, error) {
      const member = members.find((m) => m === replica);
      if (member && member.health !== 'down')
        setHealth(member, 'down', { err: describeError(error as Error) });
    },
    status: () =>
      members.map((m) => ({
        name: m.name,
        health: m.health,
        lagMs: m.lagMs,
        replayed: m.health === 'unchecked' ? undefined : formatConsistencyToken(m.replayed),
      })),
    check,
    async close() {
      closed = true;
      clearInterval(timer);
      await checking?.catch(() => undefined);
      untrack.forEach((fn) => fn());
      // A read stuck on a replica that stopped answering would hold `end()` until its timeout.
      let patience: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'gave-up'>((resolve) => {
        patience = setTimeout(() => resolve('gave-up'), CLOSE_TIMEOUT_MS);
      });
      const ended = Promise.allSettled(members.map((member) => member.pool.end())).then(
        () => 'ended' as const,
      );
      if ((await Promise.race([ended, gaveUp])) === 'gave-up') {
        log.warn(
          { waitedMs: CLOSE_TIMEOUT_MS },
          'replica connections still busy at close; no longer waiting',
        );
      }
      clearTimeout(patience);
    },
  };
}

function rotationSignal(): { leftRotation: Promise<void>; leave: () => void } {
  let leave!: () => void;
  const leftRotation = new Promise<void>((resolve) => (leave = resolve));
  return { leftRotation, leave };
}
