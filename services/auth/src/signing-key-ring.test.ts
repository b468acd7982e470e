import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '@tern/config';
import { createStore, type Store } from '@tern/store';
import { quietTelemetry } from '@tern/testing';
import { AUTH_MIGRATIONS } from './auth-migrations';
import { createSigningKeyRing, KEY_PUBLISH_LEAD_MS } from './signing-key-ring';

describe('signing key ring (generated keys)', () => {
  let dir: string;
  let store: Store;
  const telemetry = quietTelemetry();
  const config = loadConfig({ env: { TERN_AUTH_KEY_ROTATION_DAYS: '30' } }).auth;
  const ring = () => createSigningKeyRing(config, store, telemetry.log);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tern-keys-'));
    store = await createStore({ kind: 'sqlite', file: join(dir, 'tern.db') }, telemetry);
    await store.migrate('auth', AUTH_MIGRATIONS);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes one key on first start that every instance shares, publishing only its public part', async () => {
    const [first, second] = [ring(), ring()];
    await Promise.all([first.refresh(), second.refresh()]);
    assert.equal(first.active().kid, second.active().kid, 'concurrent first starts agree on one key');
    const jwks = first.jwks();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]?.d, undefined);
    assert.equal(jwks.keys[0]?.crv, 'Ed25519');
  });

  it('publishes a scheduled successor before it signs, then lets it take over while the old one keeps verifying', async () => {
    const keys = ring();
    await keys.refresh();
    const old = keys.active().kid;
    // The active key has signed for the whole rotation period.
    await store.execute('UPDATE auth_signing_keys SET activates_at = $1', [Date.now() - 30 * 86_400_000]);
    await keys.refresh();
    assert.equal(keys.jwks().keys.length, 2, 'the successor is published');
    assert.equal(keys.active().kid, old, 'but the old key still signs during the lead time');
    const pending = await store.query<{ kid: string; activates_at: number }>(
      'SELECT kid, activates_at FROM auth_signing_keys WHERE kid != $1',
      [old],
    );
    const successor = pending[0];
    assert.ok(successor);
    assert.ok(Math.abs(Number(successor.activates_at) - (Date.now() + KEY_PUBLISH_LEAD_MS)) < 60_000);

    await store.execute('UPDATE auth_signing_keys SET activates_at = $1 WHERE kid = $2', [
      Date.now() - 1,
      successor.kid,
    ]);
    await store.execute('UPDATE auth_signing_keys SET retired_at = $1 WHERE kid = $2', [Date.now() - 1, old]);
    await keys.refresh();
    assert.equal(keys.active().kid, successor.kid, 'the successor signs once its time has come');
    assert.ok(keys.byKid(old), 'the old key still verifies its tokens');
    assert.equal(keys.jwks().keys.length, 2);
  });

  it('rotates at once on demand, and drops a retired key from the JWKS once its tokens have expired', async () => {
    const keys = ring();
    await keys.refresh();
    const before = keys.active().kid;
    const rotated = await keys.rotate();
    assert.notEqual(rotated, before);
    assert.equal(keys.active().kid, rotated);
    const expiredAt = Date.now() - (config.accessTokenTtlSeconds + 301) * 1000;
    await store.execute('UPDATE auth_signing_keys SET retired_at = $1 WHERE kid != $2', [expiredAt, rotated]);
    await keys.refresh();
    assert.deepEqual(
      keys.jwks().keys.map((key) => key.kid),
      [rotated],
    );
  });
});

describe('signing key ring (configured keys)', () => {
  it('signs with the first configured key, verifies with all, and refuses to rotate them itself', async () => {
    const { exportJWK, generateKeyPair } = await import('jose');
    const jwks = await Promise.all(
      ['a', 'b'].map(async (kid) => ({
        ...(await exportJWK(
          (await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).privateKey,
        )),
        kid,
      })),
    );
    const config = loadConfig({ env: { TERN_AUTH_SIGNING_KEYS: JSON.stringify(jwks) } }).auth;
    const keys = createSigningKeyRing(config, undefined as unknown as Store, quietTelemetry().log);
    await keys.refresh();
    assert.equal(keys.active().kid, 'a');
    assert.ok(keys.byKid('b'));
    assert.deepEqual(
      keys.jwks().keys.map((key) => key.kid),
      ['a', 'b'],
    );
    await assert.rejects(keys.rotate(), /TERN_AUTH_SIGNING_KEYS/);
    const broken = loadConfig({ env: { TERN_AUTH_SIGNING_KEYS: '[{"kty":"RSA","d":"secret-value"}]' } }).auth;
    await assert.rejects(
      createSigningKeyRing(broken, undefined as unknown as Store, quietTelemetry().log).refresh(),
      (error: Error) =>
        /\[0\] is not a private Ed25519 JWK/.test(error.message) && !error.message.includes('secret-value'),
    );
  });
});
