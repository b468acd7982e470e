import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTarget } from './check-target';
import { LoadError } from './load-error';

describe('checkTarget', () => {
  it('takes loopback targets, IPv4 loopback written as IPv6 included', () => {
    for (const url of [
      'http://127.0.0.1:8080',
      'http://127.8.9.10/',
      'http://localhost:8080/x',
      'http://[::1]:80/',
      'http://[::ffff:127.0.0.1]/',
    ]) {
      assert.equal(checkTarget(url, false).protocol, 'http:', url);
    }
  });
  it('refuses other hosts unless allowed, names that could resolve anywhere, and non-http URLs', () => {
    for (const remote of [
      'http://192.0.2.10/',
      'http://0.0.0.0/',
      'http://[::ffff:192.0.2.10]/',
      'http://[::]/',
      'http://127.0.0.1.nip.io/',
      'http://example.com/',
    ]) {
      assert.throws(() => checkTarget(remote, false), /not this machine.*--allow-remote/, remote);
    }
    assert.equal(checkTarget('http://192.0.2.10/', true).hostname, '192.0.2.10');
    for (const bad of [
      '',
      'not a url',
      'ftp://127.0.0.1/',
      'file:///etc/passwd',
      'http://user:pw@127.0.0.1/',
    ]) {
      assert.throws(() => checkTarget(bad, false), LoadError, bad);
    }
  });
});
