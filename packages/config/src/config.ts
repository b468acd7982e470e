import type { CacheConfig } from '@tern/cache';
import type { QueueConfig } from '@tern/queue';
import type { RateLimitConfig } from '@tern/rate-limit';
import type { StoreConfig } from '@tern/store';
import type { LogLevel } from '@tern/telemetry';
import type { Secret } from './secret';

/**
 * The validated configuration of one process. Adapter configs carry connection URLs, which may
 * hold passwords: print a config only through `describeConfig`, which redacts them.
 */
export interface TernConfig {
  port: number;
  host: string;
  dataDir: string;
  logLevel: LogLevel;
  /** Admin credential from TERN_ADMIN_KEY; in the all-in-one shape generated when absent. */
  adminKey: Secret | undefined;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  /** On SIGTERM, stay serving (but not ready) this long before draining, for load balancers to notice. */
  shutdownDelayMs: number;
  requestTimeoutMs: number;
  instanceId: string;
  /** Services to host in this process; empty means all known services. */
  services: string[];
  store: StoreConfig;
  cache: CacheConfig;
  queue: QueueConfig;
  rateLimit: RateLimitConfig;
}
