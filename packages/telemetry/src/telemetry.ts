import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** What every infrastructure adapter receives to log and export metrics. */
export interface Telemetry {
  log: Logger;
  metrics: Registry;
}
