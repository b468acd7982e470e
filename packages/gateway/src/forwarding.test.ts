import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { isCleanPath, requestIdOf, traceparentFor, upstreamHeaders } from './forwarding';
import { answerHeaders } from './exchange';

function request(headers: Record<string, string>, encrypted = false): IncomingMessage {
  return { headers, socket: { remoteAddress: '203.0.113.9', encrypted } } as unknown as IncomingMessage;
}

describe('forwarding', () => {
  it('drops hop-by-hop headers and those the Connection header names, and sets the forwarded ones', () => {
    const headers = upstreamHeaders(
      request({
        host: 'api.example.com',
        connection: 'keep-alive, X-Secret-Hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': 'x',
        te: 'trailers',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic abc',
        'transfer-encoding': 'chunked',
        'x-forwarded-for': '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        authorization: 'Bearer t',
        'content-type': 'application/json',
        'idempotency-key': 'k1',
      }),
      'req-1',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
    assert.deepEqual(headers, {
      authorization: 'Bearer t',
      'content-type': 'application/json',
      'idempotency-key': 'k1',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api.example.com',
      'x-request-id': 'req-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.equal(upstreamHeaders(request({}, true), 'r', 't')['x-forwarded-proto'], 'https');
  });

  it("passes answers back without hop-by-hop headers, with the edge headers it lacks and the gateway's own", () => {
    const raw = [
      ['Content-Type', 'application/json'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['Connection', 'close, X-Internal'],
      ['X-Internal', 'y'],
      ['Transfer-Encoding', 'chunked'],
      ['Keep-Alive', 'timeout=5'],
      ['X-Request-Id', 'from-upstream'],
      ['X-Frame-Options', 'SAMEORIGIN'],
      ['Content-Length', '12'],
    ].flatMap(([name, value]) => [Buffer.from(name as string), Buffer.from(value as string)]);
    const { headers, length } = answerHeaders(
      raw,
      ['x-request-id', 'req-2', 'ratelimit-limit', '10'],
      ['x-frame-options', 'DENY', 'x-content-type-options', 'nosniff'],
    );
    assert.deepEqual(headers, [
      'Content-Type',
      'application/json',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Frame-Options',
      'SAMEORIGIN',
      'Content-Length',
      '12',
      'x-content-type-options',
      'nosniff',
      'x-request-id',
      'req-2',
      'ratelimit-limit',
      '10',
    ]);
    assert.equal(length, 12);
    assert.equal(answerHeaders([Buffer.from('content-length'), Buffer.from('x1')], [], []).length, undefined);
  });

  it('keeps a well-formed request id and trace, and replaces malformed ones', () => {
    assert.equal(requestIdOf({ 'x-request-id': 'abc-123' }), 'abc-123');
    assert.match(requestIdOf({ 'x-request-id': 'bad id\n' }), /^[0-9a-f-]{36}$/);
    assert.match(requestIdOf({ 'x-request-id': 'x'.repeat(129) }), /^[0-9a-f-]{36}$/);
    const continued = traceparentFor({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.match(continued, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    assert.notEqual(continued.split('-')[2], 'b7ad6b7169203331', 'the gateway is the new parent span');
    for (const bad of ['garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '01-abc']) {
      const started = traceparentFor({ traceparent: bad });
      assert.match(started, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.ok(!started.startsWith('00-00000000'));
    }
  });

  it('routes only clean absolute paths', () => {
    for (const path of ['/', '/v1/data', '/v1/data/notes/abc', '/v1/data/notes/', '/v1/a.b/c-d_e~f']) {
      assert.ok(isCleanPath(path, 2048), path);
    }
    for (const path of [
      '',
      'v1/data',
      '/v1//data',
      '/v1/data//',
      '/v1/./data',
      '/v1/../admin',
      '/v1/data/..',
      '/v1/%2e%2e/admin',
      '/v1/data%2Fnotes',
      '/v1/data%5cnotes',
      '/v1\\data',
      `/${'a'.repeat(3000)}`,
    ]) {
      assert.ok(!isCleanPath(path, 2048), path);
    }
  });
});
