import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { quietTelemetry, waitFor } from '@tern/testing';
import { Gauge } from '@tern/telemetry';
import { createGateway, type Gateway, type GatewayOptions } from '@tern/gateway';
import { call, startFixture, stopFixture, type Fixture } from './fixture-process';

/** A request sent with its path exactly as written (fetch would normalise `..` and `//`). */
function rawRequest(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('gateway', () => {
  const fixtures: Fixture[] = [];
  let gateway: Gateway | undefined;
  let url = '';
  const telemetry = quietTelemetry('gateway');

  async function startGateway(overrides: Partial<GatewayOptions> = {}, count = 3): Promise<void> {
    while (fixtures.length < count) fixtures.push(await startFixture(`i${fixtures.length + 1}`));
    gateway = createGateway({
      log: telemetry.log,
      metrics: telemetry.metrics,
      tracer: telemetry.tracer,
      routes: [{ prefix: '/v1/data', service: 'data' }],
      upstreams: { data: fixtures.map((fixture) => fixture.origin) },
      upstreamTimeoutMs: 2_000,
      retries: 2,
      bodyLimitBytes: 1024 * 1024,
      healthCheck: { intervalMs: 60_000 },
      ...overrides,
    });
    url = await gateway.listen(0, '127.0.0.1');
  }

  before(async () => {
    for (const id of ['i1', 'i2', 'i3']) fixtures.push(await startFixture(id));
  });
  afterEach(async () => {
    await gateway?.stop(1_000);
    gateway = undefined;
  });
  after(async () => {
    await Promise.all(fixtures.map((fixture) => stopFixture(fixture)));
  });

  it('spreads requests over every instance', async () => {
    await startGateway();
    const counts = new Map<string, number>();
    for (let round = 0; round < 30; round++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => call(`${url}/v1/data/notes?delay=2`)),
      );
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        counts.set(answer.body.instance ?? '?', (counts.get(answer.body.instance ?? '?') ?? 0) + 1);
      }
    }
    assert.deepEqual([...counts.keys()].sort(), ['i1', 'i2', 'i3']);
    for (const [instance, count] of counts) assert.ok(count >= 60, `${instance} got ${count} of 300`);
  });

  it('forwards without hop-by-hop headers, with forwarded headers, request id and trace context', async () => {
    await startGateway();
    const answer = await call(`${url}/v1/data/notes/abc?x=1`, {
      headers: {
        'x-request-id': 'client-req-1',
        'x-forwarded-for': '6.6.6.6',
        'x-custom': 'kept',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.url, '/v1/data/notes/abc?x=1');
    const seen = answer.body.headers ?? {};
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', "the client's own X-Forwarded-For is not trusted");
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], new URL(url).host);
    assert.equal(seen['x-request-id'], 'client-req-1');
    assert.equal(seen['x-custom'], 'kept');
    assert.match(seen.traceparent ?? '', /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    assert.equal(answer.headers.get('x-request-id'), 'client-req-1');
    assert.equal(answer.headers.get('x-upstream') !== null, true);
    assert.equal(answer.headers.get('set-cookie'), 'a=1, b=2');
    assert.equal(answer.headers.get('keep-alive'), 'timeout=72', "the gateway's own, not the upstream's");
  });

  it('answers unknown routes, unclean paths and oversized bodies with problem+json', async () => {
    await startGateway();
    const unknown = await call(`${url}/v2/nothing`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'gateway/route-not-found');
    assert.match(unknown.headers.get('content-type') ?? '', /application\/problem\+json/);
    for (const path of ['/v1/data/../admin', '/v1/data/%2e%2e/x', '/v1//data', '/v1/data%2fx']) {
      const answer = await rawRequest(url, path);
      assert.equal(answer.status, 400, path);
      assert.equal(JSON.parse(answer.body).code, 'gateway/bad-path', path);
    }
    // A request line Node's parser refuses never reaches the router, and still gets problem+json.
    const relative = await rawRequest(url, 'v1/data');
    assert.equal(relative.status, 400);
    assert.equal(JSON.parse(relative.body).code, 'runtime/bad-request');
    const huge = await call(`${url}/v1/data/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2 * 1024 * 1024),
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.code, 'runtime/body-too-large');
    const headers = await rawRequest(url, `/v1/data/notes?${'q'.repeat(20_000)}`);
    assert.equal(headers.status, 431);
  });

  it('streams request bodies to the instance', async () => {
    await startGateway({ bodyLimitBytes: 8 * 1024 * 1024 });
    const size = 5 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 97);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let sent = 0; sent < size; sent += chunk.length) controller.enqueue(chunk);
        controller.close();
      },
    });
    const answer = await call(`${url}/v1/data/upload`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.bytes, size);
  });

  it('streams a large answer to a slow reader intact, and cancels the upstream when a client leaves mid-answer', async () => {
    const fixture = fixtures[0] as Fixture;
    await startGateway({ upstreams: { data: [fixture.origin] } });
    const size = 24 * 1024 * 1024 + 123;
    const { hostname, port } = new URL(url);
    // A slow reader: paused for a moment after every chunk, so the gateway must hold the upstream back.
    const received = await new Promise<{ bytes: number; intact: boolean }>((resolve, reject) => {
      const request = httpRequest(
        { host: hostname, port, path: `/v1/data/big?stream=${size}` },
        (response) => {
          let bytes = 0;
          let intact = response.statusCode === 200;
          response.on('data', (chunk: Buffer) => {
            for (let i = 0; i < chunk.length; i += 4099) if (chunk[i] !== (bytes + i) % 256) intact = false;
            bytes += chunk.length;
            response.pause();
            setTimeout(() => response.resume(), 1);
          });
          response.on('end', () => resolve({ bytes, intact }));
        },
      );
      request.on('error', reject);
      request.end();
    });
    assert.deepEqual(received, { bytes: size, intact: true });

    const before = (await call(`${fixture.origin}/fixture/streams`)).body as { cut: number };
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(
        { host: hostname, port, path: `/v1/data/big?stream=${size}` },
        (response) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > 1024 * 1024) {
              request.destroy();
              resolve();
            }
          });
        },
      );
      request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
      request.end();
    });
    await waitFor(async () => {
      const now = (await call(`${fixture.origin}/fixture/streams`)).body as { cut: number };
      return now.cut === before.cut + 1;
    });
    // The gateway is fine afterwards.
    assert.equal((await call(`${url}/v1/data/after`)).status, 200);
  });

  it('answers 504 when an instance is too slow, and counts it against the instance', async () => {
    await startGateway({ upstreamTimeoutMs: 200 });
    const answer = await call(`${url}/v1/data/slow?delay=1000`);
    assert.equal(answer.status, 504);
    assert.equal(answer.body.code, 'gateway/upstream-timeout');
    const metrics = await telemetry.metrics.metrics();
    assert.match(
      metrics,
      /tern_gateway_upstream_errors_total\{upstream="data",upstream_instance="[^"]+",kind="timeout"\} 1/,
    );
  });

  it('tries a read answered 503 on another instance, but not a write without an Idempotency-Key', async () => {
    await startGateway();
    const read = await call(`${url}/v1/data/flaky?status=503`);
    // Every instance answers 503 here: the read was tried on three, and the last answer is passed on.
    assert.equal(read.status, 503);
    const metrics = await telemetry.metrics.metrics();
    assert.match(metrics, /tern_gateway_retries_total\{upstream="data"\} 2/);
    const write = await call(`${url}/v1/data/flaky?status=503`, { method: 'POST', body: '{}' });
    assert.equal(write.status, 503);
    assert.match(await telemetry.metrics.metrics(), /tern_gateway_retries_total\{upstream="data"\} 2/);
  });

  it('takes an instance failing its health checks out of rotation, and back once it recovers', async () => {
    await startGateway();
    const [first] = fixtures as [Fixture];
    await fetch(`${first.origin}/fixture/not-ready`, { method: 'POST' });
    await gateway?.checkHealth();
    await gateway?.checkHealth();
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add((await call(`${url}/v1/data/x`)).body.instance ?? '?');
    assert.ok(!seen.has(first.id), `${first.id} still got traffic`);
    await fetch(`${first.origin}/fixture/ready`, { method: 'POST' });
    await gateway?.checkHealth();
    await waitFor(async () => (await call(`${url}/v1/data/x`)).body.instance === first.id, {
      what: 'the recovered instance to take traffic',
    });
  });

  it('loses no read when an instance is killed under load, ejects it, and fails at most the writes in flight', async () => {
    await startGateway({}, 4);
    const victim = fixtures[3] as Fixture;
    let running = true;
    const outcomes = { reads: 0, readFailures: 0, writes: 0, writeFailures: 0 };
    const client = async (write: boolean) => {
      while (running) {
        const answer = await call(`${url}/v1/data/load?delay=5`, write ? { method: 'POST', body: '{}' } : {});
        if (write) {
          outcomes.writes++;
          if (answer.status !== 200) outcomes.writeFailures++;
        } else {
          outcomes.reads++;
          if (answer.status !== 200) outcomes.readFailures++;
        }
      }
    };
    const clients = [
      ...Array.from({ length: 8 }, () => client(false)),
      ...Array.from({ length: 4 }, () => client(true)),
    ];
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stopFixture(victim, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    running = false;
    await Promise.all(clients);
    assert.equal(outcomes.readFailures, 0, `reads: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.writeFailures <= 4, `at most the writes in flight fail: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.reads > 100 && outcomes.writes > 50, JSON.stringify(outcomes));
    const instance = gateway?.instances('data').find((candidate) => candidate.origin === victim.origin);
    assert.ok(instance?.ejected(Date.now()), 'the killed instance is ejected');
    assert.match(
      await telemetry.metrics.metrics(),
      /tern_gateway_upstream_ejections_total\{upstream="data",upstream_instance="[^"]+"\} 1/,
    );
    fixtures.pop();
  });

  it('answers /metrics with 503 problem+json, and stays up, when a collector throws', async () => {
    await startGateway();
    new Gauge({
      name: 'test_broken_collector',
      help: 'Throws when collected.',
      registers: [telemetry.metrics],
      collect() {
        throw new Error('dependency down');
      },
    });
    try {
      const broken = await call(`${url}/metrics`);
      assert.equal(broken.status, 503);
      assert.equal(broken.body.code, 'gateway/metrics-unavailable');
      assert.equal((await call(`${url}/healthz`)).status, 200);
    } finally {
      telemetry.metrics.removeSingleMetric('test_broken_collector');
    }
  });

  it('answers 503 with Retry-After when no instance is left, and drains on stop', async () => {
    await startGateway({ upstreams: { data: ['http://127.0.0.1:9'] }, retries: 0 });
    const unreachable = await call(`${url}/v1/data/x`);
    assert.equal(unreachable.status, 502);
    assert.equal(unreachable.body.code, 'gateway/upstream-unreachable');
    const none = await call(`${url}/v1/data/x`);
    assert.equal(none.status, 503);
    assert.equal(none.body.code, 'gateway/no-healthy-upstream');
    assert.equal(none.headers.get('retry-after'), '1');
    const ready = await call(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual((ready.body as unknown as { upstreams: unknown }).upstreams, {
      data: { instances: 1, available: 0 },
    });
  });
});
