import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Secret } from '@tern/config';
import { answerDashboard, DASHBOARD_PREFIX, type DashboardSource } from '@tern/dashboard';
import { answerClientError, runtimeErrors, TernError } from '@tern/errors';
import {
  extractTraceContext,
  markFailed,
  SpanKind,
  SpanStatusCode,
  withSpan,
  type Context,
  type Logger,
  type Registry,
  type Span,
  type Tracer,
} from '@tern/telemetry';
import type { AccessTokenVerifier } from '@tern/tokens';
import { RawJson, type Identity, type RequestContext, type Route } from '../service';
import { createIdentityResolver } from './admin-auth';
import { createHttpMetrics } from './http-metrics';
import { sendProblem, toTernError } from './problem-reply';
import { createValidatorCompiler } from './schema-validators';
import { registerHealthRoutes, type Readiness } from './health-routes';
import { registerContentTypes } from './content-types';
import { lazyRequestLogger } from './lazy-request-logger';

export type { Readiness } from './health-routes';

export interface HttpAppOptions {
  log: Logger;
  metrics: Registry;
  /** Makes each request's server span, continuing the caller's `traceparent`. */
  tracer: Tracer;
  /** A level per service (`TERN_LOG_LEVELS`) for the lines its handlers write. */
  logLevels?: Readonly<Record<string, string>>;
  routes: readonly { service: string; route: Route }[];
  adminKey: Secret;
  /** Verifies user access tokens; without one, only the admin key is accepted. */
  accessTokens?: AccessTokenVerifier;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  version: string;
  title: string;
  readiness: () => Promise<Readiness>;
  /** The live dashboard at `/_/dashboard` (admin credential only). */
  dashboard?: DashboardSource;
}

