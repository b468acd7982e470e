import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { quietTelemetry } from '@tern/testing';
import { createGateway, type Gateway, type GatewayOptions } from '@tern/gateway';
import { startFixture, stopFixture, type Fixture } from './fixture-process';

/** Sends an upgrade request and resolves with the answer's head and the socket, if switched. */
function upgrade(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  socket?: Socket;
  body?: string;
}> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: hostname,
      port,
      path,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', ...headers },
    });
    request.on('upgrade', (response, socket) =>
      resolve({ status: response.statusCode ?? 0, headers: response.headers, socket }),
    );
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

describe('gateway edge hygiene: security headers, CORS, TLS, WebSocket upgrades', () => {
  let fixture: Fixture;
  const gateways: Gateway[] = [];

  before(async () => {
    fixture = await startFixture('ws-1');
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.stop(1_000)));
  });
  after(async () => {
    await stopFixture(fixture);
  });

  async function startGateway(extra: Partial<GatewayOptions> = {}): Promise<string> {
    const telemetry = quietTelemetry('hygiene');
    const gateway = createGateway({
      log: telemetry.log,
      metrics: telemetry.metrics,
      tracer: telemetry.tracer,
      routes: [{ prefix: '/v1/data', service: 'data' }],
      upstreams: { data: [fixture.origin] },
      upstreamTimeoutMs: 2_000,
      retries: 0,
      bodyLimitBytes: 1024 * 1024,
      healthCheck: { intervalMs: 60_000 },
      ...extra,
    });
    gateways.push(gateway);
    return gateway.listen(0, '127.0.0.1');
  }

  it('puts security headers on proxied answers, its own answers and refusals', async () => {
    const url = await startGateway();
    for (const path of ['/v1/data/x', '/healthz', '/nowhere']) {
      const response = await fetch(`${url}${path}`);
      await response.arrayBuffer();
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(response.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
    }
  });

  it('answers preflights of allowed origins at the edge, and gives other origins nothing', async () => {
    const url = await startGateway({ cors: { origins: ['https://app.example.com'], maxAgeSeconds: 120 } });
    const preflight = await fetch(`${url}/v1/data/notes`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'Authorization, Content-Type, Idempotency-Key, bad header',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(
      preflight.headers.get('access-control-allow-headers'),
      'authorization, content-type, idempotency-key',
    );
    assert.equal(preflight.headers.get('access-control-max-age'), '120');
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
    const actual = await fetch(`${url}/v1/data/notes`, { headers: { origin: 'https://app.example.com' } });
    await actual.arrayBuffer();
    assert.equal(actual.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(actual.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
    const stranger = await fetch(`${url}/v1/data/notes`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
    });
    assert.equal(stranger.status, 204);
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    const strangerGet = await fetch(`${url}/v1/data/notes`, { headers: { origin: 'https://evil.example' } });
    await strangerGet.arrayBuffer();
    assert.equal(strangerGet.headers.get('access-control-allow-origin'), null);
  });

  it('terminates TLS with the configured certificate, with HSTS and X-Forwarded-Proto https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const url = await startGateway({
      tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
    });
    assert.match(url, /^https:/);
    const { hostname, port } = new URL(url);
    const answer = await new Promise<{ headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const request = httpsRequest(
          { host: hostname, port, path: '/v1/data/x', rejectUnauthorized: false },
          (response) => {
            let body = '';
            response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
            response.on('end', () => resolve({ headers: response.headers, body }));
          },
        );
        request.on('error', reject);
        request.end();
      },
    );
    assert.match(String(answer.headers['strict-transport-security']), /max-age=31536000/);
    const seen = (JSON.parse(answer.body) as { headers: Record<string, string> }).headers;
    assert.equal(seen['x-forwarded-proto'], 'https');
  });

  it('tunnels a WebSocket upgrade to an instance and refuses one it cannot route', async () => {
    const url = await startGateway();
    const switched = await upgrade(url, '/v1/data/live', { 'x-request-id': 'ws-req-1' });
    assert.equal(switched.status, 101);
    assert.equal(switched.headers['x-upstream'], 'ws-1');
    assert.equal(switched.headers['x-seen-request-id'], 'ws-req-1');
    const socket = switched.socket as Socket;
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      socket.write('hello through the gateway');
    });
    assert.equal(echoed, 'hello through the gateway');
    socket.destroy();

    const unknown = await upgrade(url, '/v1/elsewhere');
    assert.equal(unknown.status, 404);
    assert.equal((JSON.parse(unknown.body ?? '{}') as { code: string }).code, 'gateway/route-not-found');
    const unclean = await upgrade(url, '/v1/data/../admin');
    assert.equal(unclean.status, 400);
  });
});
