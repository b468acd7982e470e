import type { AddressInfo } from 'node:net';
import type { TernConfig } from '@tern/config';
import { setTimeout as sleep } from 'node:timers/promises';
import { IDEMPOTENCY_MIGRATIONS } from '@tern/idempotency';
import { processSnapshot } from '@tern/dashboard';
import { createOutbox, createOutboxRelay, OUTBOX_MIGRATIONS, type OutboxRelay } from '@tern/outbox';
import type { Consumer } from '@tern/queue';
import { createRegistry, type Registration, type ServiceRegistry } from '@tern/registry';
import { createAccessTokenVerifier, type AccessTokenVerifier } from '@tern/tokens';
import {
  createLogger,
  createMetricsRegistry,
  createTracing,
  extractTraceContext,
  markFailed,
  SpanKind,
  withSpan,
  type Logger,
  type Telemetry,
  type Tracer,
} from '@tern/telemetry';
import { ensureAdminKey, type AdminKey } from './admin-key';
import { createHttpApp, type HttpApp, type Readiness } from './http/create-http-app';
import { closeInfrastructure, createInfrastructure, type Infrastructure } from './infrastructure';
import type { ServiceDefinition, ServiceDeps, ServiceModule } from './service';
import { VERSION } from './version';

export interface HostOptions {
  config: TernConfig;
  /** Every service this program can host; `config.services` picks among them (empty = all). */
  catalog: readonly ServiceDefinition[];
  /** Where log lines go; standard output when absent. */
  logDestination?: Parameters<typeof createLogger>[0]['destination'];
}

export interface RunningHost {
  url: string;
  port: number;
  services: string[];
  adminKey: AdminKey;
  log: Logger;
  /** Drains and closes everything; `forced` when the deadline cut in-flight work short. */
  stop(): Promise<{ forced: boolean }>;
}

const READINESS_CHECK_TIMEOUT_MS = 2_000;

/**
 * Hosts a set of services in this process: builds their dependencies once, applies migrations,
 * starts queue consumers and the outbox relay, and serves HTTP. All-in-one and one-service
 * processes are the same code with a different `config.services`.
 */
