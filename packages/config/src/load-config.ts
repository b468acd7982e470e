import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import type { LogLevel } from '@tern/telemetry';
import type { TernConfig } from './config';
import {
  gatewayApiKeys,
  gatewayRatePolicies,
  gatewayRoutes,
  hosts,
  advertisedOrigin,
  identifiers,
  integer,
  levelsByName,
  ratio,
  list,
  mailbox,
  nonEmpty,
  oneOf,
  opaqueSecret,
  prefix,
  secret,
  serviceInstances,
  url,
  urls,
  type ConfigKey,
  type Parsed,
} from './keys';
import type { Secret } from './secret';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Both files or neither: one alone is a mistake, reported like any bad value. */
function tlsFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
  issues: { key: string; reason: string }[],
): { certFile: string; keyFile: string } | undefined {
  if (certFile && keyFile) return { certFile, keyFile };
  if (certFile || keyFile) {
    const [set, missing] = certFile
      ? ['TERN_GATEWAY_TLS_CERT_FILE', 'TERN_GATEWAY_TLS_KEY_FILE']
      : ['TERN_GATEWAY_TLS_KEY_FILE', 'TERN_GATEWAY_TLS_CERT_FILE'];
    issues.push({ key: set, reason: `must be set together with ${missing}` });
  }
  return undefined;
}

