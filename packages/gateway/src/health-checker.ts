import type { UpstreamInstance } from './upstream-instance';

export interface HealthCheckPolicy {
  /** How often each instance's `/readyz` is asked. */
  intervalMs: number;
  /** An answer slower than this counts as a failure. */
  timeoutMs: number;
  /** Failures in a row that mark an instance unhealthy; one success marks it healthy again. */
  unhealthyAfter: number;
  path: string;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckPolicy = {
  intervalMs: 2_000,
  timeoutMs: 1_000,
  unhealthyAfter: 2,
  path: '/readyz',
};

/**
 * Active health checks: every instance's readiness endpoint asked on a timer, through the
 * instance's own connection pool. An instance answering 2xx is healthy; `unhealthyAfter` failures
 * in a row (an error status, a timeout, no connection) take it out of rotation until it answers
 * 2xx again. A service draining answers 503 on `/readyz`, so it leaves rotation this way too.
 */
export function createHealthChecker(
  policy: HealthCheckPolicy,
  onChange: (instance: UpstreamInstance, healthy: boolean) => void,
) {
  const watched = new Map<
    UpstreamInstance,
    { timer: NodeJS.Timeout; failures: number; running: Promise<void> | undefined }
  >();

  /** One check of `instance`; none when one is already running (the interval does not pile them up). */
  function check(instance: UpstreamInstance): Promise<void> {
    const state = watched.get(instance);
    if (!state || state.running) return state?.running ?? Promise.resolve();
    state.running = probe(instance, state).finally(() => {
      state.running = undefined;
    });
    return state.running;
  }

  async function probe(
    instance: UpstreamInstance,
    state: { failures: number; running: Promise<void> | undefined },
  ): Promise<void> {
    let ok: boolean;
    try {
      const response = await instance.pool.request({
        path: policy.path,
        method: 'GET',
        headersTimeout: policy.timeoutMs,
        bodyTimeout: policy.timeoutMs,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      await response.body.dump();
      ok = response.statusCode >= 200 && response.statusCode < 300;
    } catch {
      ok = false;
    }
    if (!watched.has(instance)) return;
    if (ok) {
      state.failures = 0;
      if (!instance.healthy) {
        instance.healthy = true;
        onChange(instance, true);
      }
      return;
    }
    state.failures += 1;
    if (instance.healthy && state.failures >= policy.unhealthyAfter) {
      instance.healthy = false;
      onChange(instance, false);
    }
  }

  return {
    /** Starts checking an instance now and every interval. */
    watch(instance: UpstreamInstance): void {
      if (watched.has(instance)) return;
      const timer = setInterval(() => void check(instance), policy.intervalMs);
      timer.unref();
      watched.set(instance, { timer, failures: 0, running: undefined });
      void check(instance);
    },
    unwatch(instance: UpstreamInstance): void {
      const state = watched.get(instance);
      if (!state) return;
      clearInterval(state.timer);
      watched.delete(instance);
    },
    /**
     * Checks every watched instance now and resolves when all answered (tests, start-up). A check
     * already running may have asked before a change: it is waited for, then a new one is made.
     */
    async checkAll(): Promise<void> {
      await Promise.all(
        [...watched.keys()].map(async (instance) => {
          await watched.get(instance)?.running;
          await check(instance);
        }),
      );
    },
    stop(): void {
      for (const state of watched.values()) clearInterval(state.timer);
      watched.clear();
    },
  };
}

export type HealthChecker = ReturnType<typeof createHealthChecker>;
