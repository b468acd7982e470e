import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { quietTelemetry } from '@tern/testing';
import type { Telemetry } from '@tern/telemetry';
import {
  createIdTokenVerifier,
  PROVIDER_DEFAULTS,
  type OAuthProvider,
  type OAuthProviderConfig,
} from './id-token-verifier';

const APPLE_ISSUER = 'https://appleid.apple.com';
const GOOGLE_ISSUER = 'https://accounts.google.com';
const BUNDLE_ID = 'dev.tern.example';
const GOOGLE_CLIENT_ID = '1234-abc.apps.googleusercontent.com';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

// Generated once: RSA key generation is the slow part of this suite.
const [rsa, ec, rotated, stranger] = await Promise.all([
  signingKey('rsa-1'),
  signingKey('ec-1', 'ES256'),
  signingKey('rsa-2'),
  signingKey('rsa-1'), // same kid as `rsa`, different key: a forger guessing a published kid
]);

interface TokenOptions {
  issuer?: string;
  audience?: string;
  subject?: string;
  expiresIn?: string;
  kid?: string;
}

function sign(key: SigningKey, claims: Record<string, unknown>, options: TokenOptions = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
    .setSubject(options.subject ?? '001234.abcdef0123456789.0123')
    .setIssuer(options.issuer ?? APPLE_ISSUER)
    .setAudience(options.audience ?? BUNDLE_ID)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '10m')
    .sign(key.privateKey);
}

function signGoogle(key: SigningKey, claims: Record<string, unknown>, options: TokenOptions = {}) {
  return sign(key, claims, {
    issuer: GOOGLE_ISSUER,
    audience: GOOGLE_CLIENT_ID,
    subject: '110169484474386276334',
    ...options,
  });
}

const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface JwksServer {
  url: string;
  /** How many times the key set was fetched. */
  fetches: number;
  /** The keys served from now on. */
  keys: JWK[];
  close(): Promise<void>;
}

