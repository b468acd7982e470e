import type { RecentTrace, Registry, TraceRing } from '@tern/telemetry';

/** The metric families the dashboard draws; everything else stays out of its payload. */
export const DASHBOARD_METRICS = [
  'tern_http_request_duration_seconds',
  'tern_http_requests_in_flight',
  'tern_gateway_requests_total',
  'tern_gateway_upstream_duration_seconds',
  'tern_gateway_upstream_errors_total',
  'tern_gateway_upstream_ejections_total',
  'tern_jobs_queued',
  'tern_jobs_lag_seconds',
  'tern_jobs_dead',
  'tern_jobs_attempts_total',
  'tern_cache_hits_total',
  'tern_cache_misses_total',
  'tern_db_replica_lag_seconds',
  'tern_db_pool_waiting',
  'tern_rate_limit_decisions_total',
  // Read first: their collectors set the families after them (prom-client's default metrics).
  'process_cpu_user_seconds_total',
  'nodejs_eventloop_lag_seconds',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_utilization',
] as const;

/** One sample: a metric's (or histogram series') name, its labels and value. */
export type Sample = [name: string, labels: Record<string, string>, value: number];

/** What one process reports to the dashboard at one moment. */
export interface ProcessSnapshot {
  service: string;
  instance: string;
  /** Unix milliseconds. */
  at: number;
  samples: Sample[];
  /** Its slowest sampled traces of the last minute. */
  traces: RecentTrace[];
}

/** What the dashboard page polls: every process it can see, and the gateway's instances. */
export interface DashboardData {
  at: number;
  processes: ProcessSnapshot[];
  /** Upstream instances as the gateway sees them (absent in the all-in-one shape). */
  instances?: {
    service: string;
    version: string;
    origin: string;
    available: boolean;
    healthy: boolean;
    ejected: boolean;
  }[];
  /** Processes the gateway could not read (origin and why). */
  unreachable?: { origin: string; error: string }[];
}

const TRACE_WINDOW_MS = 60_000;
const TRACES_KEPT = 10;

/**
 * This process's snapshot: the dashboard's metric families (collected now) and its slowest
 * traces (none without a trace ring).
 */
export async function processSnapshot(
  registry: Registry,
  recent: TraceRing | undefined,
  process: { service: string; instance: string },
): Promise<ProcessSnapshot> {
  const samples: Sample[] = [];
  for (const name of DASHBOARD_METRICS) {
    const metric = registry.getSingleMetric(name);
    if (!metric) continue;
    // A collector that fails (a gauge reading an unreachable database) leaves its family out.
    const read = await metric.get().catch(() => undefined);
    for (const value of read?.values ?? []) {
      const labels: Record<string, string> = {};
      for (const [key, label] of Object.entries(value.labels)) {
        if (label !== undefined) labels[key] = String(label);
      }
      const series = (value as { metricName?: string }).metricName ?? name;
      samples.push([series, labels, Number(value.value)]);
    }
  }
  return {
    service: process.service,
    instance: process.instance,
    at: Date.now(),
    samples,
    traces: recent?.slowest(TRACE_WINDOW_MS, TRACES_KEPT) ?? [],
  };
}
