import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import { quietTelemetry } from '@tern/testing';
import { createAccessTokenVerifier } from './access-token-verifier';

const ISSUER = 'https://tern.test/auth';
const AUDIENCE = 'tern';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}

function sign(key: SigningKey, claims: Record<string, unknown> = {}, expiresIn = '15m') {
  return new SignJWT({ roles: ['member'], sid: 'session-1', ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
    .setSubject('user-1')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(key.privateKey);
}

/** A local JWKS endpoint whose key set a test can rotate, counting fetches. */
describe('the access token verifier', () => {
  let server: Server;
  let url: string;
  let published: JWK[] = [];
  let fetches = 0;
  let first: SigningKey;

  before(async () => {
    first = await signingKey('k1');
    published = [first.publicJwk];
    server = createServer((_request, response) => {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const verifier = (cooldownMs = 0) =>
    createAccessTokenVerifier({
      keys: { kind: 'remote', url, cooldownMs },
      issuer: ISSUER,
      audience: AUDIENCE,
      telemetry: quietTelemetry(),
    });

  it('verifies a token and returns its subject, session, roles and custom claims', async () => {
    const claims = await verifier().verify(await sign(first, { plan: 'pro' }));
    assert.equal(claims.sub, 'user-1');
    assert.equal(claims.sid, 'session-1');
    assert.deepEqual(claims.roles, ['member']);
    assert.deepEqual(claims.claims, { plan: 'pro' });
  });

  it('serves a repeated token from its cache without fetching keys again', async () => {
    const v = verifier(60_000);
    const token = await sign(first);
    await v.verify(token);
    const before = fetches;
    for (let index = 0; index < 50; index++) await v.verify(token);
    assert.equal(fetches, before);
  });

  it('refuses expired, tampered, wrongly addressed and unsigned tokens with 401 codes', async () => {
    const v = verifier();
    await assert.rejects(v.verify(await sign(first, {}, '-1m')), { code: 'auth/token-expired', status: 401 });
    const token = await sign(first);
    const [header, payload, signature] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ sub: 'admin', sid: 's', roles: ['admin'], exp: 9e9, iss: ISSUER, aud: AUDIENCE }),
    ).toString('base64url');
    await assert.rejects(v.verify(`${header}.${forged}.${signature}`), { code: 'auth/invalid-token' });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    await assert.rejects(v.verify(none), { code: 'auth/invalid-token' });
    const otherIssuer = await new SignJWT({ sid: 's' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .setSubject('u')
      .setIssuer('https://evil.test')
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(first.privateKey);
    await assert.rejects(v.verify(otherIssuer), { code: 'auth/invalid-token' });
    const noSession = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .setSubject('u')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(first.privateKey);
    await assert.rejects(v.verify(noSession), { code: 'auth/invalid-token' });
    for (const garbage of ['', 'x', 'a.b.c', '😀.😀.😀', 'e'.repeat(10_000), `${header}.${payload}`]) {
      await assert.rejects(v.verify(garbage), { code: 'auth/invalid-token' });
    }
  });

  it('picks up a rotated-in key on an unknown kid, and keeps verifying the old key while published', async () => {
    const v = verifier();
    const oldToken = await sign(first);
    await v.verify(oldToken);
    const second = await signingKey('k2');
    published = [second.publicJwk, first.publicJwk];
    const fresh = await v.verify(await sign(second, { sid: 'session-2' }));
    assert.equal(fresh.sid, 'session-2');
    assert.equal((await v.verify(await sign(first, { sid: 'session-3' }))).sid, 'session-3');
    published = [second.publicJwk];
  });

  it('answers 503 when the key endpoint cannot be reached', async () => {
    const v = createAccessTokenVerifier({
      keys: { kind: 'remote', url: 'http://127.0.0.1:1/.well-known/jwks.json', timeoutMs: 500 },
      issuer: ISSUER,
      audience: AUDIENCE,
      telemetry: quietTelemetry(),
    });
    await assert.rejects(v.verify(await sign(first)), {
      code: 'runtime/dependency-unavailable',
      status: 503,
    });
  });

  it('verifies against keys in hand (all-in-one)', async () => {
    const v = createAccessTokenVerifier({
      keys: { kind: 'local', jwks: { keys: [first.publicJwk] } },
      issuer: ISSUER,
      audience: AUDIENCE,
      telemetry: quietTelemetry(),
    });
    assert.equal((await v.verify(await sign(first))).sub, 'user-1');
  });

  it('verifies against keys from a function, reloading them on an unknown kid at most once per cooldown', async () => {
    const second = await signingKey('k2');
    let keys = [first.publicJwk];
    let loads = 0;
    const v = createAccessTokenVerifier({
      keys: {
        kind: 'provider',
        cooldownMs: 200,
        load: async () => {
          loads++;
          return { keys };
        },
      },
      issuer: ISSUER,
      audience: AUDIENCE,
      telemetry: quietTelemetry(),
    });
    const claims = await v.verify(await sign(first, { anon: true }));
    assert.equal(claims.anonymous, true);
    assert.equal(loads, 1);
    keys = [first.publicJwk, second.publicJwk];
    await assert.rejects(v.verify(await sign(second)), { code: 'auth/invalid-token' }, 'within the cooldown');
    assert.equal(loads, 1, 'an unknown kid within the cooldown does not reload');
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal((await v.verify(await sign(second, { plan: 'pro' }))).claims.plan, 'pro');
    assert.equal(loads, 2);
    assert.equal((await v.verify(await sign(first))).anonymous, false);
  });
});
