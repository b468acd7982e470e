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
import { Type } from '@sinclair/typebox';
import type { Secret } from '@tern/config';
import { runtimeErrors, type TernError } from '@tern/errors';
import type { Logger, Registry } from '@tern/telemetry';
import type { Identity, RequestContext, Route } from '../service';
import { createIdentityResolver } from './admin-auth';
import { createHttpMetrics } from './http-metrics';
import { sendProblem, toTernError } from './problem-reply';
import { createValidatorCompiler } from './schema-validators';

export interface HttpAppOptions {
  log: Logger;
  metrics: Registry;
  routes: readonly { service: string; route: Route }[];
  adminKey: Secret;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  version: string;
  title: string;
  readiness: () => Promise<Readiness>;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
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
  const resolveIdentity = createIdentityResolver(options.adminKey);
  const httpMetrics = createHttpMetrics(options.metrics);
  const knownRoutes = FindMyWay({ ignoreTrailingSlash: true });
  let shuttingDown = false;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
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
    frameworkErrors: (error, request, reply) => {
      void sendProblem(request, reply, toTernError(error, bodyLimitBytes));
    },
  });

  app.setValidatorCompiler(createValidatorCompiler());
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!knownRoutes.hasRoute(method as HTTPMethod, route.url))
        knownRoutes.on(method as HTTPMethod, route.url, () => {});
    }
  });

  // Hooks on every request are callback-style: async hooks cost a promise each, measurably so
  // on the hot path (bench/README.md).
  app.addHook('onRequest', (request, reply, done) => {
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

  app.addHook('onResponse', (request, reply, done) => {
    httpMetrics.inFlight.dec();
    const route = request.routeOptions.url ?? 'unmatched';
    httpMetrics.duration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    request.log.info(
      {
        method: request.method,
        route,
        path: request.url.split('?')[0]?.slice(0, 200),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const ternError: TernError = toTernError(error, bodyLimitBytes);
    if (ternError.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: ternError.code }, 'request refused');
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
      // Authenticate before the body is read, so a refused caller costs no parsing.
      onRequest: async (request) => {
        const identity = resolveIdentity(request.headers.authorization);
        if (identity === 'invalid') throw runtimeErrors.unauthorized();
        if (route.access === 'admin' && identity.kind !== 'admin') {
          throw identity.kind === 'anonymous' ? runtimeErrors.unauthorized() : runtimeErrors.forbidden();
        }
        identities.set(request, identity);
      },
      handler: async (request, reply) => {
        const ctx: RequestContext = {
          requestId: request.id,
          identity: identities.get(request) ?? { kind: 'anonymous' },
          log: (request.log as Logger).child({ component: service }),
        };
        const input = {
          body: request.body as never,
          query: (request.query ?? {}) as never,
          params: (request.params ?? {}) as never,
          headers: request.headers,
        };
        const result = await withTimeout(route.handler(input, ctx), options.requestTimeoutMs);
        if (result.headers) void reply.headers(result.headers);
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

function registerHealthRoutes(app: FastifyInstance, options: HttpAppOptions): void {
  const checks = Type.Record(Type.String(), Type.String());
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: dependencies reachable and migrations applied; 503 otherwise.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ready'), checks }) },
      },
    },
    async (request, reply) => {
      const readiness = await options.readiness();
      if (!readiness.ready) {
        const failing = Object.entries(readiness.checks)
          .filter(([, state]) => state !== 'ok')
          .map(([name]) => name);
        const error = runtimeErrors.notReady(failing);
        Object.assign(error.details, { checks: readiness.checks });
        return sendProblem(request, reply, error);
      }
      return { status: 'ready' as const, checks: readiness.checks };
    },
  );
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics.', tags: ['health'] } },
    async (_request, reply) => {
      const text = await options.metrics.metrics();
      return reply.type(options.metrics.contentType).send(text);
    },
  );
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(runtimeErrors.timeout()), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
