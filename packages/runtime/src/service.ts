import type { Static, TSchema } from '@sinclair/typebox';
import type { JSONWebKeySet } from 'jose';
import type { Cache } from '@tern/cache';
import type { Secret, TernConfig } from '@tern/config';
import type { Outbox } from '@tern/outbox';
import type { Mailer } from '@tern/mail';
import type { Queue, QueueMessage } from '@tern/queue';
import type { RateLimitStore } from '@tern/rate-limit';
import type { Migration, Store } from '@tern/store';
import type { Logger, Registry } from '@tern/telemetry';

/** Who is calling. Verified before a handler runs; handlers never parse credentials themselves. */
export type Identity =
  | { kind: 'anonymous' }
  | { kind: 'admin'; via: 'admin-key' }
  | {
      kind: 'user';
      id: string;
      roles: string[];
      /** The device session the access token belongs to. */
      sessionId: string;
      /** An anonymous account: signed in, but not yet linked to an email or provider. */
      anonymous: boolean;
      /** Custom claims set by an administrator. */
      claims: Record<string, unknown>;
    };

/** Handed to every handler: the request's own state, never bolted onto a framework object. */
export interface RequestContext {
  requestId: string;
  identity: Identity;
  /** The client's address as this process sees it (the socket peer). */
  ip: string;
  userAgent: string | undefined;
  log: Logger;
  /** Aborted when the request times out or the client disconnects: pass it to slow work. */
  signal: AbortSignal;
}

/**
 * Who may call a route. Deny by default: a route must say it is public.
 * `user`: any signed-in user (anonymous accounts included) or an administrator.
 * `admin`: the admin credential, or a user whose roles include `admin`.
 */
export type Access = 'public' | 'user' | 'admin';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteSchema {
  body?: TSchema;
  querystring?: TSchema;
  params?: TSchema;
  headers?: TSchema;
  /** Status code → schema of the body. Responses are serialised from these, so extra fields never leak. */
  response: Record<number, TSchema>;
}

type StaticOr<T, Fallback> = T extends TSchema ? Static<T> : Fallback;

export interface RouteInput<S extends RouteSchema> {
  body: StaticOr<S['body'], undefined>;
  query: StaticOr<S['querystring'], Record<string, never>>;
  params: StaticOr<S['params'], Record<string, never>>;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A JSON answer already written out, sent as is: for a handler that can assemble its answer from
 * JSON text it holds (documents stored as JSON) without parsing and serialising it again. The
 * text must be valid JSON of the response schema's shape; nothing checks it on the way out.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

type ResponseOf<S extends RouteSchema> = {
  [Status in keyof S['response'] & number]: {
    status: Status;
    body: (S['response'][Status] extends TSchema ? Static<S['response'][Status]> : never) | RawJson;
    headers?: Record<string, string>;
  };
}[keyof S['response'] & number];

export interface Route<S extends RouteSchema = RouteSchema> {
  method: HttpMethod;
  /** Path with `:param` segments, e.g. `/v1/admin/system`. */
  url: string;
  summary: string;
  description?: string;
  tags?: string[];
  access: Access;
  schema: S;
  /**
   * `json`: answers are written with `JSON.stringify` instead of a serializer compiled from the
   * response schema (which still documents the route). Only for schemas that admit any extra
   * property anyway (documents): the compiled serializer drops undeclared properties, and for
   * open objects it is slower (13.8 % of a 20-document list's CPU, against about a third of that).
   */
  serializer?: 'schema' | 'json';
  handler(input: RouteInput<S>, ctx: RequestContext): Promise<ResponseOf<S>>;
}

export type RouteSpec<S extends RouteSchema> = Omit<Route<S>, 'handler'>;

/**
 * Declares a route in two steps, `defineRoute(spec).handle(handler)`, so TypeScript fixes the
 * schemas first and then checks the handler's input and output against them (a one-step form
 * would widen `status: 200` to `number`).
 */
export function defineRoute<S extends RouteSchema>(spec: RouteSpec<S>) {
  return {
    handle(handler: Route<S>['handler']): Route {
      return { ...spec, handler } as unknown as Route;
    },
  };
}

export interface MessageContext {
  requestId: string | undefined;
  log: Logger;
}

export interface QueueConsumer<T = unknown> {
  topic: string;
  /** Defaults to the service name: all instances of a service share the work. */
  group?: string;
  concurrency?: number;
  ackWaitMs?: number;
  maxDeliveries?: number;
  /** Resolve to ack; throw to retry with backoff. Must be idempotent: delivery is at least once. */
  handle(message: QueueMessage<T>, ctx: MessageContext): Promise<void>;
}

/** A service as the runtime hosts it: all-in-one, or alone in its own process. */
export interface ServiceModule {
  name: string;
  routes: Route[];
  consumers?: QueueConsumer[];
  migrations?: Migration[];
  /** The name its migrations are recorded under, when it shares tables with another service (default: `name`). */
  migrationScope?: string;
  /** Called after migrations, before the server accepts requests. */
  start?(): Promise<void>;
  /** Called on shutdown after requests and consumers have drained. */
  stop?(): Promise<void>;
  /**
   * The public keys that verify access tokens, for a service that issues them (auth). The
   * process verifies bearer tokens with these instead of fetching `TERN_AUTH_JWKS_URL`.
   */
  accessTokenKeys?(): Promise<JSONWebKeySet>;
}

/** Everything a service may use, built once per process by the host and passed in as one object. */
export interface ServiceDeps {
  config: TernConfig;
  log: Logger;
  metrics: Registry;
  store: Store;
  cache: Cache;
  queue: Queue;
  rateLimit: RateLimitStore;
  outbox: Outbox;
  mailer: Mailer;
  process: ProcessInfo;
  /** The admin credential, for the calls a service makes on another's admin API (over HTTP). */
  adminKey: Secret;
  /**
   * Where Tern's public API is reached from inside: `TERN_API_URL` (the gateway, in the services
   * shape), else this process's own URL once it listens; undefined before that.
   */
  apiUrl(): string | undefined;
}

export interface ProcessInfo {
  instanceId: string;
  /** Names of the services this process hosts. */
  services: string[];
  startedAt: Date;
  version: string;
}

/** How a program names a service it can host, and builds it. */
export interface ServiceDefinition {
  name: string;
  /**
   * Hosted only when named (`--service worker`), never as part of "every service": for a process
   * role that repeats work another service already does all-in-one (the jobs workers).
   */
  onlyWhenNamed?: boolean;
  create(deps: ServiceDeps): ServiceModule;
}