export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { config } = options;
  const definitions = selectServices(options.catalog, config.services);
  const names = definitions.map((definition) => definition.name);
  // How this process is labelled in logs and metrics: `tern` all-in-one, else what it hosts.
  const processName = config.services.length === 0 ? 'tern' : names.join('+');
  const log = createLogger({
    level: config.logLevel,
    service: processName,
    instance: config.instanceId,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const metrics = createMetricsRegistry({ service: processName, instance: config.instanceId });
  /** A service's own log level (`TERN_LOG_LEVELS`), for the loggers made for its lines. */
  const levelOf = (service: string) =>
    config.logLevels[service] ? { level: config.logLevels[service] } : undefined;
  const tracing = createTracing({
    service: `tern-${processName}`,
    instance: config.instanceId,
    endpoint: config.tracing.endpoint,
    sampleRatio: config.tracing.sampleRatio,
    batch: config.tracing,
  });
  const telemetry: Telemetry = { log, metrics, tracer: tracing.tracer };
  const adminKey = ensureAdminKey(config);

  const infrastructure = await createInfrastructure(config, telemetry);
  let migrated = false;
  let stopping = false;
  /** This process's URL, once it listens. */
  let ownUrl: string | undefined;
  // What has been started, so a failed start and a stop undo exactly that, in reverse.
  const started: {
    services: ServiceModule[];
    consumers: Consumer[];
    relay?: OutboxRelay;
    http?: HttpApp;
    registry?: ServiceRegistry;
    registrations: Registration[];
  } = {
    services: [],
    consumers: [],
    registrations: [],
  };

  /** Out of the registry first, so gateways stop sending new requests before the drain begins. */
  async function deregister(): Promise<void> {
    const registrations = started.registrations.splice(0);
    await Promise.allSettled(registrations.map((registration) => registration.deregister()));
  }
  const closeDeadlineMs = Math.max(1_000, Math.min(5_000, config.shutdownTimeoutMs));

  async function release(forced: boolean): Promise<void> {
    // Bounded: a hung handler or service must not keep the process alive past the deadline;
    // its message is redelivered elsewhere.
    const late = await deadline(
      (async () => {
        await Promise.allSettled(started.consumers.map((consumer) => consumer.stop()));
        for (const service of [...started.services].reverse()) {
          await service
            .stop?.()
            .catch((error: unknown) => log.error({ err: error, owner: service.name }, 'service stop failed'));
        }
        await started.relay?.stop();
        await started.registry?.close();
        await closeInfrastructure(infrastructure);
        // Last, so the spans of everything above are exported.
        await tracing
          .shutdown()
          .catch((error: unknown) => log.warn({ err: error }, 'exporting the last spans failed'));
      })(),
      forced ? closeDeadlineMs / 2 : closeDeadlineMs,
    );
    if (late)
      log.warn({ deadlineMs: closeDeadlineMs }, 'closing dependencies took too long; abandoning them');
  }

  try {
    await infrastructure.store.migrate('tern.outbox', OUTBOX_MIGRATIONS);
    await infrastructure.store.migrate('tern.idempotency', IDEMPOTENCY_MIGRATIONS);
    const deps: ServiceDeps = {
      config,
      log,
      metrics,
      ...infrastructure,
      // This process's relay looks soon after an add, rather than at its next idle poll.
      outbox: createOutbox({ added: () => started.relay?.nudge(), tracer: tracing.tracer }),
      process: { instanceId: config.instanceId, services: names, startedAt: new Date(), version: VERSION },
      adminKey: adminKey.key,
      apiUrl: () => config.apiUrl ?? ownUrl,
    };
    const services = definitions.map((definition) => {
      const module = definition.create({
        ...deps,
        log: log.child({ component: definition.name }, levelOf(definition.name)),
      });
      if (module.name !== definition.name) {
        throw new Error(`service ${definition.name} built a module named ${module.name}`);
      }
      return module;
    });
    for (const service of services) {
      if (service.migrations?.length) {
        await infrastructure.store.migrate(service.migrationScope ?? service.name, service.migrations);
      }
    }
    migrated = true;

    const accessTokens = createProcessTokenVerifier(config, services, telemetry);
    const ownSnapshot = () =>
      processSnapshot(metrics, tracing.recent, { service: processName, instance: config.instanceId });
    const http = await createHttpApp({
      log,
      metrics,
      tracer: tracing.tracer,
      logLevels: config.logLevels,
      ...(accessTokens ? { accessTokens } : {}),
      routes: services.flatMap((service) =>
        service.routes.map((route) => ({ service: service.name, route })),
      ),
      adminKey: adminKey.key,
      bodyLimitBytes: config.bodyLimitBytes,
      requestTimeoutMs: config.requestTimeoutMs,
      version: VERSION,
      title: `Tern (${names.join(', ')})`,
      readiness: () => checkReadiness(infrastructure, { migrated, stopping }),
      dashboard: {
        adminKey: () => adminKey.key.reveal(),
        snapshot: ownSnapshot,
        async data() {
          const own = await ownSnapshot();
          return { at: own.at, processes: [own] };
        },
      },
    });
    started.http = http;
    for (const service of services) {
      await service.start?.();
      started.services.push(service);
    }
    await http.app.listen({ port: config.port, host: config.host });
    started.consumers = await startConsumers(services, infrastructure, log, tracing.tracer, levelOf);
    started.relay = createOutboxRelay({
      store: infrastructure.store,
      queue: infrastructure.queue,
      telemetry,
      relayId: config.instanceId,
    });
    started.relay.start();

    const port = (http.app.server.address() as AddressInfo).port;
    const advertised = config.registry.advertiseUrl?.replace(/:\{port\}$/, `:${port}`);
    if (advertised) {
      started.registry = await createRegistry(config.registry.store, telemetry);
      for (const name of names) {
        started.registrations.push(
          await started.registry.register({
            service: name,
            version: config.registry.version,
            origin: advertised,
            instanceId: config.instanceId,
          }),
        );
      }
      log.info(
        {
          origin: advertised,
          version: config.registry.version,
          registry: started.registry.kind,
        },
        'registered with the service registry',
      );
    }
    const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;
    ownUrl = url;
    log.info(
      {
        port,
        services: names,
        store: infrastructure.store.kind,
        cache: infrastructure.cache.kind,
        queue: infrastructure.queue.kind,
      },
      'tern listening',
    );

    let stopped: Promise<{ forced: boolean }> | undefined;
    return {
      url,
      port,
      services: names,
      adminKey,
      log,
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await deregister();
          if (config.shutdownDelayMs > 0) {
            // Readiness is already 503: give load balancers time to stop sending traffic here.
            log.info({ delayMs: config.shutdownDelayMs }, 'shutting down: not ready, still serving');
            await sleep(config.shutdownDelayMs);
          }
          http.beginShutdown();
          log.info({ deadlineMs: config.shutdownTimeoutMs }, 'shutting down: draining requests and jobs');
          const drained = Promise.allSettled([
            http.app.close(),
            ...started.consumers.map((consumer) => consumer.stop()),
          ]);
          const forced = await deadline(drained, config.shutdownTimeoutMs);
          if (forced) {
            log.warn('shutdown deadline passed; closing remaining connections');
            http.app.server.closeAllConnections();
          } else {
            // Events written by the last requests go out now rather than at the next start.
            await started.relay
              ?.flush()
              .catch((error: unknown) => log.warn({ err: error }, 'final outbox flush failed'));
          }
          await release(forced);
          log.info({ forced }, 'stopped');
          return { forced };
        })();
        return stopped;
      },
    };
  } catch (error) {
    await deregister();
    await started.http?.app.close().catch(() => undefined);
    await release(true);
    throw error;
  }
}

