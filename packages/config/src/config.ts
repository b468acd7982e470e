import type { CacheConfig } from '@tern/cache';
import type { QueueConfig } from '@tern/queue';
import type { RateLimitConfig } from '@tern/rate-limit';
import type { StoreConfig } from '@tern/store';
import type { MailConfig } from '@tern/mail';
import type { ApiKey, GatewayRatePolicy, GatewayRoute } from '@tern/gateway';
import type { RegistryConfig } from '@tern/registry';
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
  /** `TERN_LOG_LEVELS`: a level per service name, over `logLevel` for that service's lines. */
  logLevels: Record<string, LogLevel>;
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
  auth: AuthConfig;
  data: DataConfig;
  mail: MailConfig;
  /** `TERN_API_URL`: where services call Tern's public API; unset: the process's own URL. */
  apiUrl: string | undefined;
  /** OpenTelemetry traces: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_SAMPLER_ARG`. */
  tracing: {
    endpoint: string | undefined;
    sampleRatio: number;
    /** `OTEL_BSP_*`: the batch span processor's export delay, buffer and batch size. */
    exportDelayMs: number;
    maxQueueSize: number;
    maxExportBatchSize: number;
  };
  jobs: JobsConfig;
  gateway: GatewayConfig;
  registry: {
    store: RegistryConfig;
    /** Where gateways reach this process; registration happens only when set. */
    advertiseUrl: string | undefined;
    version: string;
  };
}

/** The gateway process (`tern start --service gateway`). */
export interface GatewayConfig {
  /** Each service's instances (origins). */
  upstreams: Record<string, string[]>;
  /** Undefined: the routes of Tern's own services (`DEFAULT_ROUTES`). */
  routes: readonly GatewayRoute[] | undefined;
  upstreamTimeoutMs: number;
  retries: number;
  /** Undefined: `DEFAULT_RATE_POLICIES`. */
  rateLimits: readonly GatewayRatePolicy[] | undefined;
  rateLimitFailure: 'local' | 'closed';
  corsOrigins: string[];
  apiKeys: ApiKey[];
  /** PEM files; the gateway serves HTTPS when set. */
  tls: { certFile: string; keyFile: string } | undefined;
}

/** The jobs service and its workers. */
export interface JobsConfig {
  concurrency: number;
  retentionDays: number;
  /** Signs webhook deliveries; webhook.deliver is refused without it. */
  webhookSecret: Secret | undefined;
  /** Hosts webhooks may reach although they resolve to loopback, private or link-local addresses. */
  webhookAllowedHosts: string[];
  webhookTimeoutMs: number;
}

export interface DataConfig {
  /** Collections with more documents than this refuse list queries no index serves. */
  unindexedQueryLimit: number;
  changesRetentionDays: number;
}

export interface AuthConfig {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  /** Sliding: a session unused this long expires. */
  sessionTtlSeconds: number;
  refreshGraceMs: number;
  keyRotationDays: number;
  /** JSON array of private Ed25519 JWKs; when absent auth generates keys and keeps them in the store. */
  signingKeys: Secret | undefined;
  /** For processes that verify tokens but do not host auth. */
  jwksUrl: string | undefined;
  linkUrl: string | undefined;
  apple: { clientIds: string[]; jwksUrl: string };
  google: { clientIds: string[]; jwksUrl: string };
  argon2: { memoryKiB: number; iterations: number };
  hashConcurrency: number;
}
