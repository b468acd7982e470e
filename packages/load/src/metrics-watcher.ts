import { performance } from 'node:perf_hooks';
import { LoadError } from './load-error';
import { parsePrometheusText, type Sample } from './prometheus-text';

/** What one scrape of one process's `/metrics` said, reduced to the saturation signals. */
export interface Reading {
  /** performance.now() of the scrape. */
  at: number;
  url: string;
  /** `service/instance` from the process's labels, or its URL. */
  process: string;
  up: boolean;
  cpuSeconds?: number;
  eventLoopUtilization?: number;
  eventLoopLagP99?: number;
  poolWaiting?: number;
  poolSize?: number;
  jobsLag?: number;
  rateLimited?: number;
  replicaLag?: number;
}

const WANTED = new Set([
  'process_cpu_seconds_total',
  'nodejs_eventloop_utilization',
  'nodejs_eventloop_lag_p99_seconds',
  'tern_db_pool_waiting',
  'tern_db_pool_total',
  'tern_jobs_lag_seconds',
  'tern_gateway_rate_limited_total',
  'tern_rate_limit_decisions_total',
  'tern_db_replica_lag_seconds',
]);

const sum = (samples: Sample[], name: string, where: (s: Sample) => boolean = () => true) => {
  const found = samples.filter((s) => s.name === name && where(s));
  return found.length ? found.reduce((total, s) => total + s.value, 0) : undefined;
};
const max = (samples: Sample[], name: string) => {
  const found = samples.filter((s) => s.name === name);
  return found.length ? Math.max(...found.map((s) => s.value)) : undefined;
};

/** Reduces one `/metrics` page to a reading. */
export function readingOf(url: string, text: string, at: number): Reading {
  const samples = parsePrometheusText(text, WANTED);
  const cpu = samples.find((s) => s.name === 'process_cpu_seconds_total');
  const named = cpu?.labels.service ? `${cpu.labels.service}/${cpu.labels.instance ?? '?'}` : undefined;
  const reading: Reading = { at, url, process: named ?? new URL(url).host, up: true };
  const set = <K extends keyof Reading>(key: K, value: Reading[K] | undefined) => {
    if (value !== undefined) reading[key] = value;
  };
  set('cpuSeconds', cpu?.value);
  set('eventLoopUtilization', max(samples, 'nodejs_eventloop_utilization'));
  set('eventLoopLagP99', max(samples, 'nodejs_eventloop_lag_p99_seconds'));
  set('poolWaiting', sum(samples, 'tern_db_pool_waiting'));
  set('poolSize', sum(samples, 'tern_db_pool_total'));
  set('jobsLag', max(samples, 'tern_jobs_lag_seconds'));
  const limited = [
    sum(samples, 'tern_gateway_rate_limited_total'),
    sum(samples, 'tern_rate_limit_decisions_total', (s) => s.labels.decision === 'denied'),
  ].filter((value): value is number => value !== undefined);
  if (limited.length) reading.rateLimited = limited.reduce((a, b) => a + b, 0);
  set('replicaLag', max(samples, 'tern_db_replica_lag_seconds'));
  return reading;
}

/**
 * Scrapes the `/metrics` of every process under test once a second while a load runs, keeping
 * the readings (bounded: a reading is a few numbers; an hour of 20 processes is 72,000).
 * `/metrics` is public on every Tern process, so no credential is sent.
 */
export class MetricsWatcher {
  readonly readings: Reading[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly names = new Map<string, string>();

  private constructor(private watched: readonly string[]) {}

  /** The URLs being watched: those that answered at the start. */
  get urls(): readonly string[] {
    return this.watched;
  }

  /**
   * Checks every URL once and watches those that answer; one that does not is left out with a
   * line to `log` (a wrong URL must not pass for a saturated process).
   */
  static async start(urls: readonly string[], log: (line: string) => void): Promise<MetricsWatcher> {
    for (const url of urls) {
      if (!/^https?:$/.test(URL.parse(url)?.protocol ?? '')) {
        throw new LoadError(`--metrics must be an http(s) URL, not "${url.slice(0, 80)}"`);
      }
    }
    const watcher = new MetricsWatcher(urls);
    await watcher.scrapeAll();
    const answering = new Set(watcher.readings.filter((reading) => reading.up).map((reading) => reading.url));
    for (const url of urls)
      if (!answering.has(url)) log(`not watching ${url}: it did not answer with metrics`);
    watcher.watched = urls.filter((url) => answering.has(url));
    watcher.readings.splice(0, watcher.readings.length, ...watcher.readings.filter((reading) => reading.up));
    watcher.timer = setInterval(() => {
      // A scrape slower than the interval is not stacked on.
      watcher.inFlight ??= watcher.scrapeAll().finally(() => (watcher.inFlight = undefined));
    }, 1_000);
    return watcher;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }

  async scrapeAll(): Promise<void> {
    await Promise.all(this.watched.map((url) => this.scrape(url)));
    if (this.readings.length > 200_000) this.readings.splice(0, this.readings.length - 200_000);
  }

  private async scrape(url: string): Promise<void> {
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (!answer.ok) throw new Error(`status ${answer.status}`);
      const reading = readingOf(url, await answer.text(), performance.now());
      this.names.set(url, reading.process);
      this.readings.push(reading);
    } catch {
      // A process that stops answering its metrics is a signal too.
      this.readings.push({
        at: performance.now(),
        url,
        process: this.names.get(url) ?? new URL(url).host,
        up: false,
      });
    }
  }
}
