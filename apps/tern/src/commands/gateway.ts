import { readFileSync } from 'node:fs';
import type { TernConfig } from '@tern/config';
import {
  createEdgeAuth,
  createEdgeRateLimit,
  createGateway,
  DEFAULT_RATE_POLICIES,
  DEFAULT_ROUTES,
} from '@tern/gateway';
import { createMemoryRateLimitStore, createRateLimitStore } from '@tern/rate-limit';
import { createRegistry, type ServiceRegistry } from '@tern/registry';
import { createLogger, createMetricsRegistry, createTracing, type Logger } from '@tern/telemetry';
import { createAccessTokenVerifier, type KeySource } from '@tern/tokens';
import { untilSignal } from './until-signal';

export interface GatewayCommandOptions {
  config: TernConfig;
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `tern start --service gateway`: the API gateway alone in this process, in front of the
 * instances `TERN_GATEWAY_UPSTREAMS` lists and, with REDIS_URL, those registered in Redis.
 * Serves until SIGTERM/SIGINT, then drains.
 */
export async function gatewayCommand({ config, out, err }: GatewayCommandOptions): Promise<number> {
  const upstreams = config.gateway.upstreams;
  const discovery = config.registry.store.kind === 'redis';
  if (Object.keys(upstreams).length === 0 && !discovery) {
    err(
      'tern: the gateway needs TERN_GATEWAY_UPSTREAMS (e.g. auth=http://127.0.0.1:8081;data=http://127.0.0.1:8082), or REDIS_URL to find registered instances',
    );
    return 2;
  }
  const log = createLogger({
    service: 'gateway',
    instance: config.instanceId,
    level: config.logLevels.gateway ?? config.logLevel,
  });
  const metrics = createMetricsRegistry({ service: 'gateway', instance: config.instanceId });
  const tracing = createTracing({
    service: 'tern-gateway',
    instance: config.instanceId,
    endpoint: config.tracing.endpoint,
    sampleRatio: config.tracing.sampleRatio,
    batch: config.tracing,
  });
  const telemetry = { log, metrics, tracer: tracing.tracer };
  // Instances that register (TERN_ADVERTISE_URL) are found in Redis, with the traffic split.
  const registry = discovery ? await createRegistry(config.registry.store, telemetry) : undefined;
  const keys = keySource(config, upstreams.auth ?? [], registry, log);
  const auth = keys
    ? createEdgeAuth({
        verifier: createAccessTokenVerifier({
          keys,
          issuer: config.auth.issuer,
          audience: config.auth.audience,
          telemetry,
        }),
        adminKey: config.adminKey?.reveal(),
        apiKeys: config.gateway.apiKeys,
      })
    : undefined;
  const policies = config.gateway.rateLimits ?? DEFAULT_RATE_POLICIES;
  const rateStore = await createRateLimitStore(config.rateLimit, telemetry);
  const rateLimit =
    policies.length === 0
      ? undefined
      : createEdgeRateLimit({
          store: rateStore,
          fallback: createMemoryRateLimitStore({ maxKeys: 100_000 }, telemetry),
          onStoreFailure: config.gateway.rateLimitFailure,
          policies,
          log,
          metrics,
        });
  const gateway = createGateway({
    ...(registry ? { registry } : {}),
    ...(config.gateway.corsOrigins.length ? { cors: { origins: config.gateway.corsOrigins } } : {}),
    ...(config.gateway.tls
      ? {
          tls: {
            cert: readFileSync(config.gateway.tls.certFile),
            key: readFileSync(config.gateway.tls.keyFile),
          },
        }
      : {}),
    auth,
    rateLimit,
    log,
    metrics,
    tracer: tracing.tracer,
    dashboard: { recent: tracing.recent, instance: config.instanceId },
    routes: config.gateway.routes ?? DEFAULT_ROUTES,
    upstreams,
    upstreamTimeoutMs: config.gateway.upstreamTimeoutMs,
    retries: config.gateway.retries,
    bodyLimitBytes: config.bodyLimitBytes,
    clientTimeoutMs: config.requestTimeoutMs,
  });
  const url = await gateway.listen(config.port, config.host);
  const exitCode = untilSignal(log, async () => {
    await gateway.stop(config.shutdownTimeoutMs);
    await Promise.all([rateStore.close(), registry?.close()]);
    await tracing
      .shutdown()
      .catch((error: unknown) => log.warn({ err: error }, 'exporting the last spans failed'));
    log.info('stopped');
    return { forced: false };
  });
  const listed = Object.keys(upstreams).join(', ') || 'none listed';
  log.info({ url, upstreams: Object.keys(upstreams), discovery }, 'gateway listening');
  out(
    `Tern gateway is listening on ${url} (upstreams: ${listed}${discovery ? '; and registered instances' : ''})`,
  );
  const code = await exitCode;
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}

type Jwks = Awaited<ReturnType<Extract<KeySource, { kind: 'provider' }>['load']>>;

/**
 * Where the gateway gets the keys that verify access tokens: `TERN_AUTH_JWKS_URL`, else the auth
 * service's instances themselves (each asked in turn for `/.well-known/jwks.json`, again when a
 * token names a key not seen yet, so rotation needs no restart). Without either, routes are not
 * authenticated at the edge (the services still authenticate every request).
 */
function keySource(
  config: TernConfig,
  listed: readonly string[],
  registry: ServiceRegistry | undefined,
  log: Logger,
): KeySource | undefined {
  if (config.auth.jwksUrl) return { kind: 'remote', url: config.auth.jwksUrl };
  if (listed.length === 0 && !registry) {
    log.warn('no auth instances and no TERN_AUTH_JWKS_URL: tokens are not checked at the edge');
    return undefined;
  }
  return {
    kind: 'provider',
    async load() {
      const registered = registry ? (await registry.list('auth')).map((entry) => entry.origin) : [];
      const authInstances = [...new Set([...listed, ...registered])];
      const start = Math.floor(Math.random() * authInstances.length);
      for (let i = 0; i < authInstances.length; i++) {
        const origin = authInstances[(start + i) % authInstances.length];
        try {
          const response = await fetch(`${origin}/.well-known/jwks.json`, {
            signal: AbortSignal.timeout(2_000),
          });
          if (response.ok) return (await response.json()) as Jwks;
        } catch {
          // the next instance
        }
      }
      throw new Error('no auth instance answered for its JWKS');
    },
  };
}