/** Every configuration key Tern reads. `tern config` prints this table; docs/configuration.md mirrors it. */
export const CONFIG_KEYS = {
  PORT: {
    name: 'PORT',
    description: 'HTTP port; 0 picks a free one.',
    defaultText: '8080',
    parse: integer(0, 65535),
  },
  TERN_HOST: {
    name: 'TERN_HOST',
    description: 'Address to listen on.',
    defaultText: '0.0.0.0',
    parse: nonEmpty,
  },
  TERN_DATA_DIR: {
    name: 'TERN_DATA_DIR',
    description: 'Directory for embedded data (SQLite files, generated admin key).',
    defaultText: '.tern',
    parse: nonEmpty,
  },
  TERN_LOG_LEVEL: {
    name: 'TERN_LOG_LEVEL',
    description: 'Log level.',
    defaultText: 'info',
    parse: oneOf(LOG_LEVELS),
  },
  TERN_LOG_LEVELS: {
    name: 'TERN_LOG_LEVELS',
    description:
      'Log level per service, over TERN_LOG_LEVEL for its lines: `auth=debug,jobs=warn` (services and `gateway`).',
    parse: (raw: string) => levelsByName(raw, LOG_LEVELS),
  },
  TERN_ADMIN_KEY: {
    name: 'TERN_ADMIN_KEY',
    description: 'Admin credential (Authorization: Bearer <key>). All-in-one generates one when unset.',
    secret: true,
    parse: secret(32),
  },
  TERN_BODY_LIMIT: {
    name: 'TERN_BODY_LIMIT',
    description: 'Largest accepted request body, bytes.',
    defaultText: '1048576',
    parse: integer(1024, 64 * 1024 * 1024),
  },
  TERN_SHUTDOWN_TIMEOUT_MS: {
    name: 'TERN_SHUTDOWN_TIMEOUT_MS',
    description: 'How long SIGTERM waits for in-flight requests and jobs before closing anyway.',
    defaultText: '10000',
    parse: integer(0, 600_000),
  },
  TERN_SHUTDOWN_DELAY_MS: {
    name: 'TERN_SHUTDOWN_DELAY_MS',
    description:
      'On SIGTERM, keep serving with /readyz at 503 this long before draining (Kubernetes: about 5000).',
    defaultText: '0',
    parse: integer(0, 120_000),
  },
  TERN_REQUEST_TIMEOUT_MS: {
    name: 'TERN_REQUEST_TIMEOUT_MS',
    description: 'A request still unanswered after this long is answered 503 runtime/timeout.',
    defaultText: '30000',
    parse: integer(100, 600_000),
  },
  TERN_INSTANCE_ID: {
    name: 'TERN_INSTANCE_ID',
    description: 'Name of this process in logs, metrics and the registry.',
    defaultText: '<hostname>-<pid>',
    parse: prefix(/^[A-Za-z0-9._-]{1,64}$/, '1–64 letters, digits, dots, dashes or underscores'),
  },
  TERN_SERVICES: {
    name: 'TERN_SERVICES',
    description: 'Comma-separated services to host in this process.',
    defaultText: 'all',
    parse: list,
  },
  TERN_ADVERTISE_URL: {
    name: 'TERN_ADVERTISE_URL',
    description:
      'Where gateways reach this process (an origin, `http://10.0.0.5:8080`; the port may be `{port}`, the one it listens on); when set, each hosted service registers there (Redis with REDIS_URL) and deregisters on shutdown.',
    parse: advertisedOrigin,
  },
  TERN_SERVICE_VERSION: {
    name: 'TERN_SERVICE_VERSION',
    description:
      'The version this process registers its services under, for traffic shifting (`v1`, `v2`, `blue`…).',
    defaultText: 'v1',
    parse: prefix(/^[A-Za-z0-9._-]{1,32}$/, '1–32 letters, digits, dots, dashes or underscores'),
  },
  TERN_GATEWAY_UPSTREAMS: {
    name: 'TERN_GATEWAY_UPSTREAMS',
    description:
      "Gateway: each service's instances, `auth=http://host:port,http://host:port;data=http://host:port`.",
    parse: serviceInstances,
  },
  TERN_GATEWAY_ROUTES: {
    name: 'TERN_GATEWAY_ROUTES',
    description:
      'Gateway: route table as JSON, `[{"prefix": "/v1/data", "service": "data", "methods"?: ["GET"]}]`; longest prefix wins.',
    defaultText: "the routes of Tern's services",
    parse: gatewayRoutes,
  },
  TERN_GATEWAY_TIMEOUT_MS: {
    name: 'TERN_GATEWAY_TIMEOUT_MS',
    description: 'Gateway: how long an instance may take to start answering, and to pause within an answer.',
    defaultText: '30000',
    parse: integer(100, 600_000),
  },
  TERN_GATEWAY_RETRIES: {
    name: 'TERN_GATEWAY_RETRIES',
    description:
      'Gateway: further instances an idempotent request is tried on after a connection failure or a 503.',
    defaultText: '2',
    parse: integer(0, 5),
  },
  TERN_GATEWAY_CORS_ORIGINS: {
    name: 'TERN_GATEWAY_CORS_ORIGINS',
    description:
      'Gateway: browser origins allowed to call the API (CORS), comma-separated, or `*`; none when unset.',
    parse: list,
  },
  TERN_GATEWAY_TLS_CERT_FILE: {
    name: 'TERN_GATEWAY_TLS_CERT_FILE',
    description:
      'Gateway: PEM certificate (chain) file; with TERN_GATEWAY_TLS_KEY_FILE the gateway serves HTTPS.',
    parse: nonEmpty,
  },
  TERN_GATEWAY_TLS_KEY_FILE: {
    name: 'TERN_GATEWAY_TLS_KEY_FILE',
    description: 'Gateway: PEM private key file for TERN_GATEWAY_TLS_CERT_FILE.',
    parse: nonEmpty,
  },
  TERN_GATEWAY_API_KEYS: {
    name: 'TERN_GATEWAY_API_KEYS',
    description:
      'Gateway: API keys of server-to-server callers (header X-Api-Key), JSON `[{"name", "sha256": "<hex of the key>", "prefixes": ["/v1/data"], "as": "admin"|"anonymous"}]`.',
    secret: true,
    parse: gatewayApiKeys,
  },
  TERN_GATEWAY_RATE_LIMITS: {
    name: 'TERN_GATEWAY_RATE_LIMITS',
    description:
      'Gateway: rate-limit policies as JSON, `[{"name": "api", "by": "user"|"ip"|"route", "limit": 600, "windowMs": 60000, "burst"?, "cost"?, "prefix"?, "methods"?}]`; `[]` for none.',
    defaultText: 'sign-in/up 60/min per IP, 6000/min per caller',
    parse: gatewayRatePolicies,
  },
  TERN_GATEWAY_RATE_LIMIT_FAILURE: {
    name: 'TERN_GATEWAY_RATE_LIMIT_FAILURE',
    description:
      'Gateway: while Redis is unreachable, `local` limits per gateway process, `closed` refuses with 503.',
    defaultText: 'local',
    parse: oneOf(['local', 'closed'] as const),
  },
  DATABASE_URL: {
    name: 'DATABASE_URL',
    description: 'PostgreSQL URL; when set the store is PostgreSQL, else SQLite in the data dir.',
    secret: true,
    parse: url(['postgres:', 'postgresql:']),
  },
  DATABASE_REPLICA_URLS: {
    name: 'DATABASE_REPLICA_URLS',
    description:
      'Comma-separated URLs of streaming read replicas of DATABASE_URL; reads that may lag go to the least loaded one in rotation.',
    secret: true,
    parse: urls(['postgres:', 'postgresql:']),
  },
  TERN_DB_REPLICA_MAX_LAG_MS: {
    name: 'TERN_DB_REPLICA_MAX_LAG_MS',
    description: 'A replica further behind the primary than this takes no reads until it catches up.',
    defaultText: '5000',
    parse: integer(100, 3_600_000),
  },
  TERN_DB_POOL_SIZE: {
    name: 'TERN_DB_POOL_SIZE',
    description: 'PostgreSQL connections per process.',
    defaultText: '10',
    parse: integer(1, 500),
  },
  REDIS_URL: {
    name: 'REDIS_URL',
    description: 'Redis URL; when set the cache and rate limiter use Redis, else in-process.',
    secret: true,
    parse: url(['redis:', 'rediss:']),
  },
  TERN_REDIS_KEY_PREFIX: {
    name: 'TERN_REDIS_KEY_PREFIX',
    description: 'Prefix of every Redis key Tern writes.',
    defaultText: 'tern:',
    parse: prefix(/^[A-Za-z0-9:._-]{1,64}$/, '1–64 letters, digits or :._-'),
  },
  TERN_CACHE_MAX_ENTRIES: {
    name: 'TERN_CACHE_MAX_ENTRIES',
    description: 'Entries kept by the in-process cache.',
    defaultText: '10000',
    parse: integer(1, 10_000_000),
  },
  TERN_CACHE_L1_ENTRIES: {
    name: 'TERN_CACHE_L1_ENTRIES',
    description: 'Entries each process keeps in front of Redis, invalidated by Redis; 0 turns the L1 off.',
    defaultText: '1000',
    parse: integer(0, 1_000_000),
  },
  NATS_URL: {
    name: 'NATS_URL',
    description: 'NATS URL; when set the queue is NATS JetStream, else a SQLite queue in the data dir.',
    secret: true,
    parse: url(['nats:', 'tls:']),
  },
  TERN_NATS_STREAM: {
    name: 'TERN_NATS_STREAM',
    description: 'JetStream stream holding Tern messages (subjects <stream>.<topic>).',
    defaultText: 'TERN',
    parse: prefix(
      /^[A-Z][A-Z0-9_]{0,31}$/,
      'upper-case letters, digits and underscores, starting with a letter',
    ),
  },
  TERN_AUTH_ISSUER: {
    name: 'TERN_AUTH_ISSUER',
    description: 'Issuer (`iss`) of access tokens; every process of a deployment must agree.',
    defaultText: 'tern',
    parse: prefix(/^[\x21-\x7e]{1,255}$/, '1–255 printable ASCII characters'),
  },
  TERN_AUTH_AUDIENCE: {
    name: 'TERN_AUTH_AUDIENCE',
    description: 'Audience (`aud`) of access tokens.',
    defaultText: 'tern-api',
    parse: prefix(/^[\x21-\x7e]{1,255}$/, '1–255 printable ASCII characters'),
  },
  TERN_AUTH_ACCESS_TOKEN_TTL: {
    name: 'TERN_AUTH_ACCESS_TOKEN_TTL',
    description: 'Lifetime of an access token, seconds.',
    defaultText: '900',
    parse: integer(30, 86_400),
  },
  TERN_AUTH_SESSION_TTL: {
    name: 'TERN_AUTH_SESSION_TTL',
    description: 'A session (and its refresh token) unused this long, seconds, expires.',
    defaultText: '2592000',
    parse: integer(300, 400 * 86_400),
  },
  TERN_AUTH_REFRESH_GRACE_MS: {
    name: 'TERN_AUTH_REFRESH_GRACE_MS',
    description:
      'A refresh token presented again this soon after it rotated gets the same successor pair instead of revoking the session.',
    defaultText: '10000',
    parse: integer(0, 120_000),
  },
  TERN_AUTH_KEY_ROTATION_DAYS: {
    name: 'TERN_AUTH_KEY_ROTATION_DAYS',
    description: 'Days a generated signing key signs before a new one takes over (old keys keep verifying).',
    defaultText: '30',
    parse: integer(1, 3650),
  },
  TERN_AUTH_SIGNING_KEYS: {
    name: 'TERN_AUTH_SIGNING_KEYS',
    description:
      'JSON array of private Ed25519 JWKs (with kid); the first signs, all verify. Unset: generated and kept in the store.',
    secret: true,
    parse: opaqueSecret(65_536),
  },
  TERN_AUTH_JWKS_URL: {
    name: 'TERN_AUTH_JWKS_URL',
    description:
      "Where a process that does not host auth fetches the public keys to verify access tokens (auth's /.well-known/jwks.json).",
    parse: url(['http:', 'https:']),
  },
  TERN_AUTH_LINK_URL: {
    name: 'TERN_AUTH_LINK_URL',
    description:
      'Base of the links in verification and reset mails (your app or web page); ?purpose=…&token=… is appended.',
    parse: url(['http:', 'https:', 'app:']),
  },
  TERN_AUTH_APPLE_CLIENT_IDS: {
    name: 'TERN_AUTH_APPLE_CLIENT_IDS',
    description:
      'Comma-separated Apple client ids (bundle / services ids); unset disables Sign in with Apple.',
    parse: identifiers,
  },
  TERN_AUTH_APPLE_JWKS_URL: {
    name: 'TERN_AUTH_APPLE_JWKS_URL',
    description: "Apple's ID token keys.",
    defaultText: 'https://appleid.apple.com/auth/keys',
    parse: url(['http:', 'https:']),
  },
  TERN_AUTH_GOOGLE_CLIENT_IDS: {
    name: 'TERN_AUTH_GOOGLE_CLIENT_IDS',
    description: 'Comma-separated Google OAuth client ids; unset disables Sign in with Google.',
    parse: identifiers,
  },
  TERN_AUTH_GOOGLE_JWKS_URL: {
    name: 'TERN_AUTH_GOOGLE_JWKS_URL',
    description: "Google's ID token keys.",
    defaultText: 'https://www.googleapis.com/oauth2/v3/certs',
    parse: url(['http:', 'https:']),
  },
  TERN_AUTH_ARGON2_MEMORY_KIB: {
    name: 'TERN_AUTH_ARGON2_MEMORY_KIB',
    description: 'argon2id memory cost, KiB (OWASP: 19456 with 2 iterations).',
    defaultText: '19456',
    parse: integer(8 * 1024, 1024 * 1024),
  },
  TERN_AUTH_ARGON2_ITERATIONS: {
    name: 'TERN_AUTH_ARGON2_ITERATIONS',
    description: 'argon2id time cost (iterations).',
    defaultText: '2',
    parse: integer(1, 20),
  },
  TERN_AUTH_HASH_CONCURRENCY: {
    name: 'TERN_AUTH_HASH_CONCURRENCY',
    description:
      'Password hashes computed at once, one low-priority worker thread each; more wait in a bounded line.',
    defaultText: 'number of CPU cores',
    parse: integer(1, 256),
  },
  TERN_DATA_UNINDEXED_QUERY_LIMIT: {
    name: 'TERN_DATA_UNINDEXED_QUERY_LIMIT',
    description:
      'A list query no index serves is refused (400 data/unindexed-query) on collections with more documents than this.',
    defaultText: '1000',
    parse: integer(0, 1_000_000_000),
  },
  TERN_DATA_CHANGES_RETENTION_DAYS: {
    name: 'TERN_DATA_CHANGES_RETENTION_DAYS',
    description:
      'Days the change feed keeps changes; a client whose cursor is older gets 410 data/cursor-expired and resyncs.',
    defaultText: '30',
    parse: integer(1, 3650),
  },
  TERN_MAIL_URL: {
    name: 'TERN_MAIL_URL',
    description:
      'SMTP server (smtp://user:pass@host:587, smtps:// for TLS); unset records mail to <data dir>/mail.jsonl.',
    secret: true,
    parse: url(['smtp:', 'smtps:']),
  },
  TERN_MAIL_FROM: {
    name: 'TERN_MAIL_FROM',
    description: 'Sender of the mail Tern sends.',
    defaultText: 'no-reply@tern.localhost',
    parse: mailbox,
  },
  TERN_API_URL: {
    name: 'TERN_API_URL',
    description:
      "Where services reach Tern's public API from inside (the gateway, in the services shape); unset: the process's own URL.",
    parse: url(['http:', 'https:']),
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    description:
      'OpenTelemetry collector (OTLP/HTTP, `http://otel-collector:4318`): spans are exported to `<endpoint>/v1/traces`. Unset: trace ids are still made and passed on, and logged, but no span is exported.',
    parse: url(['http:', 'https:']),
  },
  OTEL_TRACES_SAMPLER_ARG: {
    name: 'OTEL_TRACES_SAMPLER_ARG',
    description:
      'Share of new traces sampled (parent-based: a trace started upstream keeps its own decision), 0 to 1.',
    defaultText: '0.1',
    parse: ratio,
  },
  OTEL_BSP_SCHEDULE_DELAY: {
    name: 'OTEL_BSP_SCHEDULE_DELAY',
    description:
      'Milliseconds between span exports (OTLP batches). Short on purpose: the same spans held for a second cost the server about 30 % of its throughput, against under 5 % at 100 ms (bench/README.md, "Observability").',
    defaultText: '100',
    parse: integer(10, 60_000),
  },
  OTEL_BSP_MAX_QUEUE_SIZE: {
    name: 'OTEL_BSP_MAX_QUEUE_SIZE',
    description: 'Spans buffered for export at most; beyond it new spans are dropped (counted by the SDK).',
    defaultText: '8192',
    parse: integer(64, 1_000_000),
  },
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: {
    name: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    description: 'Spans per OTLP request at most (a full batch is exported at once).',
    defaultText: '512',
    parse: integer(1, 100_000),
  },
  TERN_JOBS_CONCURRENCY: {
    name: 'TERN_JOBS_CONCURRENCY',
    description: 'Jobs one worker process runs at once.',
    defaultText: '8',
    parse: integer(1, 1_000),
  },
  TERN_JOBS_RETENTION_DAYS: {
    name: 'TERN_JOBS_RETENTION_DAYS',
    description:
      'Days finished jobs (and their results and exports) are kept; dead letters stay until purged.',
    defaultText: '7',
    parse: integer(1, 3650),
  },
  TERN_WEBHOOK_SECRET: {
    name: 'TERN_WEBHOOK_SECRET',
    description:
      'Key of the HMAC-SHA256 signature on webhook deliveries (Tern-Signature); unset: webhook.deliver jobs are refused.',
    secret: true,
    parse: secret(16),
  },
  TERN_WEBHOOK_TIMEOUT_MS: {
    name: 'TERN_WEBHOOK_TIMEOUT_MS',
    description: 'How long one webhook delivery may take before it counts as failed and is retried.',
    defaultText: '10000',
    parse: integer(100, 120_000),
  },
  TERN_WEBHOOK_ALLOWED_HOSTS: {
    name: 'TERN_WEBHOOK_ALLOWED_HOSTS',
    description:
      'Comma-separated hosts or addresses webhooks may reach although they are loopback, private or link-local (refused otherwise).',
    parse: hosts,
  },
} satisfies Record<string, ConfigKey<unknown>>;

