import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type TestInfrastructure,
} from './auth-test-host';

describe('two auth instances sharing PostgreSQL, Redis and NATS', () => {
  let infrastructure: TestInfrastructure;
  let a: AuthTestHost;
  let b: AuthTestHost;

  before(async () => {
    infrastructure = await createTestInfrastructure('production');
    [a, b] = await Promise.all([startAuthHost(infrastructure), startAuthHost(infrastructure)]);
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await infrastructure?.cleanup();
  });

  it('share one key, one account and one session table: a session opened on one is refreshed and ended on the other', async () => {
    const [apiA, apiB] = [client(a.url), client(b.url)];
    assert.deepEqual(
      (await apiA.get('/.well-known/jwks.json')).body,
      (await apiB.get('/.well-known/jwks.json')).body,
    );
    const account = await apiA.signup();
    assert.equal((await apiB.get('/v1/auth/me', account.accessToken)).status, 200);
    const refreshed = await apiB.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
    assert.equal(refreshed.status, 200);
    const retried = await apiA.post('/v1/auth/refresh', { refreshToken: account.refreshToken });
    assert.equal(
      retried.body.refreshToken,
      refreshed.body.refreshToken,
      'the grace window holds across instances',
    );
    assert.equal(
      (await apiB.post('/v1/auth/logout', undefined, refreshed.body.accessToken as string)).status,
      200,
    );
    assert.equal(
      (await apiA.post('/v1/auth/refresh', { refreshToken: refreshed.body.refreshToken })).status,
      401,
    );
  });

  it('verify tokens signed by a key the other instance just rotated in', async () => {
    const [apiA, apiB] = [client(a.url), client(b.url)];
    const account = await apiA.signup();
    assert.equal((await apiB.get('/v1/auth/me', account.accessToken)).status, 200, 'B has loaded its keys');
    const rotated = await apiA.call('POST', '/v1/admin/auth/keys/rotate', { token: a.adminKey });
    assert.equal(rotated.status, 200);
    const fresh = await apiA.post('/v1/auth/login', { email: account.email, password: account.password });
    assert.equal(decodeProtectedHeader(fresh.body.accessToken as string).kid, rotated.body.kid);
    // B reloads its keys on an unknown kid, at most once a second.
    await sleep(1_100);
    assert.equal((await apiB.get('/v1/auth/me', fresh.body.accessToken as string)).status, 200);
    assert.equal(
      (await apiB.get('/v1/auth/me', account.accessToken)).status,
      200,
      'the old key still verifies',
    );
    const kids = (await apiB.get('/.well-known/jwks.json')).body.keys.map((key: { kid: string }) => key.kid);
    assert.ok(kids.includes(rotated.body.kid));
  });
});
