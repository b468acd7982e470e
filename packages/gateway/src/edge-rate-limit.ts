import { TernError } from '@tern/errors';
import type { RateLimitDecision, RateLimitStore } from '@tern/rate-limit';
import { counter, type Logger, type Registry } from '@tern/telemetry';
import type { EdgeIdentity } from './edge-auth';

/** One rate-limit policy of the gateway. */
export interface GatewayRatePolicy {
  /** Names the policy in keys, metrics and the `RateLimit-Policy` header. */
  name: string;
  /** Applies to paths under this prefix (whole segments); every path when absent. */
  prefix?: string;
  methods?: readonly string[];
  /**
   * What one bucket counts: each user (a signed-in caller's id, an API key's name; anonymous callers by IP), each
   * client IP, or everyone together on the route.
   */
  by: 'user' | 'ip' | 'route';
  /** Requests per window on average, and at most `burst` at once (default: `limit`). */
  limit: number;
  windowMs: number;
  burst?: number;
  /** What one request costs (default 1): an expensive route can count for more. */
  cost?: number;
}

/**
 * Policies when the configuration gives none: sign-in and sign-up per IP (password guessing and
 * account farming), and every caller overall, generously.
 */
export const DEFAULT_RATE_POLICIES: readonly GatewayRatePolicy[] = [
  {
    name: 'auth-ip',
    prefix: '/v1/auth',
    methods: ['POST'],
    by: 'ip',
    limit: 60,
    windowMs: 60_000,
    burst: 30,
  },
  { name: 'caller', by: 'user', limit: 6_000, windowMs: 60_000, burst: 1_000 },
];

export interface EdgeRateLimitOptions {
  /** Where buckets live: Redis, shared by every gateway, in production. */
  store: RateLimitStore;
  /** Used while `store` fails (Redis unreachable), when `onStoreFailure` is `local`. */
  fallback: RateLimitStore;
  /** `local`: limit per gateway process while the shared store is down; `closed`: refuse (503). */
  onStoreFailure: 'local' | 'closed';
  policies: readonly GatewayRatePolicy[];
  log: Logger;
  metrics: Registry;
}

/** What a request is limited by: the decision of its tightest policy, for the headers. */
export interface RateVerdict {
  allowed: boolean;
  policy: GatewayRatePolicy;
  decision: RateLimitDecision;
}

function covers(policy: GatewayRatePolicy, method: string, path: string): boolean {
  if (policy.methods && !policy.methods.includes(method)) return false;
  if (!policy.prefix) return true;
  return path === policy.prefix || path.startsWith(`${policy.prefix}/`);
}

/**
 * Distributed rate limiting at the edge: GCRA buckets in the shared store, one script call per
 * policy that applies (the default table applies at most two to a request, sent together). While
 * the shared store is unreachable each gateway limits on its own (or refuses, by configuration)
 * and goes back to the shared store on the next request that finds it reachable.
 */
