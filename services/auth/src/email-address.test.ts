import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TernError } from '@tern/errors';
import { normalizeEmail } from './email-address';
import { checkPasswordPolicy } from './password-policy';

const refusedWith = (code: string) => (error: unknown) => error instanceof TernError && error.code === code;

describe('email addresses', () => {
  it('are trimmed, lower-cased and NFKC-normalised so look-alike spellings are one account', () => {
    assert.equal(normalizeEmail('  Ann@Example.COM '), 'ann@example.com');
    assert.equal(normalizeEmail('ａｎｎ@ｅｘａｍｐｌｅ.com'), 'ann@example.com');
    assert.equal(normalizeEmail('josé@exämple.de'), 'josé@exämple.de');
  });

  it('are refused when malformed or hiding invisible characters', () => {
    for (const raw of [
      '',
      'plain',
      '@example.com',
      'ann@',
      'ann@example',
      'a@b@example.com',
      'ann..x@example.com',
      '.ann@example.com',
      'ann@-example.com',
      'ann@exa_mple.com',
      'an n@example.com',
      'ann\u200b@example.com',
      'ann\u202e@example.com',
      'ann\u0000@example.com',
      '"ann"@example.com',
      `${'a'.repeat(65)}@example.com`,
      `ann@${'a'.repeat(250)}.com`,
    ]) {
      assert.throws(() => normalizeEmail(raw), refusedWith('auth/invalid-email'), JSON.stringify(raw));
    }
  });
});

describe('password policy', () => {
  it('counts code points after NFC normalisation: 8 to 256', () => {
    assert.equal(checkPasswordPolicy('12345678'), '12345678');
    assert.equal(checkPasswordPolicy('e\u0301'.repeat(8)), 'é'.repeat(8), 'normalised to the composed form');
    assert.equal(checkPasswordPolicy('🔒'.repeat(256)).length, 512);
    assert.throws(() => checkPasswordPolicy('1234567'), refusedWith('auth/password-policy'));
    assert.throws(() => checkPasswordPolicy('x'.repeat(257)), refusedWith('auth/password-policy'));
    assert.throws(() => checkPasswordPolicy('tab\there!'), refusedWith('auth/password-policy'));
  });
});
