import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTarget } from './check-target';
import { LoadError } from './load-error';

describe('checkTarget', () => {
  it('takes loopback targets', async () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080/x', 'http://[::1]:80/']) {
      assert.equal((await checkTarget(url, false)).protocol, 'http:');
    }
  });
  it('refuses other hosts unless allowed, and anything not an http(s) URL', async () => {
    await assert.rejects(checkTarget('http://192.0.2.10/', false), /not this machine.*--allow-remote/);
    assert.equal((await checkTarget('http://192.0.2.10/', true)).hostname, '192.0.2.10');
    for (const bad of [
      '',
      'not a url',
      'ftp://127.0.0.1/',
      'file:///etc/passwd',
      'http://user:pw@127.0.0.1/',
    ]) {
      await assert.rejects(checkTarget(bad, false), LoadError, bad);
    }
  });
});
