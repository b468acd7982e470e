import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createMemoryRateLimitStore, createRedisRateLimitStore, type RateLimitStore } from '@tern/rate-limit';
import { deleteRedisKeys, quietTelemetry, startTcpProxy, TEST_REDIS_URL, uniqueName } from '@tern/testing';
import { createAccessTokenVerifier } from '@tern/tokens';
import {
  createEdgeAuth,
  createEdgeRateLimit,
  createGateway,
  type Gateway,
  type GatewayOptions,
  type GatewayRatePolicy,
} from '@tern/gateway';

const ISSUER = 'tern';
const AUDIENCE = 'tern-api';
const ADMIN_KEY = 'edge-test-admin-key-0123456789abcdefghij';
const BILLING_KEY = 'billing-service-api-key-0123456789abcdef';
const HOOKS_KEY = 'hooks-service-api-key-0123456789abcdefgh';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Key {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}

function token(key: Key, subject = 'user-1', expiresIn: string | number = '15m') {
  return new SignJWT({ roles: [], sid: 'session-1' })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.jwk.kid as string })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(key.privateKey);
}

/** An upstream in this process that counts what reaches it and echoes the Authorization header. */
async function startUpstream(): Promise<{ server: Server; origin: string; reached: () => number }> {
  let reached = 0;
  const server = createServer((request, response) => {
    if (request.url !== '/readyz') reached++;
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ authorization: request.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, reached: () => reached };
}

describe('gateway edge: authentication and rate limits', () => {
  let key: Key;
  let otherKey: Key;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const gateways: Gateway[] = [];
  const stores: RateLimitStore[] = [];

  before(async () => {
    [key, otherKey] = await Promise.all([signingKey('k1'), signingKey('k2')]);
    upstream = await startUpstream();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.stop(1_000)));
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  after(async () => {
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  async function startGateway(
    policies: GatewayRatePolicy[] | undefined,
    store?: RateLimitStore,
    extra: Partial<GatewayOptions> = {},
  ): Promise<string> {
    const telemetry = quietTelemetry('edge');
    const verifier = createAccessTokenVerifier({
      keys: { kind: 'local', jwks: { keys: [key.jwk] } },
      issuer: ISSUER,
      audience: AUDIENCE,
      telemetry,
    });
    const fallback = createMemoryRateLimitStore({ maxKeys: 10_000 }, telemetry);
    stores.push(fallback);
    const gateway = createGateway({
      log: telemetry.log,
      metrics: telemetry.metrics,
      tracer: telemetry.tracer,
      routes: [
        { prefix: '/v1/data', service: 'data' },
        { prefix: '/v1/auth/login', service: 'data', access: 'public' },
      ],
      upstreams: { data: [upstream.origin] },
      upstreamTimeoutMs: 2_000,
      retries: 0,
      bodyLimitBytes: 1024 * 1024,
      healthCheck: { intervalMs: 60_000 },
      auth: createEdgeAuth({
        verifier,
        adminKey: ADMIN_KEY,
        apiKeys: [
          { name: 'billing', sha256: sha256(BILLING_KEY), prefixes: ['/v1/data/invoices'], as: 'admin' },
          { name: 'hooks', sha256: sha256(HOOKS_KEY), prefixes: ['/v1/auth/login'], as: 'anonymous' },
        ],
      }),
      ...(policies
        ? {
            rateLimit: createEdgeRateLimit({
              store: store ?? fallback,
              fallback,
              onStoreFailure: 'local',
              policies,
              log: telemetry.log,
              metrics: telemetry.metrics,
            }),
          }
        : {}),
      ...extra,
    });
    gateways.push(gateway);
    return gateway.listen(0, '127.0.0.1');
  }

  it('refuses missing, malformed, forged, expired and alg:none tokens on private routes before any instance sees them', async () => {
    const url = await startGateway(undefined);
    const reachedBefore = upstream.reached();
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(
      JSON.stringify({ sub: 'admin', sid: 's', iss: ISSUER, aud: AUDIENCE, exp: 4_000_000_000 }),
    ).toString('base64url');
    const cases: [string | undefined, string][] = [
      [undefined, 'runtime/unauthorized'],
      ['Basic dXNlcjpwYXNz', 'runtime/unauthorized'],
      ['Bearer not-the-admin-key-but-long-enough-to-try', 'runtime/unauthorized'],
      [`Bearer ${header}.${claims}.`, 'auth/invalid-token'],
      [`Bearer ${await token(otherKey)}`, 'auth/invalid-token'],
      [`Bearer ${await token(key, 'user-1', Math.floor(Date.now() / 1000) - 60)}`, 'auth/token-expired'],
      [`Bearer eyJ${'A'.repeat(100)}.x.y`, 'auth/invalid-token'],
    ];
    for (const [authorization, code] of cases) {
      const response = await fetch(`${url}/v1/data/notes`, {
        headers: authorization ? { authorization } : {},
      });
      assert.equal(response.status, 401, String(authorization));
      assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
      assert.equal(((await response.json()) as { code: string }).code, code, String(authorization));
    }
    assert.equal(upstream.reached(), reachedBefore, 'no refused request reached the instance');
  });

  it('admits valid tokens and the admin key, forwarding the credential unchanged, and anyone on public routes', async () => {
    const url = await startGateway(undefined);
    const user = `Bearer ${await token(key)}`;
    const answer = await fetch(`${url}/v1/data/notes`, { headers: { authorization: user } });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { authorization: user });
    const admin = await fetch(`${url}/v1/data/notes`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(admin.status, 200);
    const open = await fetch(`${url}/v1/auth/login`, { method: 'POST', body: '{}' });
    assert.equal(open.status, 200);
    const openWithBadToken = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
    });
    assert.equal(openWithBadToken.status, 200, 'a public route ignores credentials it cannot verify');
  });

  it('admits API keys on their prefixes only, sending upstream the credential the key grants and never the key', async () => {
    const url = await startGateway([{ name: 'per-caller', by: 'user', limit: 3, windowMs: 60_000 }]);
    const billing = await fetch(`${url}/v1/data/invoices/42`, {
      headers: { 'x-api-key': BILLING_KEY, authorization: 'Bearer ignored-when-a-key-is-sent-0123456789' },
    });
    assert.equal(billing.status, 200);
    assert.deepEqual(
      await billing.json(),
      { authorization: `Bearer ${ADMIN_KEY}` },
      'acts as admin upstream',
    );
    const hooks = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      body: '{}',
      headers: { 'x-api-key': HOOKS_KEY },
    });
    assert.deepEqual(await hooks.json(), { authorization: null }, 'no credential upstream');
    const outside = await fetch(`${url}/v1/data/notes`, { headers: { 'x-api-key': BILLING_KEY } });
    assert.equal(outside.status, 403);
    assert.equal(((await outside.json()) as { code: string }).code, 'runtime/forbidden');
    for (const key of ['not-a-key', 'x'.repeat(5000), BILLING_KEY.slice(1)]) {
      const refused = await fetch(`${url}/v1/data/invoices/1`, { headers: { 'x-api-key': key } });
      assert.equal(refused.status, 401, key.slice(0, 20));
    }
    // Rate limits count the key as one caller.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${url}/v1/data/invoices/1`, { headers: { 'x-api-key': BILLING_KEY } });
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [200, 200, 429], 'its fourth request of the minute is refused');
  });

  it('answers 429 with RateLimit headers and Retry-After past a per-user limit, and counts users apart', async () => {
    const url = await startGateway([{ name: 'per-user', by: 'user', limit: 5, windowMs: 60_000 }]);
    const alice = `Bearer ${await token(key, 'alice')}`;
    const bob = `Bearer ${await token(key, 'bob')}`;
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 7; i++) {
      last = await fetch(`${url}/v1/data/notes`, { headers: { authorization: alice } });
      statuses.push(last.status);
      if (i === 0) {
        assert.equal(last.headers.get('ratelimit-limit'), '5');
        assert.equal(last.headers.get('ratelimit-remaining'), '4');
        assert.match(last.headers.get('ratelimit-policy') ?? '', /^5;w=60;burst=5;name="per-user"$/);
      }
      await last.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const refused = await fetch(`${url}/v1/data/notes`, { headers: { authorization: alice } });
    assert.equal(refused.status, 429);
    const problem = (await refused.json()) as { code: string; policy: string };
    assert.equal(problem.code, 'gateway/rate-limited');
    assert.equal(problem.policy, 'per-user');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.equal((await fetch(`${url}/v1/data/notes`, { headers: { authorization: bob } })).status, 200);
  });

  it('holds a limit across two gateways sharing Redis within 1 %', async () => {
    const prefix = `${uniqueName('gwrl')}:`;
    const telemetry = quietTelemetry('edge-redis');
    const policy: GatewayRatePolicy = { name: 'shared', by: 'route', limit: 300, windowMs: 600_000 };
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const store = await createRedisRateLimitStore({ url: TEST_REDIS_URL, keyPrefix: prefix }, telemetry);
      stores.push(store);
      urls.push(await startGateway([policy], store));
    }
    const user = `Bearer ${await token(key)}`;
    let admitted = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: 20 }, async (_, client) => {
        for (let i = 0; i < 30; i++) {
          const response = await fetch(`${urls[(client + i) % 2]}/v1/data/notes`, {
            headers: { authorization: user },
          });
          await response.arrayBuffer();
          if (response.status === 200) admitted++;
          else if (response.status === 429) refused++;
        }
      }),
    );
    assert.equal(admitted + refused, 600);
    assert.ok(Math.abs(admitted - 300) <= 3, `admitted ${admitted} of a limit of 300`);
    await deleteRedisKeys(prefix);
  });

  it('limits locally without a single 5xx while Redis is unreachable, and shares limits again once it is back', async () => {
    const redis = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const prefix = `${uniqueName('gwrl')}:`;
    const telemetry = quietTelemetry('edge-outage');
    const store = await createRedisRateLimitStore(
      { url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix },
      telemetry,
    );
    stores.push(store);
    const url = await startGateway([{ name: 'outage', by: 'user', limit: 50, windowMs: 600_000 }], store);
    const user = `Bearer ${await token(key, 'carol')}`;
    const statuses: number[] = [];
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const response = await fetch(`${url}/v1/data/notes`, { headers: { authorization: user } });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
    };
    await send(20);
    await proxy.stop();
    await send(60);
    await proxy.start();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await send(20);
    assert.ok(
      statuses.every((status) => status === 200 || status === 429),
      `only 200 and 429: ${statuses.join(',')}`,
    );
    // The local limiter took over with a fresh bucket of 50: 50 admitted during the outage, then 429.
    assert.equal(statuses.slice(20, 80).filter((status) => status === 200).length, 50);
    // Back on Redis, whose bucket had 30 left after the first 20.
    assert.deepEqual(
      statuses.slice(80),
      Array.from({ length: 20 }, () => 200),
    );
    await proxy.close();
    await deleteRedisKeys(prefix);
  });
});