export interface HttpApp {
  app: FastifyInstance;
  /** From now on new requests get 503 runtime/shutting-down; in-flight ones finish. */
  beginShutdown(): void;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Builds the HTTP application every shape serves: the runtime's edge behaviour (request ids,
 * limits, errors as problem+json, metrics, OpenAPI) around the hosted services' routes.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<HttpApp> {
  const { log, bodyLimitBytes } = options;
  const identities = new WeakMap<FastifyRequest, Identity>();
  const resolveIdentity = createIdentityResolver(options.adminKey, options.accessTokens);
  const httpMetrics = createHttpMetrics(options.metrics);
  const knownRoutes = FindMyWay({ ignoreTrailingSlash: true });
  let shuttingDown = false;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    childLoggerFactory: (logger, bindings, childOptions) =>
      lazyRequestLogger(logger as Logger, bindings, childOptions),
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: bodyLimitBytes,
    return503OnClosing: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // A client that stalls mid-request is cut off rather than holding a connection (and a drain) open.
    requestTimeout: options.requestTimeoutMs,
    clientErrorHandler: answerClientError,
    frameworkErrors: (error, request, reply) => {
      void sendProblem(request, reply, toTernError(error, { bodyLimitBytes }));
    },
  });

  app.setValidatorCompiler(createValidatorCompiler());
  registerContentTypes(app);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!knownRoutes.hasRoute(method as HTTPMethod, route.url))
        knownRoutes.on(method as HTTPMethod, route.url, () => {});
    }
  });

  // Hooks on every request are callback-style: an async hook costs a promise per request.
  // Each request is counted in flight once and released once, by its response or its abort.
  const inFlight = new WeakMap<FastifyRequest, number>();
  // Each request's span, and the context its handler runs in (the caller's trace continued).
  const spans = new WeakMap<FastifyRequest, { span: Span; parent: Context }>();
  const endSpan = (request: FastifyRequest, status: number | 'aborted') => {
    const traced = spans.get(request);
    if (!traced || !spans.delete(request)) return;
    if (traced.span.isRecording()) {
      if (status === 'aborted') traced.span.setStatus({ code: SpanStatusCode.ERROR, message: 'aborted' });
      else {
        traced.span.setAttribute('http.response.status_code', status);
        if (status >= 500) traced.span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    traced.span.end();
  };
  /** Runs `work` inside the request's span: log lines written there carry its trace and span ids. */
  const inSpan = <T>(request: FastifyRequest, work: () => T): T => {
    const traced = spans.get(request);
    return traced ? withSpan(traced.span, work, traced.parent) : work();
  };
  const settle = (request: FastifyRequest): number | undefined => {
    const startedAt = inFlight.get(request);
    if (startedAt === undefined || !inFlight.delete(request)) return undefined;
    httpMetrics.inFlight.dec();
    return performance.now() - startedAt;
  };
  app.addHook('onRequest', (request, reply, done) => {
    inFlight.set(request, performance.now());
    const parent = extractTraceContext(request.headers);
    const route = request.routeOptions.url;
    const span = options.tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, ...(route ? { 'http.route': route } : {}) },
      },
      parent,
    );
    spans.set(request, { span, parent });
    httpMetrics.inFlight.inc();
    void reply.header('x-request-id', request.id);
    if (shuttingDown) {
      void sendProblem(request, reply, runtimeErrors.shuttingDown());
      return;
    }
    done();
  });

  // In-flight responses finishing during a drain close their connection, so keep-alive
  // clients reconnect to another instance instead of holding this one open.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (shuttingDown) void reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onRequestAbort', (request, done) => {
    const elapsedMs = settle(request);
    if (elapsedMs !== undefined) {
      const route = request.routeOptions.url ?? 'unmatched';
      httpMetrics.duration.observe({ method: request.method, route, status: 'aborted' }, elapsedMs / 1000);
      inSpan(request, () =>
        request.log.info(
          { method: request.method, route, status: 'aborted' },
          'request aborted by the client',
        ),
      );
    }
    endSpan(request, 'aborted');
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    settle(request);
    const route = request.routeOptions.url ?? 'unmatched';
    httpMetrics.duration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    // Checked first: at the default level (warn) the line is never written, so its fields are not built.
    if (log.isLevelEnabled('info')) {
      const identity = identities.get(request);
      inSpan(request, () =>
        request.log.info(
          {
            method: request.method,
            route,
            path: request.url.split('?')[0]?.slice(0, 200),
            status: reply.statusCode,
            durationMs: Math.round(reply.elapsedTime * 10) / 10,
            ...(identity?.kind === 'user' ? { userId: identity.id } : {}),
          },
          'request',
        ),
      );
    }
    endSpan(request, reply.statusCode);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const ternError: TernError = toTernError(error, {
      bodyLimitBytes,
      contentType: request.headers['content-type'],
    });
    if (ternError.status >= 500) {
      const traced = spans.get(request);
      if (traced) markFailed(traced.span, error);
      inSpan(request, () => request.log.error({ err: error }, 'request failed'));
    } else request.log.debug({ code: ternError.code }, 'request refused');
    return sendProblem(request, reply, ternError);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = METHODS.filter((method) => knownRoutes.find(method, path) !== null);
    if (allowed.length > 0)
      return sendProblem(request, reply, runtimeErrors.methodNotAllowed(request.method, allowed));
    return sendProblem(request, reply, runtimeErrors.notFound());
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: options.title,
        version: options.version,
        description: 'Tern API. Errors are RFC 9457 problem+json.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerHealthRoutes(app, options);
  const { dashboard } = options;
  if (dashboard) {
    for (const url of [DASHBOARD_PREFIX, `${DASHBOARD_PREFIX}/*`]) {
      app.route({
        method: ['GET', 'HEAD'],
        url,
        schema: { hide: true },
        handler: async (request, reply) => {
          const answer = await answerDashboard(
            request.method,
            request.url.split('?')[0] ?? '/',
            request.headers.authorization,
            dashboard,
          );
          if (!answer) return sendProblem(request, reply, runtimeErrors.notFound());
          return reply.code(answer.status).headers(answer.headers).send(answer.body);
        },
      });
    }
  }

  for (const { service, route } of options.routes) {
    app.route({
      method: route.method,
      url: route.url,
      schema: {
        ...route.schema,
        summary: route.summary,
        ...(route.description ? { description: route.description } : {}),
        ...(route.tags ? { tags: route.tags } : {}),
        ...(route.access === 'public' ? {} : { security: [{ bearer: [] }] }),
      },
      ...(route.serializer === 'json' ? { serializerCompiler: () => plainJson } : {}),
      // Authenticate before the body is read, so a refused caller costs no parsing.
      onRequest: async (request) => {
        let identity: Identity;
        try {
          const resolved = await resolveIdentity(request.headers.authorization);
          if (resolved === 'invalid') throw runtimeErrors.unauthorized();
          identity = resolved;
        } catch (error) {
          // A public route serves anyone: credentials it cannot verify are ignored, not refused.
          if (route.access !== 'public' || isDependencyFailure(error)) throw error;
          identity = { kind: 'anonymous' };
        }
        if (!allows(route.access, identity)) {
          throw identity.kind === 'anonymous' ? runtimeErrors.unauthorized() : runtimeErrors.forbidden();
        }
        identities.set(request, identity);
      },
      handler: async (request, reply) => {
        // Aborted when the request times out or the client hangs up, so handlers can stop work.
        // Made on first use, like the child logger: most handlers never touch either.
        let abort: AbortController | undefined;
        let log: Logger | undefined;
        const ctx: RequestContext = {
          requestId: request.id,
          identity: identities.get(request) ?? { kind: 'anonymous' },
          ip: request.ip,
          userAgent: request.headers['user-agent']?.slice(0, 512),
          get log() {
            const identity = identities.get(request);
            const level = options.logLevels?.[service];
            return (log ??= (request.log as Logger).child(
              { component: service, ...(identity?.kind === 'user' ? { userId: identity.id } : {}) },
              level ? { level } : undefined,
            ));
          },
          get signal() {
            if (!abort) {
              const controller = new AbortController();
              abort = controller;
              if (reply.raw.destroyed && !reply.raw.writableFinished) controller.abort();
              else {
                reply.raw.once('close', () => {
                  if (!reply.raw.writableFinished) controller.abort();
                });
              }
            }
            return abort.signal;
          },
        };
        const input = {
          body: request.body as never,
          query: (request.query ?? {}) as never,
          params: (request.params ?? {}) as never,
          headers: request.headers,
        };
        const result = await withTimeout(
          inSpan(request, () => route.handler(input, ctx)),
          options.requestTimeoutMs,
          () => {
            abort?.abort();
            // Only a read is safe to retry blindly: a write may still complete after this answer.
            return runtimeErrors.timeout(route.method === 'GET');
          },
        );
        if (result.headers) void reply.headers(result.headers);
        if (result.body instanceof RawJson) {
          // fastify sends a string with a JSON content type as it is.
          return reply.code(result.status).type('application/json; charset=utf-8').send(result.body.text);
        }
        return reply.code(result.status).send(result.body);
      },
    });
  }

  return {
    app,
    beginShutdown() {
      shuttingDown = true;
    },
  };
}

const plainJson = (data: unknown) => JSON.stringify(data);

function allows(access: Route['access'], identity: Identity): boolean {
  switch (access) {
    case 'public':
      return true;
    case 'user':
      return identity.kind !== 'anonymous';
    case 'admin':
      return identity.kind === 'admin' || (identity.kind === 'user' && identity.roles.includes('admin'));
    default: {
      const unknown: never = access;
      throw new Error(`unknown access level ${String(unknown)}`);
    }
  }
}

/** Keys that cannot be fetched are an outage to report (503), not bad credentials to ignore. */
function isDependencyFailure(error: unknown): boolean {
  return error instanceof TernError && error.status >= 500;
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
