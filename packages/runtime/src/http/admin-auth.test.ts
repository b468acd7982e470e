import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '@tern/config';
import { createIdentityResolver } from './admin-auth';

void describe('identity resolver', () => {
  const plainKey = 'plain-admin-key-0123456789-abcdefghij';
  const jwtShapedKey = `eyJ${'a'.repeat(30)}.payload.signature`;

  it('recognises the admin key, whatever its shape', async () => {
    for (const key of [plainKey, jwtShapedKey]) {
      const resolve = createIdentityResolver(new Secret(key), undefined);
      assert.deepEqual(await resolve(`Bearer ${key}`), { kind: 'admin', via: 'admin-key' });
      assert.deepEqual(await resolve(`bearer   ${key}`), { kind: 'admin', via: 'admin-key' });
    }
  });

  it('never takes another credential for the admin key', async () => {
    for (const key of [plainKey, jwtShapedKey]) {
      const resolve = createIdentityResolver(new Secret(key), undefined);
      for (const other of [
        `${key}x`,
        key.slice(0, -1),
        'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln', // a JWT: with no verifier here, invalid
        `eyJ${'a'.repeat(30)}.payload.signaturX`,
      ]) {
        assert.equal(await resolve(`Bearer ${other}`), 'invalid', other);
      }
      assert.equal(await resolve('Basic abc'), 'invalid');
      assert.deepEqual(await resolve(undefined), { kind: 'anonymous' });
    }
  });
});
