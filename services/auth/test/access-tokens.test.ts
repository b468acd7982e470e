import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { defineRoute, Type, type ServiceDefinition } from '@tern/runtime';
import { loadConfig } from '@tern/config';
import { startHost, type RunningHost } from '@tern/runtime';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type Client,
  type TestInfrastructure,
} from './auth-test-host';

/** Another service, in its own process, that only verifies tokens: it knows the auth service by its JWKS URL. */
const whoamiService: ServiceDefinition = {
  name: 'whoami',
  create: () => ({
    name: 'whoami',
    routes: [
      defineRoute({
        method: 'GET',
        url: '/v1/whoami',
        summary: 'Echoes the verified caller.',
        access: 'user',
        schema: {
          response: {
            200: Type.Object({
              id: Type.String(),
              roles: Type.Array(Type.String()),
              anonymous: Type.Boolean(),
            }),
          },
        },
      }).handle(async (_input, ctx) => {
        if (ctx.identity.kind !== 'user') throw new Error('user routes only see users');
        const { id, roles, anonymous } = ctx.identity;
        return { status: 200, body: { id, roles, anonymous } };
      }),
      defineRoute({
        method: 'GET',
        url: '/v1/whoami/admin',
        summary: 'Admins only.',
        access: 'admin',
        schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } },
      }).handle(async () => ({ status: 200, body: { ok: true } })),
    ],
  }),
};

describe('access tokens', () => {
  let infrastructure: TestInfrastructure;
  let auth: AuthTestHost;
  let other: RunningHost;
  let api: Client;
  let signingJwk: JWK;
  const kid = 'test-key-1';

  /** Signs a token with the configured key, as the auth service would, with whatever claims a test needs. */
  async function forge(
    claims: Record<string, unknown>,
    options: { expiresAt?: number; key?: JWK; alg?: string } = {},
  ) {
    const key = await importJWK(options.key ?? signingJwk, 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ roles: [], sid: 'forged-session', ...claims })
      .setProtectedHeader({ alg: options.alg ?? 'EdDSA', kid })
      .setSubject('user-forged')
      .setIssuer('tern')
      .setAudience('tern-api')
      .setIssuedAt(now - 3600)
      .setExpirationTime(options.expiresAt ?? now + 600)
      .sign(key);
  }

  before(async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    signingJwk = { ...(await exportJWK(privateKey)), kid };
    infrastructure = await createTestInfrastructure('embedded');
    auth = await startAuthHost(infrastructure, { TERN_AUTH_SIGNING_KEYS: JSON.stringify([signingJwk]) });
    api = client(auth.url);
    const config = loadConfig({
      env: {
        ...infrastructure.env,
        TERN_DATA_DIR: `${infrastructure.env.TERN_DATA_DIR}/other`,
        TERN_LOG_LEVEL: 'silent',
        TERN_AUTH_JWKS_URL: `${auth.url}/.well-known/jwks.json`,
      },
    });
    other = await startHost({ config, catalog: [whoamiService] });
  });
  after(async () => {
    await other?.stop();
    await auth?.close();
    await infrastructure?.cleanup();
  });

  it('are signed with the configured key and verified by another process through the JWKS URL', async () => {
    const account = await api.signup();
    const jwks = await api.get('/.well-known/jwks.json');
    assert.deepEqual(
      jwks.body.keys.map((key: { kid: string }) => key.kid),
      [kid],
    );
    const whoami = await client(other.url).get('/v1/whoami', account.accessToken);
    assert.equal(whoami.status, 200);
    assert.deepEqual(whoami.body, { id: account.user.id, roles: [], anonymous: false });
    const anonymous = await api.post('/v1/auth/anonymous');
    const anonymousWhoami = await client(other.url).get('/v1/whoami', anonymous.body.accessToken as string);
    assert.equal(anonymous.status, 201, JSON.stringify(anonymous.body));
    assert.equal(anonymousWhoami.status, 200, JSON.stringify(anonymousWhoami.body));
    assert.equal(anonymousWhoami.body.anonymous, true);
    const wrongType = await api.post('/v1/auth/anonymous', { device: 5 });
    assert.equal(wrongType.status, 400, 'an optional body is still validated when present');
    assert.equal(wrongType.body.errors[0].path, '/device');
  });

  it('are refused when expired, with a code that tells the app to refresh', async () => {
    const expired = await forge({}, { expiresAt: Math.floor(Date.now() / 1000) - 60 });
    for (const url of [`${auth.url}/v1/auth/me`, `${other.url}/v1/whoami`]) {
      const response = await fetch(url, { headers: { authorization: `Bearer ${expired}` } });
      assert.equal(response.status, 401);
      const body = (await response.json()) as { code: string };
      assert.equal(body.code, 'auth/token-expired');
      assert.match(response.headers.get('www-authenticate') ?? '', /invalid_token/);
    }
  });

  it('are refused when tampered with, signed by another key, or unsigned', async () => {
    const account = await api.signup();
    const [header, payload, signature] = account.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const elevated = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
    const { privateKey: strangerKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${payload}.`;
    const candidates = {
      'payload changed (roles: admin)': `${header}.${elevated}.${signature}`,
      // A character in the middle: the last one carries padding bits that decoding may ignore.
      'signature flipped': `${header}.${payload}.${signature.slice(0, 20)}${signature[20] === 'A' ? 'B' : 'A'}${signature.slice(21)}`,
      'signed by a stranger under our kid': await forge({}, { key: await exportJWK(strangerKey) }),
      'alg none': unsigned,
      garbage: 'not.a.jwt',
    };
    for (const [what, token] of Object.entries(candidates)) {
      for (const url of [`${auth.url}/v1/auth/me`, `${other.url}/v1/whoami`]) {
        const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(response.status, 401, `${what} at ${url}`);
        assert.equal(((await response.json()) as { code: string }).code, 'auth/invalid-token', what);
      }
    }
    const admin = await client(other.url).get('/v1/whoami/admin', `${header}.${elevated}.${signature}`);
    assert.equal(admin.status, 401);
  });

  it('grant admin routes only to the admin role or the admin key, and user routes to no one anonymous', async () => {
    const account = await api.signup();
    const remote = client(other.url);
    assert.equal((await remote.get('/v1/whoami')).status, 401);
    assert.equal((await remote.get('/v1/whoami/admin', account.accessToken)).status, 403);
    assert.equal((await remote.get('/v1/whoami/admin', auth.adminKey)).status, 200);
    const admin = await forge({ roles: ['admin'] });
    assert.equal((await remote.get('/v1/whoami/admin', admin)).status, 200);
  });
});
