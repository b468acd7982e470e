import type { Logger } from 'pino';
import type { Tracer } from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** What every infrastructure adapter receives to log, export metrics and make spans. */
export interface Telemetry {
  log: Logger;
  metrics: Registry;
  /** Spans of database, cache and queue calls; absent: none are made. */
  tracer?: Tracer;
}
