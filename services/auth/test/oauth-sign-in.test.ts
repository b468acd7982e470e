import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { uniqueName, waitFor } from '@tern/testing';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type Client,
  type Shape,
  type TestInfrastructure,
} from './auth-test-host';

// Sign in with Apple and Google end to end: a local JWKS server publishes an RS256 key made here,
// the host is pointed at it, and the tests sign ID tokens the way the providers would.

const APPLE_CLIENT_ID = 'com.example.app';
const APPLE_ISSUER = 'https://appleid.apple.com';
const GOOGLE_CLIENT_ID = '123-abc.apps.googleusercontent.com';
const GOOGLE_ISSUER = 'https://accounts.google.com';
const PASSWORD = 'correct horse battery';

type Provider = 'apple' | 'google';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

// Made once: RSA key generation is the slow part. `impostor` reuses the published kid with another key.
const [providerKey, impostorKey] = await Promise.all([
  signingKey('provider-rsa-1'),
  signingKey('provider-rsa-1'),
]);

interface JwksServer {
  url: string;
  close(): Promise<void>;
}

/** A provider's key endpoint on 127.0.0.1, serving the public half of `providerKey`. */
async function startJwksServer(): Promise<JwksServer> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [providerKey.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/keys`,
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function providerEnv(jwksUrl: string): Record<string, string> {
  return {
    TERN_AUTH_APPLE_CLIENT_IDS: APPLE_CLIENT_ID,
    TERN_AUTH_APPLE_JWKS_URL: jwksUrl,
    TERN_AUTH_GOOGLE_CLIENT_IDS: GOOGLE_CLIENT_ID,
    TERN_AUTH_GOOGLE_JWKS_URL: jwksUrl,
  };
}

interface IdTokenOptions {
  sub: string;
  email?: string;
  emailVerified?: boolean | 'true' | 'false';
  nonce?: string;
  issuer?: string;
  audience?: string;
  /** Seconds since the epoch; 10 minutes from now unless told. */
  expiresAt?: number;
  key?: SigningKey;
}

/** An ID token as the provider would sign it (Apple sends email_verified as a string). */
function idToken(provider: Provider, options: IdTokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const key = options.key ?? providerKey;
  const claims: Record<string, unknown> = {};
  if (options.email !== undefined) claims.email = options.email;
  if (options.emailVerified !== undefined) claims.email_verified = options.emailVerified;
  if (options.nonce !== undefined) claims.nonce = options.nonce;
  const expiresAt = options.expiresAt ?? now + 600;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setSubject(options.sub)
    .setIssuer(options.issuer ?? (provider === 'apple' ? APPLE_ISSUER : GOOGLE_ISSUER))
    .setAudience(options.audience ?? (provider === 'apple' ? APPLE_CLIENT_ID : GOOGLE_CLIENT_ID))
    .setIssuedAt(Math.min(now, expiresAt - 60))
    .setExpirationTime(expiresAt)
    .sign(key.privateKey);
}

const appleSub = () => `001234.${uniqueName('apple').replace(/[^a-z0-9]/g, '')}.0123`;
const googleSub = () => String(100_000_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e15)));

interface Environment {
  infrastructure: TestInfrastructure;
  host: AuthTestHost;
  api: Client;
  jwks: JwksServer;
}

async function startEnvironment(shape: Shape): Promise<Environment> {
  const jwks = await startJwksServer();
  const infrastructure = await createTestInfrastructure(shape, providerEnv(jwks.url));
  const host = await startAuthHost(infrastructure);
  return { infrastructure, host, api: client(host.url), jwks };
}

async function stopEnvironment(environment: Environment | undefined): Promise<void> {
  if (!environment) return;
  await environment.host.close();
  await environment.infrastructure.cleanup();
  await environment.jwks.close();
}

function assertProblem(answer: Awaited<ReturnType<Client['call']>>, status: number, code: string) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
}

describe('Sign in with Apple and Google, embedded', () => {
  let env: Environment;
  let api: Client;

  before(async () => {
    env = await startEnvironment('embedded');
    api = env.api;
  });
  after(() => stopEnvironment(env));

  const signIn = (provider: Provider, body: Record<string, unknown>, token?: string) =>
    api.post(`/v1/auth/oauth/${provider}`, body, token);

  async function adminView(userId: string) {
    const view = await api.call('GET', `/v1/admin/users/${userId}`, { token: env.host.adminKey });
    assert.equal(view.status, 200, JSON.stringify(view.body));
    return view.body;
  }

  /** Verifies the signed-in user's address the way a person would: request, read the mail, confirm. */
  async function verifyEmail(accessToken: string, email: string): Promise<void> {
    const requested = await api.post('/v1/auth/verify-email/request', undefined, accessToken);
    assert.equal(requested.status, 202, JSON.stringify(requested.body));
    // The mail is sent by a queue consumer after the request commits.
    const token = await waitFor(
      async () => {
        const mail = await api.call('GET', `/v1/admin/mail?to=${encodeURIComponent(email)}`, {
          token: env.host.adminKey,
        });
        const text = (mail.body.items as { subject: string; text: string }[] | undefined)?.find((item) =>
          /confirm your email/i.test(item.subject),
        )?.text;
        return text ? /^ {2}([A-Za-z0-9_-]{16,256})$/m.exec(text)?.[1] : undefined;
      },
      { what: `the verification mail to ${email}` },
    );
    const confirmed = await api.post('/v1/auth/verify-email/confirm', { token });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  }

  it('a first Apple sign-in creates a user whose tokens work on GET /v1/auth/me', async () => {
    const email = `${uniqueName('apple')}@privaterelay.appleid.com`;
    const rawNonce = uniqueName('nonce');
    // Apple signs the SHA-256 of the nonce; the app sends the raw one.
    const hashedNonce = createHash('sha256').update(rawNonce).digest('hex');
    const token = await idToken('apple', {
      sub: appleSub(),
      email,
      emailVerified: 'true',
      nonce: hashedNonce,
    });
    const first = await signIn('apple', { idToken: token, nonce: rawNonce, device: 'iPhone' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.tokenType, 'Bearer');
    assert.equal(first.body.user.anonymous, false);
    assert.equal(first.body.user.email, email);
    assert.equal(first.body.user.emailVerified, true);
    const me = await api.get('/v1/auth/me', first.body.accessToken as string);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.id, first.body.user.id);
    const refreshed = await api.post('/v1/auth/refresh', { refreshToken: first.body.refreshToken });
    assert.equal(refreshed.status, 200, 'the refresh token works too');
    const view = await adminView(first.body.user.id as string);
    assert.equal(view.hasPassword, false);
    assert.deepEqual(view.identities, [{ provider: 'apple', email }]);
  });

  it('a second Apple sign-in with the same sub returns the same user, not a new one', async () => {
    const sub = appleSub();
    const first = await signIn('apple', { idToken: await idToken('apple', { sub }) });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    // Apple only sends the email on the first sign-in; the sub alone must find the account.
    const second = await signIn('apple', { idToken: await idToken('apple', { sub }) });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.user.id, first.body.user.id);
    assert.notEqual(second.body.refreshToken, first.body.refreshToken, 'each sign-in is its own session');
    assert.equal((await adminView(first.body.user.id as string)).identities.length, 1);
  });

  it('Google sign-in with the verified email of a password account links to that account, which keeps its password', async () => {
    const owner = await api.signup(`${uniqueName('owner')}@example.com`, PASSWORD);
    await verifyEmail(owner.accessToken, owner.email);
    assert.equal((await api.get('/v1/auth/me', owner.accessToken)).body.emailVerified, true);

    // Google's spelling of the address differs in case only.
    const token = await idToken('google', {
      sub: googleSub(),
      email: owner.email.toUpperCase(),
      emailVerified: true,
    });
    const google = await signIn('google', { idToken: token });
    assert.equal(google.status, 200, JSON.stringify(google.body));
    assert.equal(google.body.user.id, owner.user.id);
    assert.equal(google.body.user.email, owner.email);

    const password = await api.post('/v1/auth/login', { email: owner.email, password: PASSWORD });
    assert.equal(password.status, 200, 'the verified owner keeps their password');
    assert.equal((await api.get('/v1/auth/me', owner.accessToken)).status, 200, 'and their sessions');
    const view = await adminView(owner.user.id);
    assert.equal(view.hasPassword, true);
    assert.deepEqual(view.identities, [{ provider: 'google', email: owner.email }]);
  });

  it("Google sign-in with the email of an UNVERIFIED password account takes it over: same id, the squatter's password and sessions end", async () => {
    const squatter = await api.signup(`${uniqueName('victim')}@example.com`, 'the squatters password');
    const token = await idToken('google', { sub: googleSub(), email: squatter.email, emailVerified: true });
    const owner = await signIn('google', { idToken: token });
    assert.equal(owner.status, 200, JSON.stringify(owner.body));
    assert.equal(owner.body.user.id, squatter.user.id, 'linked to the existing account');
    assert.equal(owner.body.user.emailVerified, true);

    assertProblem(
      await api.post('/v1/auth/login', { email: squatter.email, password: squatter.password }),
      401,
      'auth/invalid-credentials',
    );
    assertProblem(
      await api.post('/v1/auth/refresh', { refreshToken: squatter.refreshToken }),
      401,
      'auth/invalid-refresh-token',
    );
    assertProblem(await api.get('/v1/auth/me', squatter.accessToken), 401, 'auth/session-ended');
    const me = await api.get('/v1/auth/me', owner.body.accessToken as string);
    assert.equal(me.status, 200, "the provider's owner is signed in");
    const view = await adminView(squatter.user.id);
    assert.equal(view.hasPassword, false);
    assert.deepEqual(view.identities, [{ provider: 'google', email: squatter.email }]);
  });

  it('Google sign-in whose email Google has NOT verified never links to the account with that email', async () => {
    const holder = await api.signup(`${uniqueName('holder')}@example.com`, PASSWORD);
    const token = await idToken('google', { sub: googleSub(), email: holder.email, emailVerified: false });
    const stranger = await signIn('google', { idToken: token });
    assert.equal(stranger.status, 200, JSON.stringify(stranger.body));
    assert.notEqual(stranger.body.user.id, holder.user.id);
    assert.equal(stranger.body.user.email, null, 'an unverified address is not given to the new account');
    assert.equal((await api.post('/v1/auth/login', { email: holder.email, password: PASSWORD })).status, 200);
    assert.deepEqual((await adminView(holder.user.id)).identities, []);
  });

  it('an anonymous user signing in with Apple is upgraded in place: same id, no longer anonymous', async () => {
    const anonymous = await api.post('/v1/auth/anonymous', { device: 'iPad' });
    assert.equal(anonymous.status, 201);
    const email = `${uniqueName('upgraded')}@privaterelay.appleid.com`;
    const token = await idToken('apple', { sub: appleSub(), email, emailVerified: 'true' });
    const upgraded = await signIn('apple', { idToken: token }, anonymous.body.accessToken as string);
    assert.equal(upgraded.status, 200, JSON.stringify(upgraded.body));
    assert.equal(upgraded.body.user.id, anonymous.body.user.id);
    assert.equal(upgraded.body.user.anonymous, false);
    assert.equal(upgraded.body.user.email, email);
    const me = await api.get('/v1/auth/me', upgraded.body.accessToken as string);
    assert.equal(me.status, 200);
    assert.equal(me.body.id, anonymous.body.user.id);
    assert.equal(me.body.anonymous, false);
    assert.equal(me.body.emailVerified, true);
    assert.deepEqual((await adminView(me.body.id as string)).identities, [{ provider: 'apple', email }]);
    const stale = await api.post('/v1/auth/refresh', { refreshToken: anonymous.body.refreshToken });
    assert.equal(stale.status, 401, 'the anonymous session ended with the upgrade, as with /link');
  });

  it('matches a provider address to an account in its normalised spelling', async () => {
    const account = await api.signup(`fullwidth-${Date.now()}@example.com`);
    const shouted = account.email.toUpperCase().replace('@', '＠');
    const token = await idToken('google', { sub: googleSub(), email: shouted, emailVerified: true });
    const signedIn = await signIn('google', { idToken: token });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    assert.equal(signedIn.body.user.id, account.user.id);
  });

  it('a token for another app (wrong audience) is refused: 401 auth/oauth-invalid-token', async () => {
    const token = await idToken('apple', { sub: appleSub(), audience: 'com.other.app' });
    assertProblem(await signIn('apple', { idToken: token }), 401, 'auth/oauth-invalid-token');
  });

  it('a token from another issuer is refused: 401 auth/oauth-invalid-token', async () => {
    const token = await idToken('google', { sub: googleSub(), issuer: 'https://accounts.evil.example' });
    assertProblem(await signIn('google', { idToken: token }), 401, 'auth/oauth-invalid-token');
  });

  it('an Apple token sent to the Google endpoint is refused: 401 auth/oauth-invalid-token', async () => {
    const token = await idToken('apple', { sub: appleSub() });
    assertProblem(await signIn('google', { idToken: token }), 401, 'auth/oauth-invalid-token');
  });

  it('a token signed by a key the provider does not publish is refused: 401 auth/oauth-invalid-token', async () => {
    const token = await idToken('apple', { sub: appleSub(), key: impostorKey });
    assertProblem(await signIn('apple', { idToken: token }), 401, 'auth/oauth-invalid-token');
  });

  it('an expired token is refused: 401 auth/oauth-token-expired', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) - 3600;
    const token = await idToken('google', { sub: googleSub(), expiresAt });
    assertProblem(await signIn('google', { idToken: token }), 401, 'auth/oauth-token-expired');
  });

  it('a nonce that does not match the token is refused: 401 auth/oauth-nonce-mismatch', async () => {
    const token = await idToken('apple', { sub: appleSub(), nonce: 'the-nonce-apple-signed' });
    assertProblem(
      await signIn('apple', { idToken: token, nonce: 'another-nonce' }),
      401,
      'auth/oauth-nonce-mismatch',
    );
    // A token carrying a nonce, replayed without one, is refused too.
    assertProblem(await signIn('apple', { idToken: token }), 401, 'auth/oauth-nonce-mismatch');
  });

  it('refused tokens created no account', async () => {
    const users = await api.call('GET', '/v1/admin/users?limit=100', { token: env.host.adminKey });
    assert.equal(users.status, 200);
    const audit = await api.call('GET', '/v1/admin/audit?type=user.oauth-login&limit=200', {
      token: env.host.adminKey,
    });
    const signedIn = new Set((audit.body.items as { userId: string }[]).map((item) => item.userId));
    const withoutSignIn = (
      users.body.items as { id: string; hasPassword: boolean; anonymous: boolean }[]
    ).filter((user) => !user.hasPassword && !user.anonymous && !signedIn.has(user.id));
    assert.deepEqual(withoutSignIn, [], 'every password-less account came from an accepted sign-in');
  });
});

describe('Sign in with Apple and Google, configuration and outages', () => {
  it('a host without client ids answers 404 auth/provider-disabled for both providers', async () => {
    const infrastructure = await createTestInfrastructure('embedded');
    const host = await startAuthHost(infrastructure);
    try {
      const api = client(host.url);
      for (const provider of ['apple', 'google'] as const) {
        const token = await idToken(provider, { sub: provider === 'apple' ? appleSub() : googleSub() });
        assertProblem(
          await api.post(`/v1/auth/oauth/${provider}`, { idToken: token }),
          404,
          'auth/provider-disabled',
        );
      }
    } finally {
      await host.close();
      await infrastructure.cleanup();
    }
  });

  it("with the provider's JWKS server stopped, sign-in answers 503 runtime/dependency-unavailable", async () => {
    let env: Environment | undefined;
    try {
      env = await startEnvironment('embedded');
      await env.jwks.close();
      const answer = await env.api.post('/v1/auth/oauth/apple', {
        idToken: await idToken('apple', { sub: appleSub() }),
      });
      assertProblem(answer, 503, 'runtime/dependency-unavailable');
      assert.equal(answer.body.retryable, true);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json\b/);
      const google = await env.api.post('/v1/auth/oauth/google', {
        idToken: await idToken('google', { sub: googleSub() }),
      });
      assertProblem(google, 503, 'runtime/dependency-unavailable');
    } finally {
      await stopEnvironment(env);
    }
  });
});

describe('Sign in with Apple, production shape (PostgreSQL, Redis, NATS)', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment('production');
  });
  after(() => stopEnvironment(env));

  it('a first Apple sign-in creates a user and a second with the same sub returns it, on PostgreSQL', async () => {
    const sub = appleSub();
    const email = `${uniqueName('pg')}@privaterelay.appleid.com`;
    const first = await env.api.post('/v1/auth/oauth/apple', {
      idToken: await idToken('apple', { sub, email, emailVerified: 'true' }),
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.user.email, email);
    const me = await env.api.get('/v1/auth/me', first.body.accessToken as string);
    assert.equal(me.status, 200);
    assert.equal(me.body.id, first.body.user.id);
    const second = await env.api.post('/v1/auth/oauth/apple', { idToken: await idToken('apple', { sub }) });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.user.id, first.body.user.id);
    assert.equal(second.body.user.email, email);
  });
});
