import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import {
  answerClientError,
  isTernError,
  PROBLEM_CONTENT_TYPE,
  runtimeErrors,
  toProblem,
  type TernError,
} from '@tern/errors';
import {
  answerDashboard,
  DASHBOARD_PREFIX,
  gatherInstances,
  processSnapshot,
  type DashboardAnswer,
} from '@tern/dashboard';
import { checkWeights, type ServiceRegistry } from '@tern/registry';
import {
  counter,
  extractTraceContext,
  gauge,
  Gauge,
  histogram,
  SpanKind,
  SpanStatusCode,
  withSpan,
  type Context,
  type Logger,
  type Registry,
  type Span,
  type TraceRing,
  type Tracer,
} from '@tern/telemetry';

import { API_KEY_HEADER, type EdgeAuth, type EdgeIdentity } from './edge-auth';
import { createCors, securityHeaders, type CorsPolicy } from './edge-headers';
import { tunnelUpgrade, upgradeHeaders } from './upgrade';
import { rateLimited, rateLimitHeaderList, type EdgeRateLimit } from './edge-rate-limit';
import { ClientGoneError, Exchange } from './exchange';
import { gatewayErrors } from './gateway-errors';
import { createHealthChecker, DEFAULT_HEALTH_CHECK, type HealthCheckPolicy } from './health-checker';
import { isCleanPath, requestIdOf, traceparentFor, traceparentOf, upstreamHeaders } from './forwarding';
import { createRouteTable, type GatewayRoute } from './route-table';
import { cohortPoint, ServiceTable } from './service-table';
import {
  DEFAULT_OUTLIER_POLICY,
  UpstreamInstance,
  type FailureKind,
  type OutlierPolicy,
} from './upstream-instance';

export interface GatewayOptions {
  log: Logger;
  metrics: Registry;
  /** Makes each proxied request's span, which starts or continues the trace (W3C `traceparent`). */
  tracer: Tracer;
  /** The live dashboard at `/_/dashboard`: this gateway's latest traces, and its instance name. */
  dashboard?: { recent: TraceRing; instance: string };
  routes: readonly GatewayRoute[];
  /** Each service's instances, as origins (`http://10.0.0.5:8080`). */
  upstreams: Readonly<Record<string, readonly string[]>>;
  /** Time for an upstream to start answering (headers), and the longest pause within its body. */
  upstreamTimeoutMs: number;
  /** Further instances an idempotent request may be tried on after a connection failure or a 503. */
  retries: number;
  bodyLimitBytes: number;
  /** Request bodies up to this size of retryable writes (with an Idempotency-Key) are held, so they can be sent again. */
  retryBodyLimitBytes?: number;
  maxPathLength?: number;
  outlier?: Partial<OutlierPolicy>;
  healthCheck?: Partial<HealthCheckPolicy>;
  /** A slow client gets this long to send its whole request. */
  clientTimeoutMs?: number;
  /** Authentication at the edge; without it every route is passed on as it comes. */
  auth?: EdgeAuth;
  /** Rate limits at the edge; without it none. */
  rateLimit?: EdgeRateLimit;
  /** Browser origins allowed to call the API (CORS); none when absent. */
  cors?: CorsPolicy;
  /** Terminates TLS with this certificate and key (PEM) instead of serving plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Service discovery: instances registered here are added to the static ones while they stay
   * registered, and the traffic split between versions is read from it (and set through it by
   * the admin API), so every gateway on one registry routes alike.
   */
  registry?: ServiceRegistry;
}