export function createEdgeRateLimit(options: EdgeRateLimitOptions) {
  const limited = counter(options.metrics, 'tern_gateway_rate_limited_total', 'Requests refused with 429.', [
    'policy',
  ]);
  const degraded = counter(
    options.metrics,
    'tern_gateway_rate_limit_store_failures_total',
    'Rate-limit decisions taken without the shared store (it failed).',
    ['mode'],
  );
  let failing = false;

  async function consume(key: string, policy: GatewayRatePolicy): Promise<RateLimitDecision> {
    const rate = { limit: policy.limit, windowMs: policy.windowMs, burst: policy.burst ?? policy.limit };
    try {
      const decision = await options.store.consume(key, rate, policy.cost ?? 1);
      if (failing) {
        failing = false;
        options.log.info('rate-limit store reachable again; limits are shared again');
      }
      return decision;
    } catch (error) {
      if (!failing) {
        failing = true;
        options.log.warn(
          { err: error, mode: options.onStoreFailure },
          'rate-limit store failed; limiting without it',
        );
      }
      degraded.inc({ mode: options.onStoreFailure });
      if (options.onStoreFailure === 'closed') throw storeUnavailable();
      return options.fallback.consume(key, rate, policy.cost ?? 1);
    }
  }

  return {
    /** Undefined when no policy applies; otherwise the verdict of the tightest one. */
    async check(
      method: string,
      path: string,
      identity: EdgeIdentity,
      ip: string,
    ): Promise<RateVerdict | undefined> {
      const applying = options.policies.filter((policy) => covers(policy, method, path));
      if (applying.length === 0) return undefined;
      if (applying.length === 1) {
        const policy = applying[0] as GatewayRatePolicy;
        const decision = await consume(`gw:${policy.name}:${subject(policy, identity, ip)}`, policy);
        if (!decision.allowed) limited.inc({ policy: policy.name });
        return { allowed: decision.allowed, policy, decision };
      }
      const decisions = await Promise.all(
        applying.map((policy) => consume(`gw:${policy.name}:${subject(policy, identity, ip)}`, policy)),
      );
      let verdict: RateVerdict | undefined;
      decisions.forEach((decision, index) => {
        const policy = applying[index] as GatewayRatePolicy;
        const tighter =
          !verdict ||
          (!decision.allowed && verdict.allowed) ||
          (decision.allowed === verdict.allowed && decision.remaining < verdict.decision.remaining);
        if (tighter) verdict = { allowed: decision.allowed, policy, decision };
      });
      if (verdict && !verdict.allowed) limited.inc({ policy: verdict.policy.name });
      return verdict;
    },
  };
}

export type EdgeRateLimit = ReturnType<typeof createEdgeRateLimit>;

function subject(policy: GatewayRatePolicy, identity: EdgeIdentity, ip: string): string {
  if (policy.by === 'route') return 'all';
  if (policy.by === 'user' && identity.kind === 'user') return `u:${identity.id}`;
  if (policy.by === 'user' && identity.kind === 'admin') return 'admin';
  if (policy.by === 'user' && identity.kind === 'apiKey') return `k:${identity.name}`;
  return `ip:${ip}`;
}

const policyFields = new WeakMap<GatewayRatePolicy, string>();

/**
 * IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) and, when refused,
 * Retry-After, as a flat name, value list (how the gateway writes an answer's headers).
 */
export function rateLimitHeaderList(verdict: RateVerdict): string[] {
  const { decision, policy } = verdict;
  let field = policyFields.get(policy);
  if (field === undefined) {
    field = `${policy.limit};w=${Math.ceil(policy.windowMs / 1000)};burst=${policy.burst ?? policy.limit};name="${policy.name}"`;
    policyFields.set(policy, field);
  }
  const list = [
    'ratelimit-limit',
    String(decision.limit),
    'ratelimit-remaining',
    String(Math.max(0, decision.remaining)),
    'ratelimit-reset',
    seconds(decision.resetMs),
    'ratelimit-policy',
    field,
  ];
  if (!verdict.allowed) {
    list.push(
      'retry-after',
      Number.isFinite(decision.retryAfterMs) ? seconds(decision.retryAfterMs) : '3600',
    );
  }
  return list;
}

const seconds = (ms: number) => String(Math.max(0, Math.ceil(ms / 1000)));

/** The same fields as an object. */
export function rateLimitHeaders(verdict: RateVerdict): Record<string, string> {
  const list = rateLimitHeaderList(verdict);
  const headers: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) headers[list[i] as string] = list[i + 1] as string;
  return headers;
}

export function rateLimited(verdict: RateVerdict): TernError {
  return new TernError({
    code: 'gateway/rate-limited',
    status: 429,
    title: 'Too Many Requests',
    detail: `Rate limit "${verdict.policy.name}" reached; retry after the Retry-After header's seconds.`,
    retryable: true,
    details: { policy: verdict.policy.name },
    headers: rateLimitHeaders(verdict),
  });
}

function storeUnavailable(): TernError {
  return new TernError({
    code: 'gateway/rate-limit-unavailable',
    status: 503,
    title: 'Service Unavailable',
    detail: 'Rate limits cannot be checked right now, and this gateway refuses rather than admit unchecked.',
    retryable: true,
    headers: { 'retry-after': '1' },
  });
}