type Keys = typeof CONFIG_KEYS;
type KeyName = keyof Keys;
type ValueOf<K extends KeyName> = Keys[K]['parse'] extends (raw: string) => Parsed<infer T> ? T : never;

export interface ConfigIssue {
  key: string;
  reason: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid configuration (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}):\n` +
        issues.map((issue) => `  - ${issue.key}: ${issue.reason}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export interface LoadConfigOptions {
  env: Record<string, string | undefined>;
  /** Values that win over env and file, e.g. from CLI flags. */
  overrides?: Partial<Record<KeyName, string>>;
  cwd?: string;
}

/**
 * Reads the configuration from TERN_CONFIG_FILE (a JSON object of the same keys) and the
 * environment (which wins), validates every key and reports all problems at once.
 */
export function loadConfig(options: LoadConfigOptions): TernConfig {
  const cwd = options.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const raw: Record<string, string> = {};

  const file = options.env.TERN_CONFIG_FILE;
  if (file !== undefined && file !== '') {
    Object.assign(raw, readConfigFile(resolve(cwd, file), issues));
  }
  for (const name of Object.keys(CONFIG_KEYS)) {
    const value = options.env[name];
    if (value !== undefined && value !== '') raw[name] = value;
  }
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) raw[name] = value;
  }

  function get<K extends KeyName>(name: K): ValueOf<K> | undefined {
    const value = raw[name];
    if (value === undefined) return undefined;
    const parsed = (CONFIG_KEYS[name].parse as (raw: string) => Parsed<ValueOf<K>>)(value);
    if (parsed.ok) return parsed.value;
    issues.push({ key: name, reason: parsed.reason });
    return undefined;
  }

  const dataDir = resolve(cwd, get('TERN_DATA_DIR') ?? '.tern');
  const databaseUrl = get('DATABASE_URL');
  const redisUrl = get('REDIS_URL');
  const natsUrl = get('NATS_URL');
  const redisKeyPrefix = get('TERN_REDIS_KEY_PREFIX') ?? 'tern:';
  const mailUrl = get('TERN_MAIL_URL');
  const mailFrom = get('TERN_MAIL_FROM') ?? 'no-reply@tern.localhost';

  const config: TernConfig = {
    port: get('PORT') ?? 8080,
    host: get('TERN_HOST') ?? '0.0.0.0',
    dataDir,
    logLevel: (get('TERN_LOG_LEVEL') ?? 'info') as LogLevel,
    logLevels: (get('TERN_LOG_LEVELS') ?? {}) as Record<string, LogLevel>,
    adminKey: get('TERN_ADMIN_KEY') as Secret | undefined,
    bodyLimitBytes: get('TERN_BODY_LIMIT') ?? 1024 * 1024,
    shutdownTimeoutMs: get('TERN_SHUTDOWN_TIMEOUT_MS') ?? 10_000,
    shutdownDelayMs: get('TERN_SHUTDOWN_DELAY_MS') ?? 0,
    requestTimeoutMs: get('TERN_REQUEST_TIMEOUT_MS') ?? 30_000,
    instanceId: get('TERN_INSTANCE_ID') ?? `${hostname()}-${process.pid}`,
    services: get('TERN_SERVICES') ?? [],
    store: databaseUrl
      ? {
          kind: 'postgres',
          url: databaseUrl,
          poolSize: get('TERN_DB_POOL_SIZE') ?? 10,
          replicas: {
            urls: get('DATABASE_REPLICA_URLS') ?? [],
            maxLagMs: get('TERN_DB_REPLICA_MAX_LAG_MS') ?? 5_000,
          },
        }
      : { kind: 'sqlite', file: resolve(dataDir, 'tern.db') },
    cache: redisUrl
      ? {
          kind: 'redis',
          url: redisUrl,
          keyPrefix: `${redisKeyPrefix}cache:`,
          nearEntries: get('TERN_CACHE_L1_ENTRIES') ?? 1_000,
        }
      : { kind: 'memory', maxEntries: get('TERN_CACHE_MAX_ENTRIES') ?? 10_000 },
    queue: natsUrl
      ? { kind: 'nats', url: natsUrl, stream: get('TERN_NATS_STREAM') ?? 'TERN' }
      : { kind: 'sqlite', file: resolve(dataDir, 'queue.db') },
    rateLimit: redisUrl
      ? { kind: 'redis', url: redisUrl, keyPrefix: `${redisKeyPrefix}rl:` }
      : { kind: 'memory', maxKeys: 100_000 },
    auth: {
      issuer: get('TERN_AUTH_ISSUER') ?? 'tern',
      audience: get('TERN_AUTH_AUDIENCE') ?? 'tern-api',
      accessTokenTtlSeconds: get('TERN_AUTH_ACCESS_TOKEN_TTL') ?? 900,
      sessionTtlSeconds: get('TERN_AUTH_SESSION_TTL') ?? 30 * 86_400,
      refreshGraceMs: get('TERN_AUTH_REFRESH_GRACE_MS') ?? 10_000,
      keyRotationDays: get('TERN_AUTH_KEY_ROTATION_DAYS') ?? 30,
      signingKeys: get('TERN_AUTH_SIGNING_KEYS') as Secret | undefined,
      jwksUrl: get('TERN_AUTH_JWKS_URL'),
      linkUrl: get('TERN_AUTH_LINK_URL'),
      apple: {
        clientIds: get('TERN_AUTH_APPLE_CLIENT_IDS') ?? [],
        jwksUrl: get('TERN_AUTH_APPLE_JWKS_URL') ?? 'https://appleid.apple.com/auth/keys',
      },
      google: {
        clientIds: get('TERN_AUTH_GOOGLE_CLIENT_IDS') ?? [],
        jwksUrl: get('TERN_AUTH_GOOGLE_JWKS_URL') ?? 'https://www.googleapis.com/oauth2/v3/certs',
      },
      argon2: {
        memoryKiB: get('TERN_AUTH_ARGON2_MEMORY_KIB') ?? 19_456,
        iterations: get('TERN_AUTH_ARGON2_ITERATIONS') ?? 2,
      },
      hashConcurrency: get('TERN_AUTH_HASH_CONCURRENCY') ?? Math.max(1, availableParallelism()),
    },
    data: {
      unindexedQueryLimit: get('TERN_DATA_UNINDEXED_QUERY_LIMIT') ?? 1_000,
      changesRetentionDays: get('TERN_DATA_CHANGES_RETENTION_DAYS') ?? 30,
    },
    apiUrl: get('TERN_API_URL')?.replace(/\/+$/, ''),
    tracing: {
      endpoint: get('OTEL_EXPORTER_OTLP_ENDPOINT')?.replace(/\/+$/, ''),
      sampleRatio: get('OTEL_TRACES_SAMPLER_ARG') ?? 0.1,
      exportDelayMs: get('OTEL_BSP_SCHEDULE_DELAY') ?? 100,
      maxQueueSize: get('OTEL_BSP_MAX_QUEUE_SIZE') ?? 8_192,
      maxExportBatchSize: get('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512,
    },
    jobs: {
      concurrency: get('TERN_JOBS_CONCURRENCY') ?? 8,
      retentionDays: get('TERN_JOBS_RETENTION_DAYS') ?? 7,
      webhookSecret: get('TERN_WEBHOOK_SECRET') as Secret | undefined,
      webhookAllowedHosts: get('TERN_WEBHOOK_ALLOWED_HOSTS') ?? [],
      webhookTimeoutMs: get('TERN_WEBHOOK_TIMEOUT_MS') ?? 10_000,
    },
    registry: {
      store: redisUrl ? { kind: 'redis', url: redisUrl, keyPrefix: redisKeyPrefix } : { kind: 'memory' },
      advertiseUrl: get('TERN_ADVERTISE_URL'),
      version: get('TERN_SERVICE_VERSION') ?? 'v1',
    },
    gateway: {
      upstreams: get('TERN_GATEWAY_UPSTREAMS') ?? {},
      routes: get('TERN_GATEWAY_ROUTES'),
      upstreamTimeoutMs: get('TERN_GATEWAY_TIMEOUT_MS') ?? 30_000,
      retries: get('TERN_GATEWAY_RETRIES') ?? 2,
      rateLimits: get('TERN_GATEWAY_RATE_LIMITS'),
      rateLimitFailure: get('TERN_GATEWAY_RATE_LIMIT_FAILURE') ?? 'local',
      corsOrigins: get('TERN_GATEWAY_CORS_ORIGINS') ?? [],
      apiKeys: get('TERN_GATEWAY_API_KEYS') ?? [],
      tls: tlsFiles(get('TERN_GATEWAY_TLS_CERT_FILE'), get('TERN_GATEWAY_TLS_KEY_FILE'), issues),
    },
    mail: mailUrl
      ? { kind: 'smtp', url: mailUrl, from: mailFrom }
      : { kind: 'recording', file: resolve(dataDir, 'mail.jsonl'), from: mailFrom },
  };
  if (databaseUrl && !raw.TERN_ADMIN_KEY) {
    issues.push({
      key: 'TERN_ADMIN_KEY',
      reason: 'required when DATABASE_URL is set: every process of a deployment must share one admin key',
    });
  }
  // Keys that only matter for one adapter are still validated when the other is chosen.
  if (!databaseUrl) {
    get('TERN_DB_POOL_SIZE');
    get('TERN_DB_REPLICA_MAX_LAG_MS');
    if (raw.DATABASE_REPLICA_URLS) {
      issues.push({
        key: 'DATABASE_REPLICA_URLS',
        reason: 'needs DATABASE_URL: replicas are of a PostgreSQL primary',
      });
    }
  }
  if (redisUrl) get('TERN_CACHE_MAX_ENTRIES');
  else get('TERN_CACHE_L1_ENTRIES');
  if (!natsUrl) get('TERN_NATS_STREAM');

  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

function readConfigFile(path: string, issues: ConfigIssue[]): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'not a readable JSON file';
    issues.push({ key: 'TERN_CONFIG_FILE', reason: `${why} (${path})` });
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    issues.push({ key: 'TERN_CONFIG_FILE', reason: 'must contain a JSON object of configuration keys' });
    return {};
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in CONFIG_KEYS)) {
      issues.push({ key: `TERN_CONFIG_FILE.${key}`, reason: 'is not a configuration key' });
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      values[key] = String(value);
    } else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      values[key] = value.join(',');
    } else {
      issues.push({ key: `TERN_CONFIG_FILE.${key}`, reason: 'must be a string, number or list of strings' });
    }
  }
  return values;
}