export interface Gateway {
  server: Server;
  /** Starts listening; resolves to the gateway's URL. */
  listen(port: number, host: string): Promise<string>;
  /** New requests get 503 from now on; in-flight ones finish, then connections and pools close. */
  stop(timeoutMs?: number): Promise<void>;
  /** Checks every instance's health now (tests and start-up). */
  checkHealth(): Promise<void>;
  /** The instances of a service, for the admin API and tests. */
  instances(service: string): readonly UpstreamInstance[];
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Pins a request to one version of its service (a canary, a beta tester), when that version has instances. */
export const VERSION_HEADER = 'tern-version';
/** undici error codes that mean the request never got an answer over a working connection. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const ADMIN_ROUTES = '/v1/admin/routes';

/** A request body of at most `limit` bytes, as text. */
async function readSmallBody(request: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw runtimeErrors.bodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `{"weights": {"v1": 90, "v2": 10}}` for `service`: the body's shape here, each weight by the
 * registry's own rule (whole numbers from 0 to 100 of valid version names), so both agree.
 */
function parseWeights(service: string, text: string): Record<string, number> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw runtimeErrors.malformedJson();
  }
  const weights = (value as { weights?: unknown } | null)?.weights;
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) {
    throw gatewayErrors.invalidWeights('The body must be an object with a "weights" object.');
  }
  const count = Object.keys(weights).length;
  if (count === 0 || count > 16) throw gatewayErrors.invalidWeights('Give the weights of 1 to 16 versions.');
  try {
    checkWeights(service, weights as Record<string, number>);
  } catch (error) {
    throw gatewayErrors.invalidWeights(`The ${(error as Error).message.slice(0, 120)}.`);
  }
  return weights as Record<string, number>;
}