/** A local JWKS endpoint, closed when the test ends. */
async function startJwks(
  t: TestContext,
  keys: JWK[],
  respond?: (response: ServerResponse) => void,
): Promise<JwksServer> {
  const server: Server = createServer((_request, response) => {
    state.fetches++;
    if (respond) return respond(response);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: state.keys }));
  });
  const state: JwksServer = {
    url: '',
    fetches: 0,
    keys,
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => state.close());
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/keys`;
  return state;
}

function appleConfig(url: string): OAuthProviderConfig {
  return {
    provider: 'apple',
    jwksUrl: url,
    issuers: PROVIDER_DEFAULTS.apple.issuers,
    audiences: [BUNDLE_ID],
  };
}

function googleConfig(url: string): OAuthProviderConfig {
  return {
    provider: 'google',
    jwksUrl: url,
    issuers: PROVIDER_DEFAULTS.google.issuers,
    audiences: ['other-client.apps.googleusercontent.com', GOOGLE_CLIENT_ID],
  };
}

async function metric(telemetry: Telemetry, provider: OAuthProvider, result: string): Promise<number> {
  const { values } = await telemetry.metrics.getSingleMetric('tern_oauth_verifications_total')!.get();
  return values.find((v) => v.labels.provider === provider && v.labels.result === result)?.value ?? 0;
}

const invalid = { code: 'auth/oauth-invalid-token', status: 401 };
const nonceMismatch = { code: 'auth/oauth-nonce-mismatch', status: 401 };

test('an Apple token verifies with the hashed nonce or the raw one, and says who signed in', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const telemetry = quietTelemetry();
  const verifier = createIdTokenVerifier(appleConfig(jwks.url), telemetry);
  const nonce = 'c2F5IGhlbGxvIHRvIHRoZSBub25jZQ';
  const claims = { email: '  Jane.Doe@Example.COM ', email_verified: 'true', is_private_email: 'false' };

  const hashed = await verifier.verify(await sign(rsa, { ...claims, nonce: sha256Hex(nonce) }), nonce);
  assert.deepEqual(hashed, {
    provider: 'apple',
    subject: '001234.abcdef0123456789.0123',
    email: 'jane.doe@example.com',
    emailVerified: true,
  });
  const raw = await verifier.verify(await sign(rsa, { ...claims, nonce }), nonce);
  assert.equal(raw.subject, '001234.abcdef0123456789.0123');
  assert.equal(raw.emailVerified, true);
  assert.equal(await metric(telemetry, 'apple', 'verified'), 2);
});

test('a Google token verifies against any configured client id and either issuer spelling', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk, ec.publicJwk]);
  const verifier = createIdTokenVerifier(googleConfig(jwks.url), quietTelemetry());
  const claims = { email: 'someone@gmail.com', email_verified: true, azp: 'android-client' };

  assert.deepEqual(await verifier.verify(await signGoogle(rsa, claims), undefined), {
    provider: 'google',
    subject: '110169484474386276334',
    email: 'someone@gmail.com',
    emailVerified: true,
  });
  const bare = await signGoogle(rsa, { ...claims, nonce: 'n-1' }, { issuer: 'accounts.google.com' });
  assert.equal((await verifier.verify(bare, 'n-1')).subject, '110169484474386276334');
  const es256 = await signGoogle(ec, claims);
  assert.equal((await verifier.verify(es256, undefined)).email, 'someone@gmail.com');
});

test('email_verified may be a boolean or Apple\'s "true"/"false" strings; unverified email is returned but untrusted', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const verifier = createIdTokenVerifier(appleConfig(jwks.url), quietTelemetry());
  const verified = async (claims: Record<string, unknown>) => {
    const identity = await verifier.verify(await sign(rsa, claims), undefined);
    return [identity.email, identity.emailVerified];
  };
  assert.deepEqual(await verified({ email: 'a@b.co', email_verified: 'true' }), ['a@b.co', true]);
  assert.deepEqual(await verified({ email: 'a@b.co', email_verified: true }), ['a@b.co', true]);
  assert.deepEqual(await verified({ email: 'A@B.co', email_verified: 'false' }), ['a@b.co', false]);
  assert.deepEqual(await verified({ email: 'a@b.co', email_verified: false }), ['a@b.co', false]);
  assert.deepEqual(await verified({ email: 'a@b.co', email_verified: 'yes' }), ['a@b.co', false]);
  assert.deepEqual(await verified({ email: 'a@b.co' }), ['a@b.co', false]);
  assert.deepEqual(await verified({ email_verified: 'true' }), [undefined, false]);
  assert.deepEqual(await verified({ email: '   ', email_verified: true }), [undefined, false]);
});

test('wrong issuer, wrong audience, expiry and bad subjects are refused with stable codes', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const telemetry = quietTelemetry();
  const apple = createIdTokenVerifier(appleConfig(jwks.url), telemetry);
  const google = createIdTokenVerifier(googleConfig(jwks.url), telemetry);

  const wrongIssuer = await sign(rsa, {}, { issuer: 'https://evil.example' });
  await assert.rejects(apple.verify(wrongIssuer, undefined), { ...invalid, message: /wrong issuer/ });
  // An Apple token is not a Google token, even signed by a key both trust.
  await assert.rejects(google.verify(await sign(rsa, {}), undefined), {
    ...invalid,
    message: /wrong issuer/,
  });
  const wrongAudience = await sign(rsa, {}, { audience: 'com.someone.else' });
  await assert.rejects(apple.verify(wrongAudience, undefined), { ...invalid, message: /wrong audience/ });
  await assert.rejects(apple.verify(await sign(rsa, {}, { expiresIn: '-2m' }), undefined), {
    code: 'auth/oauth-token-expired',
    status: 401,
  });
  // Within the 30 s clock tolerance.
  assert.ok(await apple.verify(await sign(rsa, {}, { expiresIn: '-10s' }), undefined));
  const noExpiry = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
    .setSubject('s')
    .setIssuer(APPLE_ISSUER)
    .setAudience(BUNDLE_ID)
    .sign(rsa.privateKey);
  await assert.rejects(apple.verify(noExpiry, undefined), { ...invalid, message: /"exp"/ });
  await assert.rejects(apple.verify(await sign(rsa, {}, { subject: '' }), undefined), invalid);
  await assert.rejects(apple.verify(await sign(rsa, {}, { subject: 'x'.repeat(256) }), undefined), invalid);
  assert.ok(await apple.verify(await sign(rsa, {}, { subject: 'x'.repeat(255) }), undefined));
  const numericSub = await new SignJWT({ sub: 42 } as unknown as Record<string, unknown>)
    .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
    .setIssuer(APPLE_ISSUER)
    .setAudience(BUNDLE_ID)
    .setExpirationTime('10m')
    .sign(rsa.privateKey);
  await assert.rejects(apple.verify(numericSub, undefined), invalid);
  assert.equal(await metric(telemetry, 'apple', 'rejected'), 7);
  assert.equal(await metric(telemetry, 'google', 'rejected'), 1);
});

test('nonces must match; a token carrying a nonce nobody asked for is a replay', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const apple = createIdTokenVerifier(appleConfig(jwks.url), quietTelemetry());
  const google = createIdTokenVerifier(googleConfig(jwks.url), quietTelemetry());

  await assert.rejects(apple.verify(await sign(rsa, { nonce: 'other' }), 'mine'), nonceMismatch);
  await assert.rejects(apple.verify(await sign(rsa, { nonce: sha256Hex('other') }), 'mine'), nonceMismatch);
  await assert.rejects(apple.verify(await sign(rsa, {}), 'mine'), nonceMismatch);
  await assert.rejects(apple.verify(await sign(rsa, { nonce: 'mine' }), undefined), nonceMismatch);
  await assert.rejects(apple.verify(await sign(rsa, { nonce: sha256Hex('mine') }), undefined), nonceMismatch);
  await assert.rejects(apple.verify(await sign(rsa, { nonce: 7 }), '7'), nonceMismatch);
  // The hashed form is Apple's iOS SDK quirk; Google tokens carry the nonce as given.
  await assert.rejects(
    google.verify(await signGoogle(rsa, { nonce: sha256Hex('mine') }), 'mine'),
    nonceMismatch,
  );
  await assert.rejects(google.verify(await signGoogle(rsa, { nonce: 'mine' }), undefined), nonceMismatch);
});

test('forged, unsigned, HMAC-signed, oversized and malformed tokens are refused', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const verifier = createIdTokenVerifier(appleConfig(jwks.url), quietTelemetry());
  const token = await sign(rsa, { email: 'victim@example.com', email_verified: 'true' });
  const [header = '', payload = '', signature = ''] = token.split('.');

  const forgedPayload = b64({
    iss: APPLE_ISSUER,
    aud: BUNDLE_ID,
    sub: 'someone-else',
    exp: Math.floor(Date.now() / 1000) + 600,
  });
  await assert.rejects(verifier.verify(`${header}.${forgedPayload}.${signature}`, undefined), {
    ...invalid,
    message: /bad signature/,
  });
  const flipped = signature.slice(0, -4) + (signature.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  await assert.rejects(verifier.verify(`${header}.${payload}.${flipped}`, undefined), invalid);
  // Signed by a key we never published, under a published kid and under an unknown one.
  await assert.rejects(verifier.verify(await sign(stranger, {}), undefined), {
    ...invalid,
    message: /signature/,
  });
  await assert.rejects(verifier.verify(await sign(stranger, {}, { kid: 'unknown' }), undefined), {
    ...invalid,
    message: /unknown key/,
  });

  const none = `${b64({ alg: 'none', kid: rsa.kid })}.${payload}.`;
  await assert.rejects(verifier.verify(none, undefined), invalid);
  const hmac = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
    .setSubject('someone-else')
    .setIssuer(APPLE_ISSUER)
    .setAudience(BUNDLE_ID)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JSON.stringify(rsa.publicJwk)));
  await assert.rejects(verifier.verify(hmac, undefined), { ...invalid, message: /algorithm/ });

  const huge = await sign(rsa, { padding: 'x'.repeat(17 * 1024) });
  const before = jwks.fetches;
  await assert.rejects(verifier.verify(huge, undefined), invalid);
  for (const garbage of ['', 'x', 'a.b.c', '😀.😀.😀', `${header}.${payload}`, `${header}..${signature}`]) {
    await assert.rejects(verifier.verify(garbage, undefined), invalid);
  }
  assert.equal(jwks.fetches, before);
});

test('keys are cached; an unknown kid refetches them, but no more than once per cooldown', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const cached = createIdTokenVerifier(appleConfig(jwks.url), quietTelemetry(), { cooldownMs: 60_000 });
  await cached.verify(await sign(rsa, {}), undefined);
  await cached.verify(await sign(rsa, { email: 'second@example.com' }), undefined);
  assert.equal(jwks.fetches, 1);
  // An attacker spraying made-up kids within the cooldown costs no fetches.
  for (let index = 0; index < 20; index++) {
    await assert.rejects(
      cached.verify(await sign(stranger, {}, { kid: `random-${index}` }), undefined),
      invalid,
    );
  }
  assert.equal(jwks.fetches, 1);
});

test('a rotated-in key is picked up on its first token, and the old key keeps working while published', async (t) => {
  const jwks = await startJwks(t, [rsa.publicJwk]);
  const verifier = createIdTokenVerifier(appleConfig(jwks.url), quietTelemetry(), { cooldownMs: 20 });
  await verifier.verify(await sign(rsa, {}), undefined);
  jwks.keys = [rotated.publicJwk, rsa.publicJwk];
  await new Promise((resolve) => setTimeout(resolve, 30));

  const identity = await verifier.verify(await sign(rotated, {}, { subject: 'after-rotation' }), undefined);
  assert.equal(identity.subject, 'after-rotation');
  assert.equal(jwks.fetches, 2);
  assert.ok(await verifier.verify(await sign(rsa, {}), undefined));
  assert.equal(jwks.fetches, 2);
});

test('a provider key endpoint that is down, failing or slow answers 503 dependency-unavailable', async (t) => {
  const token = await sign(rsa, {});
  const unavailable = (dependency: string) => ({
    code: 'runtime/dependency-unavailable',
    status: 503,
    retryable: true,
    details: { dependency },
  });

  const gone = await startJwks(t, [rsa.publicJwk]);
  await gone.close();
  const telemetry = quietTelemetry();
  const down = createIdTokenVerifier(appleConfig(gone.url), telemetry);
  await assert.rejects(down.verify(token, undefined), unavailable('apple-jwks'));
  assert.equal(await metric(telemetry, 'apple', 'unavailable'), 1);

  const failing = await startJwks(t, [], (response) => {
    response.writeHead(500);
    response.end('oops');
  });
  await assert.rejects(
    createIdTokenVerifier(googleConfig(failing.url), quietTelemetry()).verify(
      await signGoogle(rsa, {}),
      undefined,
    ),
    unavailable('google-jwks'),
  );

  const notJson = await startJwks(t, [], (response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<html>maintenance</html>');
  });
  await assert.rejects(
    createIdTokenVerifier(appleConfig(notJson.url), quietTelemetry()).verify(token, undefined),
    unavailable('apple-jwks'),
  );

  const slow = await startJwks(t, [], () => {
    /* never answers */
  });
  const started = Date.now();
  await assert.rejects(
    createIdTokenVerifier(appleConfig(slow.url), quietTelemetry(), { timeoutMs: 150 }).verify(
      token,
      undefined,
    ),
    unavailable('apple-jwks'),
  );
  assert.ok(Date.now() - started < 1_000);
});
