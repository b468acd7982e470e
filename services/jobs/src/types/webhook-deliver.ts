import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent, request } from 'undici';
import type { Secret } from '@tern/config';
import { jobsErrors, PermanentJobError } from '../jobs-errors';
import type { JobType } from '../job-types';

export interface WebhookPayload {
  url: string;
  event: string;
  data: unknown;
}

export interface WebhookOptions {
  /** Signs every delivery; without it the type refuses jobs at accept time. */
  secret: Secret | undefined;
  /** Hosts (names or addresses, lower case) allowed although they are not public addresses. */
  allowedHosts: readonly string[];
  /** One delivery's time limit. Default 10 s. */
  timeoutMs?: number;
}

const ATTEMPTS = 8;
/** Consecutive failures of an endpoint that open its circuit, and how long it stays open at first. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 30_000;
const BREAKER_MAX_OPEN_MS = 600_000;

/** Whether an address is a public unicast one (not loopback, private, link-local, multicast, …). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/** The URL, if webhooks may go there (checked before any name is resolved); 400 otherwise. */
export function checkWebhookUrl(raw: string, allowedHosts: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw jobsErrors.refusedUrl('The webhook URL is not a valid absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw jobsErrors.refusedUrl('A webhook URL must be http: or https:.');
  }
  if (url.username || url.password) {
    throw jobsErrors.refusedUrl(
      'A webhook URL must not carry credentials; the signature authenticates Tern.',
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (allowedHosts.includes(host)) return url;
  if (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal')
  ) {
    throw jobsErrors.refusedUrl('Webhooks may not reach local or internal hosts.');
  }
  if (ipaddr.isValid(host) && !isPublicAddress(host)) {
    throw jobsErrors.refusedUrl('Webhooks may not reach loopback, private or link-local addresses.');
  }
  return url;
}

/**
 * A DNS lookup for net.connect that answers only public addresses (unless the host is allowed), so
 * the address connected to is the one checked: a name that resolves to a public address when
 * checked and a private one when connecting (DNS rebinding) gets nowhere.
 */
function guardedLookup(allowedHosts: readonly string[]) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { all: true, family: options.family }, (error, addresses) => {
      if (error) return callback(error, []);
      const allowed = allowedHosts.includes(hostname.toLowerCase());
      const usable = addresses.filter((entry) => allowed || isPublicAddress(entry.address));
      if (usable.length === 0) {
        return callback(
          Object.assign(new Error(`${hostname} resolves to no public address`), {
            code: 'ETERN_REFUSED_ADDRESS',
          }),
          [],
        );
      }
      if (options.all) return callback(null, usable);
      const first = usable[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };
}

/**
 * `webhook.deliver`: POSTs `{id, event, data}` to a customer's URL, signed: `Tern-Signature:
 * v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with `Tern-Timestamp` (Unix seconds) and
 * `Tern-Webhook-Id` (the job id, the same on every retry, for the receiver to drop duplicates).
 * A 2xx is delivered; a 4xx other than 408 and 429 fails at once (the receiver refuses it); a
 * 5xx, 408, 429, timeout or connection failure is retried with backoff. An endpoint failing
 * `BREAKER_FAILURES` times in a row has its circuit opened: deliveries to it fail fast, without
 * a request, until the open period (doubling up to 10 min) ends and one is let through.
 * Admin credential (services, operators) only.
 */
export function webhookDeliverJob(
  options: WebhookOptions,
): JobType<WebhookPayload> & { close(): Promise<void> } {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options.allowedHosts) as never, timeout: 5_000 },
    keepAliveTimeout: 10_000,
  });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const breakers = new Map<string, { failures: number; openUntil: number; openMs: number }>();

  function recordFailure(origin: string): void {
    const breaker = breakers.get(origin) ?? { failures: 0, openUntil: 0, openMs: BREAKER_OPEN_MS };
    breaker.failures += 1;
    if (breaker.failures >= BREAKER_FAILURES) {
      breaker.openUntil = Date.now() + breaker.openMs;
      breaker.openMs = Math.min(BREAKER_MAX_OPEN_MS, breaker.openMs * 2);
    }
    breakers.set(origin, breaker);
    if (breakers.size > 10_000) breakers.delete(breakers.keys().next().value as string);
  }

  return {
    type: 'webhook.deliver',
    description: 'POSTs a signed event to a URL.',
    access: 'admin',
    maxAttempts: ATTEMPTS,
    timeoutMs: timeoutMs + 1_000,
    payloadSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'event', 'data'],
      properties: {
        url: { type: 'string', minLength: 8, maxLength: 2048 },
        event: { type: 'string', pattern: '^[a-zA-Z0-9_.:-]{1,100}$' },
        data: {},
      },
    },
    check(payload) {
      if (!options.secret) {
        throw jobsErrors.refusedUrl(
          'Webhook delivery is not configured on this server (TERN_WEBHOOK_SECRET).',
        );
      }
      checkWebhookUrl(payload.url, options.allowedHosts);
    },
    async run(payload, ctx) {
      if (!options.secret) throw new PermanentJobError('TERN_WEBHOOK_SECRET is not set');
      let url: URL;
      try {
        url = checkWebhookUrl(payload.url, options.allowedHosts);
      } catch (error) {
        throw new PermanentJobError((error as Error).message);
      }
      const breaker = breakers.get(url.origin);
      if (breaker && breaker.openUntil > Date.now()) {
        throw new Error(`the circuit for ${url.origin} is open after ${breaker.failures} failures in a row`);
      }
      const body = JSON.stringify({ id: ctx.jobId, event: payload.event, data: payload.data });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = createHmac('sha256', options.secret.reveal())
        .update(`${timestamp}.${body}`)
        .digest('hex');
      let status: number;
      try {
        const answer = await request(url, {
          method: 'POST',
          dispatcher: agent,
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Tern-Webhooks/1',
            'tern-webhook-id': ctx.jobId,
            'tern-timestamp': timestamp,
            'tern-signature': `v1=${signature}`,
          },
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          signal: ctx.signal,
        });
        status = answer.statusCode;
        await answer.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ETERN_REFUSED_ADDRESS') throw new PermanentJobError((error as Error).message);
        recordFailure(url.origin);
        // The origin only: a query string may carry the receiver's own token.
        throw new Error(`delivery to ${url.origin} failed: ${code ?? (error as Error).message}`, {
          cause: error,
        });
      }
      if (status >= 200 && status < 300) {
        breakers.delete(url.origin);
        return { status };
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw new PermanentJobError(`${url.origin} refused the delivery with ${status}`);
      }
      recordFailure(url.origin);
      throw new Error(`${url.origin} answered ${status}`);
    },
    close: () => agent.close(),
  };
}