function errorCode(error: unknown): string | undefined {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The API gateway: one front door in front of every service's instances. Per request: a request
 * id and trace context, a clean-path check, the route table, an instance picked by power of two
 * choices among the healthy ones, the request streamed to it over a keep-alive pool, the answer
 * streamed back. An idempotent request (GET, HEAD, OPTIONS, or a write with an Idempotency-Key
 * whose body the gateway could hold) that finds its instance unreachable, or answered 503, is
 * tried on another. Written on `node:http` and undici directly rather than a framework: this is
 * the hot path every request of the services shape takes (see bench/README.md).
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { log } = options;
  const { tracer } = options;
  const routes = createRouteTable(options.routes);
  const outlier = { ...DEFAULT_OUTLIER_POLICY, ...options.outlier };
  const maxPathLength = options.maxPathLength ?? 2048;
  const retryBodyLimit = options.retryBodyLimitBytes ?? 64 * 1024;

  const requests = counter(
    options.metrics,
    'tern_gateway_requests_total',
    'Requests answered by the gateway.',
    ['upstream', 'status'],
  );
  const upstreamDuration = histogram(
    options.metrics,
    'tern_gateway_upstream_duration_seconds',
    'Time until an upstream instance answered with headers.',
    ['upstream', 'upstream_instance'],
  );
  const upstreamErrors = counter(
    options.metrics,
    'tern_gateway_upstream_errors_total',
    'Requests to an upstream instance that failed: connect, timeout or server-error (5xx).',
    ['upstream', 'upstream_instance', 'kind'],
  );
  const ejections = counter(
    options.metrics,
    'tern_gateway_upstream_ejections_total',
    'Times an upstream instance was taken out of rotation by outlier detection.',
    ['upstream', 'upstream_instance'],
  );
  const retries = counter(
    options.metrics,
    'tern_gateway_retries_total',
    'Requests tried on another instance.',
    ['upstream'],
  );
  const inFlight = gauge(options.metrics, 'tern_gateway_requests_in_flight', 'Requests being proxied.', []);

  const onEject = (instance: UpstreamInstance, forMs: number) => {
    ejections.inc({ upstream: instance.service, upstream_instance: instance.origin });
    log.warn(
      { upstream: instance.service, upstreamInstance: instance.origin, forMs },
      'upstream instance ejected',
    );
  };
  const health = createHealthChecker(
    { ...DEFAULT_HEALTH_CHECK, ...options.healthCheck },
    (instance, healthy) => {
      log[healthy ? 'info' : 'warn'](
        { upstream: instance.service, upstreamInstance: instance.origin },
        healthy ? 'upstream instance healthy' : 'upstream instance failed its health checks',
      );
    },
  );
  const table = new ServiceTable(
    options.upstreams,
    (service, version, origin) => {
      const instance = new UpstreamInstance(service, version, origin, outlier, onEject);
      health.watch(instance);
      log.info({ upstream: service, version, upstreamInstance: origin }, 'upstream instance added');
      return instance;
    },
    (instance) => {
      // Draining: no new request reaches it; undici closes the pool once its requests are done.
      instance.draining = true;
      health.unwatch(instance);
      log.info(
        { upstream: instance.service, upstreamInstance: instance.origin },
        'upstream instance removed; draining',
      );
      void instance.close();
    },
  );
  for (const service of routes.services()) {
    if (table.versions(service).size === 0 && !options.registry) {
      log.warn({ upstream: service }, 'a route names a service with no instances configured');
    }
  }
  let stopWatching: (() => void) | undefined;

  if (!options.metrics.getSingleMetric('tern_gateway_upstream_available')) {
    new Gauge({
      name: 'tern_gateway_upstream_available',
      help: 'Upstream instances taking traffic (1) or not: ejected, failing health checks or draining (0).',
      labelNames: ['upstream', 'upstream_instance'],
      registers: [options.metrics],
      collect() {
        const now = Date.now();
        {
          for (const instance of table.all()) {
            this.set(
              { upstream: instance.service, upstream_instance: instance.origin },
              instance.available(now) ? 1 : 0,
            );
          }
        }
      },
    });
  }

  let shuttingDown = false;
  let active = 0;
  let idle: (() => void) | undefined;

  function sendProblem(response: ServerResponse, error: TernError, requestId: string, path: string): void {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = JSON.stringify(toProblem(error, { instance: path.slice(0, 256), requestId }));
    response.writeHead(error.status, {
      ...error.headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
    });
    response.end(body);
  }

  function answerOwn(path: string, response: ServerResponse, requestId: string): boolean {
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      response.end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      const now = Date.now();
      const upstreams = Object.fromEntries(
        table.services().map((service) => {
          const instances = table.instances(service);
          return [
            service,
            { instances: instances.length, available: instances.filter((i) => i.available(now)).length },
          ];
        }),
      );
      // The gateway is ready while it serves; an upstream without instances is reported, not
      // fatal: pulling every gateway out of rotation would take the healthy services down too.
      const status = shuttingDown ? 503 : 200;
      response.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId });
      response.end(JSON.stringify({ status: shuttingDown ? 'shutting-down' : 'ready', upstreams }));
      return true;
    }
    if (path === '/metrics') {
      options.metrics.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': options.metrics.contentType });
          response.end(text);
        },
        // A collector that throws (a gauge reading a dead dependency) must not take the process down.
        (error: unknown) => {
          log.error({ err: error, requestId }, 'metrics collection failed');
          sendProblem(response, gatewayErrors.metricsUnavailable(), requestId, path);
        },
      );
      return true;
    }
    return false;
  }

  /** The request body as sent upstream: streamed within the limit, or held when it may be sent twice. */
  async function bodyOf(
    request: IncomingMessage,
    mayRetry: boolean,
  ): Promise<{ body: Buffer | AsyncIterable<Buffer> | undefined; retryable: boolean }> {
    const length = request.headers['content-length'];
    const chunked = request.headers['transfer-encoding'] !== undefined;
    const declared = length === undefined ? undefined : Number(length);
    if (!chunked && (declared === undefined || declared === 0))
      return { body: undefined, retryable: mayRetry };
    if (declared !== undefined && declared > options.bodyLimitBytes) {
      throw runtimeErrors.bodyTooLarge(options.bodyLimitBytes);
    }
    if (mayRetry && declared !== undefined && declared <= retryBodyLimit) {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      return { body: Buffer.concat(chunks), retryable: true };
    }
    const limit = options.bodyLimitBytes;
    async function* limited(): AsyncIterable<Buffer> {
      let seen = 0;
      for await (const chunk of request) {
        seen += (chunk as Buffer).length;
        if (seen > limit) throw runtimeErrors.bodyTooLarge(limit);
        yield chunk as Buffer;
      }
    }
    return { body: limited(), retryable: false };
  }

  /**
   * What every proxied request goes through before an instance is picked, plain or upgrade: the
   * route (404), the caller (401/403 on private routes), the rate limits (429), and where the
   * version split places it (a `Tern-Version` pin, the user's cohort point).
   */
  async function admit(request: IncomingMessage, method: string, path: string) {
    const route = routes.match(method, path);
    if (!route) throw gatewayErrors.routeNotFound();
    const identity = await identityOf(request, route.access, path);
    const verdict = await options.rateLimit?.check(
      method,
      path,
      identity,
      request.socket.remoteAddress ?? '',
    );
    if (verdict && !verdict.allowed) throw rateLimited(verdict);
    const pinned = request.headers[VERSION_HEADER];
    return {
      route,
      identity,
      verdict,
      pin: typeof pinned === 'string' ? pinned : undefined,
      point: identity.kind === 'user' ? cohortPoint(`${route.service}:${identity.id}`) : undefined,
    };
  }

  /**
   * Who calls: an API key when one is presented (then it alone counts), else the bearer
   * credential, required on private routes. Without edge authentication configured, anyone.
   */
  async function identityOf(
    request: IncomingMessage,
    access: 'public' | 'private' | undefined,
    path: string,
  ): Promise<EdgeIdentity> {
    if (!options.auth) return { kind: 'anonymous' };
    const apiKey = request.headers[API_KEY_HEADER];
    if (typeof apiKey === 'string') return options.auth.apiKey(apiKey, path);
    const authorization = request.headers.authorization;
    return access === 'public'
      ? options.auth.identify(authorization)
      : options.auth.authenticate(authorization);
  }

  /** An API key caller's request goes upstream with the credential its key grants, and no other. */
  function credentialFor(
    identity: EdgeIdentity,
    headers: Record<string, string | string[]>,
  ): Record<string, string | string[]> {
    if (identity.kind !== 'apiKey') return headers;
    delete headers.authorization;
    const admin = options.auth?.adminCredential();
    if (identity.as === 'admin' && admin) headers.authorization = `Bearer ${admin}`;
    return headers;
  }

  /** What the admin API shows of a service: its split and each version's instances. */
  /** One instance as the admin API and the dashboard show it. */
  const instanceView = (instance: UpstreamInstance, now: number) => ({
    origin: instance.origin,
    available: instance.available(now),
    healthy: instance.healthy,
    ejected: instance.ejected(now),
    draining: instance.draining,
    outstanding: instance.outstanding,
  });

  function describeService(service: string) {
    const now = Date.now();
    return {
      weights: table.weights()[service] ?? {},
      versions: Object.fromEntries(
        [...table.versions(service)].map(([version, instances]) => [
          version,
          instances.map((instance) => instanceView(instance, now)),
        ]),
      ),
    };
  }

  /**
   * The live dashboard (admin credential only): this gateway's metrics and traces, with every
   * instance's read from the instance itself, and the instances' health as the gateway sees it.
   */
  async function dashboard(
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    path: string,
    requestId: string,
  ): Promise<void> {
    const adminKey = options.auth?.adminCredential();
    const own = () =>
      processSnapshot(options.metrics, options.dashboard?.recent, {
        service: 'gateway',
        instance: options.dashboard?.instance ?? 'gateway',
      });
    const answer = (await answerDashboard(method, path, request.headers.authorization, {
      adminKey: () => adminKey,
      snapshot: own,
      async data() {
        const now = Date.now();
        const instances = table
          .services()
          .flatMap((service) =>
            table
              .instances(service)
              .map((instance) => ({ service, version: instance.version, ...instanceView(instance, now) })),
          );
        const gathered = await gatherInstances(
          await own(),
          instances.map((instance) => instance.origin),
          adminKey,
        );
        return { at: now, ...gathered, instances };
      },
    })) as DashboardAnswer;
    response.writeHead(answer.status, { ...answer.headers, 'x-request-id': requestId });
    response.end(method === 'HEAD' ? undefined : answer.body);
  }

  /**
   * `GET /v1/admin/routes`: the route table, every service's versions, instances and weights.
   * `PUT /v1/admin/routes/<service>` with `{"weights": {"v1": 90, "v2": 10}}`: a new split, at once
   * on this gateway and, through the registry, on every other. Admin credential (or the admin role) only.
   */
  async function adminRoutes(
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    path: string,
    requestId: string,
  ): Promise<void> {
    if (!options.auth) throw runtimeErrors.unauthorized('The admin API needs authentication at the edge.');
    const identity = await options.auth.authenticate(request.headers.authorization);
    if (!(identity.kind === 'admin' || (identity.kind === 'user' && identity.roles.includes('admin')))) {
      throw runtimeErrors.forbidden();
    }
    const service = path.slice(ADMIN_ROUTES.length + 1);
    let body: unknown;
    if (method === 'GET' && service === '') {
      body = {
        routes: options.routes,
        services: Object.fromEntries(table.services().map((name) => [name, describeService(name)])),
      };
    } else if (method === 'GET' && table.versions(service).size > 0) {
      body = describeService(service);
    } else if (method === 'PUT' && service !== '') {
      const weights = parseWeights(service, await readSmallBody(request, 16 * 1024));
      if (options.registry) await options.registry.setWeights(service, weights);
      table.setWeights(service, weights);
      log.info({ upstream: service, weights, requestId }, 'traffic split changed');
      body = describeService(service);
    } else if (method === 'GET' || method === 'PUT') {
      throw gatewayErrors.routeNotFound();
    } else {
      throw runtimeErrors.methodNotAllowed(method, service === '' ? ['GET'] : ['GET', 'PUT']);
    }
    const text = JSON.stringify(body);
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-request-id': requestId,
    });
    response.end(text);
  }

  const cors = createCors(options.cors);
  const security = securityHeaders(options.tls !== undefined);
  const securityList = Object.entries(security).flat();

  /** The edge's headers (security, CORS) set on a response the gateway writes itself. */
  function decorate(response: ServerResponse, corsList: readonly string[]): void {
    if (response.headersSent) return;
    for (let i = 0; i < securityList.length; i += 2) {
      response.setHeader(securityList[i] as string, securityList[i + 1] as string);
    }
    for (let i = 0; i < corsList.length; i += 2) {
      response.setHeader(corsList[i] as string, corsList[i + 1] as string);
    }
  }

  /**
   * The span of one proxied request: it continues the client's `traceparent` or starts a trace,
   * and is what the upstream's span continues.
   */
  function startSpan(request: IncomingMessage, method: string): { span: Span; parent: Context } {
    const parent = extractTraceContext(request.headers);
    return { span: tracer.startSpan(method, { kind: SpanKind.SERVER }, parent), parent };
  }

  /** Ends a proxied request: its span, and its access log line (with the trace's ids). */
  function endRequest(
    traced: { span: Span; parent: Context },
    request: { method: string; path: string; requestId: string; service: string; startedAt: number },
    response: ServerResponse,
    identity: EdgeIdentity | undefined,
  ): void {
    const status = response.writableFinished || response.headersSent ? response.statusCode : 0;
    const { span } = traced;
    if (span.isRecording()) {
      span.updateName(`${request.method} ${request.service}`);
      span.setAttributes({
        'http.request.method': request.method,
        'http.response.status_code': status,
        'tern.upstream': request.service,
      });
      if (status >= 500 || status === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (log.isLevelEnabled('info')) {
      withSpan(
        span,
        () =>
          log.info(
            {
              requestId: request.requestId,
              method: request.method,
              upstream: request.service,
              path: request.path.slice(0, 200),
              status: status === 0 ? 'aborted' : status,
              durationMs: Math.round((performance.now() - request.startedAt) * 10) / 10,
              ...(identity?.kind === 'user' ? { userId: identity.id } : {}),
            },
            'request',
          ),
        traced.parent,
      );
    }
    span.end();
  }

  async function proxy(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const requestId = requestIdOf(request.headers);
    const corsList = request.headers.origin === undefined ? [] : Object.entries(cors.headers(request)).flat();
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const method = request.method ?? 'GET';
    let service = 'unmatched';
    const finish = (status: number) => requests.inc({ upstream: service, status: String(status) });
    let traced: { span: Span; parent: Context } | undefined;
    let identity: EdgeIdentity | undefined;
    try {
      if (path === '/healthz' || path === '/readyz' || path === '/metrics' || method === 'OPTIONS') {
        decorate(response, corsList);
        if (answerOwn(path, response, requestId)) return;
        if (cors.preflight(request, response, { 'x-request-id': requestId })) return;
      }
      traced = startSpan(request, method);
      if (shuttingDown) throw gatewayErrors.shuttingDown();
      if (!isCleanPath(path, maxPathLength)) throw gatewayErrors.badPath();
      if (path === DASHBOARD_PREFIX || path.startsWith(`${DASHBOARD_PREFIX}/`)) {
        await dashboard(request, response, method, path, requestId);
        return;
      }
      if (path === ADMIN_ROUTES || path.startsWith(`${ADMIN_ROUTES}/`)) {
        decorate(response, corsList);
        await adminRoutes(request, response, method, path, requestId);
        finish(response.statusCode);
        return;
      }
      const admitted = await admit(request, method, path);
      service = admitted.route.service;
      identity = admitted.identity;
      const { verdict, pin, point } = admitted;
      const mayRetry =
        IDEMPOTENT.has(method) || (request.headers['idempotency-key'] !== undefined && options.retries > 0);
      const { body, retryable } = await bodyOf(request, mayRetry);
      const headers = credentialFor(
        identity,
        upstreamHeaders(request, requestId, traceparentOf(traced.span)),
      );
      const own = verdict
        ? ['x-request-id', requestId, ...rateLimitHeaderList(verdict)]
        : ['x-request-id', requestId];
      const edge = corsList.length === 0 ? securityList : [...securityList, ...corsList];
      let current: Exchange | undefined;
      // The client may already have left while its request was admitted or its body read.
      let gone = response.destroyed;
      response.once('close', () => {
        if (response.writableFinished) return;
        gone = true;
        current?.clientClosed();
      });
      const tried = new Set<UpstreamInstance>();
      for (let attempt = 0; ; attempt++) {
        if (gone) return;
        const instance = table.pick(service, Date.now(), tried, pin, point);
        if (!instance) throw gatewayErrors.noUpstream(service);
        tried.add(instance);
        const started = performance.now();
        current = new Exchange({
          response,
          own,
          edge,
          canRetry: retryable && attempt < options.retries,
          onStatus: (status) => {
            upstreamDuration.observe(labelsOf(instance), (performance.now() - started) / 1000);
            if (status >= 500) failed(instance, 'server-error');
            else instance.recordSuccess();
          },
          onBrokenOff: (error) => {
            log.warn({ err: error, requestId, ...labelsOf(instance) }, 'upstream answer broke off');
          },
        });
        instance.outstanding += 1;
        instance.pool.dispatch(
          {
            method: method as Dispatcher.HttpMethod,
            path: url,
            headers,
            body: body as Buffer | undefined,
            headersTimeout: options.upstreamTimeoutMs,
            bodyTimeout: options.upstreamTimeoutMs,
          },
          current,
        );
        const outcome = await current.done;
        instance.outstanding -= 1;
        if (outcome === 'retry') {
          retries.inc({ upstream: service });
          continue;
        }
        if (typeof outcome === 'number') {
          finish(outcome);
          return;
        }
        if (outcome instanceof ClientGoneError || gone) return;
        const refusal = upstreamFailure(instance, outcome, requestId);
        if (refusal === 'retry' && retryable && attempt < options.retries) {
          retries.inc({ upstream: service });
          continue;
        }
        throw refusal === 'retry' ? gatewayErrors.upstreamUnreachable(service) : refusal;
      }
    } catch (error) {
      if (response.destroyed) return;
      const ternError = isTernError(error) ? error : gatewayErrors.upstreamUnreachable(service);
      if (!isTernError(error))
        log.error({ err: error, requestId, upstream: service }, 'gateway request failed');
      decorate(response, corsList);
      sendProblem(response, ternError, requestId, path);
      finish(ternError.status);
    } finally {
      if (traced) endRequest(traced, { method, path, requestId, service, startedAt }, response, identity);
    }
  }

  /** Metric labels of an instance, made once per instance. */
  const instanceLabels = new WeakMap<UpstreamInstance, { upstream: string; upstream_instance: string }>();
  function labelsOf(instance: UpstreamInstance) {
    let labels = instanceLabels.get(instance);
    if (!labels) {
      labels = { upstream: instance.service, upstream_instance: instance.origin };
      instanceLabels.set(instance, labels);
    }
    return labels;
  }

  function failed(instance: UpstreamInstance, kind: FailureKind): void {
    upstreamErrors.inc({ ...labelsOf(instance), kind });
    instance.recordFailure(kind, Date.now());
  }

  /**
   * What a request that got no answer from `instance` is told: a timeout 504, a connection that
   * failed (refused, reset) `'retry'` where another instance may take it, else 502.
   */
  function upstreamFailure(instance: UpstreamInstance, error: Error, requestId: string): TernError | 'retry' {
    if (isTernError(error)) return error;
    const code = errorCode(error);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      failed(instance, 'timeout');
      return gatewayErrors.upstreamTimeout(instance.service, options.upstreamTimeoutMs);
    }
    failed(instance, 'connect');
    if (code !== undefined && CONNECT_ERRORS.has(code)) return 'retry';
    log.warn({ err: error, requestId, ...labelsOf(instance) }, 'upstream request failed');
    return gatewayErrors.upstreamUnreachable(instance.service);
  }

  const serverOptions = {
    requestTimeout: options.clientTimeoutMs ?? 60_000,
    headersTimeout: Math.min(options.clientTimeoutMs ?? 60_000, 20_000),
    keepAliveTimeout: 72_000,
    maxHeaderSize: 16 * 1024,
  };
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    active += 1;
    inFlight.inc();
    void proxy(request, response).finally(() => {
      active -= 1;
      inFlight.dec();
      if (active === 0) idle?.();
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, onRequest)
    : createServer(serverOptions, onRequest);

  /**
   * Upgrades (WebSockets, for realtime): routed, authenticated and rate-limited like any request,
   * then tunnelled to an instance. A refusal is written on the socket as problem+json.
   */
  const tunnels = new Set<Duplex>();
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    const requestId = requestIdOf(request.headers);
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const refuse = (error: TernError) => {
      const body = JSON.stringify(toProblem(error, { instance: path.slice(0, 256), requestId }));
      const extra = Object.entries(error.headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.end(
        `HTTP/1.1 ${error.status} ${error.title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\n${extra}` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\nx-request-id: ${requestId}\r\n\r\n${body}`,
      );
    };
    socket.on('error', () => socket.destroy());
    void (async () => {
      if (shuttingDown) throw gatewayErrors.shuttingDown();
      if (!isCleanPath(path, maxPathLength)) throw gatewayErrors.badPath();
      const { route, identity, pin, point } = await admit(request, request.method ?? 'GET', path);
      const instance = table.pick(route.service, Date.now(), new Set(), pin, point);
      if (!instance) throw gatewayErrors.noUpstream(route.service);
      tunnelUpgrade({
        request,
        client: socket,
        head,
        origin: instance.origin,
        headers: upgradeHeaders(
          credentialFor(identity, upstreamHeaders(request, requestId, traceparentFor(request.headers))),
          request,
        ),
        timeoutMs: options.upstreamTimeoutMs,
        onError: (error) => {
          instance.recordFailure('connect', Date.now());
          log.warn(
            { err: error, requestId, upstream: route.service, upstreamInstance: instance.origin },
            'upgrade failed',
          );
        },
      });
    })().catch((error: unknown) => {
      if (isTernError(error)) refuse(error);
      else {
        log.error({ err: error, requestId }, 'upgrade failed');
        socket.destroy();
      }
    });
  });
  server.on('clientError', answerClientError);

  return {
    server,
    async listen(port, host) {
      if (options.registry && !stopWatching) {
        stopWatching = await options.registry.watch((entries, weights) => table.update(entries, weights));
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      return `${options.tls ? 'https' : 'http'}://${shown}:${address.port}`;
    },
    async stop(timeoutMs = 10_000) {
      shuttingDown = true;
      health.stop();
      const drained = new Promise<void>((resolve) => {
        if (active === 0) resolve();
        else idle = resolve;
      });
      server.close();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
      await drained;
      clearTimeout(timer);
      server.closeAllConnections();
      // Upgraded connections (WebSockets) are no longer the server's: closed here, clients reconnect elsewhere.
      for (const tunnel of tunnels) tunnel.destroy();
      stopWatching?.();
      await Promise.all(table.all().map((instance) => instance.close()));
    },
    checkHealth: () => health.checkAll(),
    instances: (service) => table.instances(service),
  };
}