/**
 * How this process verifies user access tokens: with the keys of the auth service when it runs
 * here, else from `TERN_AUTH_JWKS_URL`. Without either, only the admin key is accepted.
 */
function createProcessTokenVerifier(
  config: TernConfig,
  services: ServiceModule[],
  telemetry: Telemetry,
): AccessTokenVerifier | undefined {
  const issuer = services.find((service) => service.accessTokenKeys);
  const common = { issuer: config.auth.issuer, audience: config.auth.audience, telemetry };
  if (issuer?.accessTokenKeys) {
    return createAccessTokenVerifier({
      ...common,
      keys: { kind: 'provider', load: issuer.accessTokenKeys.bind(issuer) },
    });
  }
  if (config.auth.jwksUrl) {
    return createAccessTokenVerifier({ ...common, keys: { kind: 'remote', url: config.auth.jwksUrl } });
  }
  if (services.some((service) => service.routes.some((route) => route.access === 'user'))) {
    telemetry.log.warn(
      'user routes are hosted but no key source is configured: set TERN_AUTH_JWKS_URL or host the auth service here',
    );
  }
  return undefined;
}

function selectServices(
  catalog: readonly ServiceDefinition[],
  wanted: readonly string[],
): ServiceDefinition[] {
  if (wanted.length === 0) return catalog.filter((definition) => !definition.onlyWhenNamed);
  const unknown = wanted.filter((name) => !catalog.some((definition) => definition.name === name));
  if (unknown.length) {
    throw new Error(
      `unknown service ${unknown.join(', ')}; known: ${catalog.map((definition) => definition.name).join(', ')}`,
    );
  }
  return catalog.filter((definition) => wanted.includes(definition.name));
}

async function startConsumers(
  services: ServiceModule[],
  infrastructure: Infrastructure,
  log: Logger,
  tracer: Tracer,
  levelOf: (service: string) => { level: string } | undefined,
): Promise<Consumer[]> {
  const consumers: Consumer[] = [];
  for (const service of services) {
    for (const definition of service.consumers ?? []) {
      const consumer = await infrastructure.queue.consume(
        definition.topic,
        async (message) => {
          const requestId = message.headers['x-request-id'];
          // The message's span continues the trace of the request that published it (its
          // `traceparent` header), so a worker's work joins that request's trace.
          const parent = extractTraceContext(message.headers);
          const span = tracer.startSpan(
            `process ${message.topic}`,
            {
              kind: SpanKind.CONSUMER,
              attributes: {
                'messaging.system': infrastructure.queue.kind,
                'messaging.destination.name': message.topic,
                'messaging.message.id': message.id,
                'messaging.delivery.count': message.deliveries,
              },
            },
            parent,
          );
          try {
            await withSpan(
              span,
              async () => {
                const messageLog = log.child(
                  { component: service.name, topic: message.topic, messageId: message.id, requestId },
                  levelOf(service.name),
                );
                await definition.handle(message, { requestId, log: messageLog });
              },
              parent,
            );
          } catch (error) {
            markFailed(span, error);
            throw error;
          } finally {
            span.end();
          }
        },
        {
          group: definition.group ?? service.name,
          ...(definition.concurrency !== undefined ? { concurrency: definition.concurrency } : {}),
          ...(definition.ackWaitMs !== undefined ? { ackWaitMs: definition.ackWaitMs } : {}),
          ...(definition.maxDeliveries !== undefined ? { maxDeliveries: definition.maxDeliveries } : {}),
        },
      );
      consumers.push(consumer);
    }
  }
  return consumers;
}

async function checkReadiness(
  infrastructure: Infrastructure,
  state: { migrated: boolean; stopping: boolean },
): Promise<Readiness> {
  const probe = async (ping: () => Promise<void>): Promise<string> => {
    try {
      const forced = await deadline(ping(), READINESS_CHECK_TIMEOUT_MS);
      return forced ? 'timeout' : 'ok';
    } catch {
      return 'unreachable';
    }
  };
  const [store, cache, queue, rateLimit] = await Promise.all([
    probe(() => infrastructure.store.ping()),
    probe(() => infrastructure.cache.ping()),
    probe(() => infrastructure.queue.ping()),
    probe(() => infrastructure.rateLimit.ping()),
  ]);
  const checks: Record<string, string> = {
    store,
    cache,
    queue,
    rateLimit,
    migrations: state.migrated ? 'ok' : 'pending',
    accepting: state.stopping ? 'draining' : 'ok',
  };
  return { ready: Object.values(checks).every((state) => state === 'ok'), checks };
}

/** Resolves true when `work` outlived `ms` (work keeps running), false when it settled in time. */
async function deadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  try {
    return await Promise.race([work.then(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
