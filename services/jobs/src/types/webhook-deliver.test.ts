import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkWebhookUrl, isPublicAddress } from './webhook-deliver';

describe('webhook SSRF guards', () => {
  it('calls only public unicast addresses public', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) {
      assert.equal(isPublicAddress(address), true, address);
    }
    for (const address of [
      '127.0.0.1',
      '127.8.9.10',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      'not an address',
      '',
    ]) {
      assert.equal(isPublicAddress(address), false, address);
    }
  });

  it('refuses URLs that reach inward, carry credentials or are not http(s), unless the host is allowed', () => {
    assert.equal(checkWebhookUrl('https://hooks.example.com/x?y=1', []).hostname, 'hooks.example.com');
    for (const url of [
      'http://127.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:7f00:1]/',
      'http://10.0.0.5:8080/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://localhost:3000/',
      'http://api.localhost/',
      'http://printer.local/',
      'http://metadata.google.internal/',
      'https://user:pass@example.com/',
      'file:///etc/passwd',
      'gopher://example.com/',
      'javascript:alert(1)',
      'not a url',
    ]) {
      assert.throws(() => checkWebhookUrl(url, []), { code: 'jobs/refused-url' }, url);
    }
    assert.equal(checkWebhookUrl('http://127.0.0.1:9000/hook', ['127.0.0.1']).port, '9000');
    assert.equal(checkWebhookUrl('http://[::1]/hook', ['::1']).pathname, '/hook');
  });
});
