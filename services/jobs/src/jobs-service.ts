import type { ServiceDefinition, ServiceDeps, ServiceModule } from '@tern/runtime';
import { Gauge } from '@tern/telemetry';
import { createJobIntake } from './job-intake';
import { createJobRunner } from './job-runner';
import { createJobScheduler } from './job-scheduler';
import { jobStore } from './job-store';
import { createJobTypeRegistry, type JobType } from './job-types';
import { JOBS_MIGRATIONS } from './jobs-migrations';
import { adminRoutes } from './routes/admin-routes';
import { jobRoutes } from './routes/job-routes';
import { accountExportJob } from './types/account-export';
import { emailSendJob } from './types/email-send';
import { webhookDeliverJob } from './types/webhook-deliver';

const SCHEDULER_INTERVAL_MS = 250;
const PRUNE_EVERY_MS = 3_600_000;

export interface JobsServiceOptions {
  /** Job types beyond the built-in ones (tests, embedders). */
  extraTypes?: readonly JobType<never>[];
  /**
   * `api`: the `/v1/jobs` and admin routes, with workers and the scheduler (all-in-one, and the
   * jobs service). `worker`: workers and the scheduler only (`tern start --service worker`).
   */
  role?: 'api' | 'worker';
}

/**
 * Background jobs: `/v1/jobs` accepts work and answers 202 once it is stored, workers in every
 * process hosting this service run it from the queue, a scheduler hands delayed and recurring
 * jobs over when due, and the admin API manages dead letters and schedules.
 */
export function createJobsService(deps: ServiceDeps, options: JobsServiceOptions = {}): ServiceModule {
  const webhook = webhookDeliverJob({
    secret: deps.config.jobs.webhookSecret,
    allowedHosts: deps.config.jobs.webhookAllowedHosts,
    timeoutMs: deps.config.jobs.webhookTimeoutMs,
  });
  const registry = createJobTypeRegistry([
    emailSendJob(deps.mailer) as JobType<never>,
    accountExportJob({ store: deps.store, adminKey: deps.adminKey, apiUrl: deps.apiUrl }) as JobType<never>,
    webhook as JobType<never>,
    ...(options.extraTypes ?? []),
  ]);
  const intake = createJobIntake(deps);
  const runners = createJobRunner(deps, registry, { concurrency: deps.config.jobs.concurrency });
  const scheduler = createJobScheduler(deps, registry, intake, { intervalMs: SCHEDULER_INTERVAL_MS });
  let pruning: NodeJS.Timeout | undefined;

  // Depth and lag from the jobs table, read when scraped: the truth whatever queue carries the work.
  if (!deps.metrics.getSingleMetric('tern_jobs_queued')) {
    const lag = new Gauge({
      name: 'tern_jobs_lag_seconds',
      help: 'Age of the oldest job due and not yet started, by type.',
      labelNames: ['type'],
      registers: [deps.metrics],
    });
    const dead = new Gauge({
      name: 'tern_jobs_dead',
      help: 'Dead letters (jobs that used up their attempts) not yet replayed or purged, by type.',
      labelNames: ['type'],
      registers: [deps.metrics],
    });
    new Gauge({
      name: 'tern_jobs_queued',
      help: 'Jobs due and waiting to start, by type.',
      labelNames: ['type'],
      registers: [deps.metrics],
      async collect() {
        const now = Date.now();
        const rows = await deps.store.query<{ type: string; status: string; count: number; oldest: number }>(
          `SELECT type, status, COUNT(*) AS count, MIN(run_at) AS oldest FROM jobs
           WHERE (status = 'queued' AND run_at <= $1) OR status = 'dead' GROUP BY type, status`,
          [now],
        );
        this.reset();
        lag.reset();
        dead.reset();
        for (const row of rows) {
          if (row.status === 'dead') dead.set({ type: row.type }, Number(row.count));
          else {
            this.set({ type: row.type }, Number(row.count));
            lag.set({ type: row.type }, Math.max(0, now - Number(row.oldest)) / 1000);
          }
        }
      },
    });
  }

  const api = (options.role ?? 'api') === 'api';
  return {
    name: api ? 'jobs' : 'worker',
    migrations: JOBS_MIGRATIONS,
    migrationScope: 'jobs',
    routes: api
      ? [
          ...jobRoutes(deps.store, registry, intake),
          ...adminRoutes(deps.store, deps.outbox, registry, intake),
        ]
      : [],
    consumers: runners,
    async start() {
      scheduler.start();
      pruning = setInterval(() => {
        const before = Date.now() - deps.config.jobs.retentionDays * 86_400_000;
        deps.store
          .execute('DELETE FROM job_exports WHERE expires_at < $1', [Date.now()])
          .then(() => jobStore.pruneFinished(deps.store, before))
          .then((removed) => removed > 0 && deps.log.info({ removed }, 'pruned finished jobs'))
          .catch((error: unknown) => deps.log.warn({ err: error }, 'pruning finished jobs failed'));
      }, PRUNE_EVERY_MS);
      pruning.unref();
    },
    async stop() {
      clearInterval(pruning);
      await scheduler.stop();
      await webhook.close();
    },
  };
}

export const jobsService: ServiceDefinition = { name: 'jobs', create: (deps) => createJobsService(deps) };

/** Worker processes: more hands for the jobs, scaled on their own, with no API. */
export const workerService: ServiceDefinition = {
  name: 'worker',
  onlyWhenNamed: true,
  create: (deps) => createJobsService(deps, { role: 'worker' }),
};
