import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createMemoryRegistry, createRedisRegistry, type ServiceRegistry } from '@tern/registry';
import { deleteRedisKeys, quietTelemetry, TEST_REDIS_URL, uniqueName, waitFor } from '@tern/testing';
import { createAccessTokenVerifier } from '@tern/tokens';
import { createEdgeAuth, createGateway, type Gateway } from '@tern/gateway';
import { call, startFixture, stopFixture, type Fixture } from './fixture-process';

const ADMIN_KEY = 'shift-test-admin-key-0123456789abcdefghijk';
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

describe('gateway: discovery, draining and traffic shifting', () => {
  const fixtures: Record<string, Fixture> = {};
  const gateways: Gateway[] = [];
  const registries: ServiceRegistry[] = [];

  before(async () => {
    for (const id of ['v1-a', 'v1-b', 'v2-a', 'v2-b', 'late']) fixtures[id] = await startFixture(id);
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.stop(1_000)));
    await Promise.all(registries.splice(0).map((registry) => registry.close()));
  });
  after(async () => {
    await Promise.all(Object.values(fixtures).map((fixture) => stopFixture(fixture)));
  });

  async function startGateway(registry: ServiceRegistry, upstreams: Record<string, string[]> = {}) {
    const telemetry = quietTelemetry('shift');
    const gateway = createGateway({
      log: telemetry.log,
      metrics: telemetry.metrics,
      tracer: telemetry.tracer,
      routes: [{ prefix: '/v1/data', service: 'data', access: 'public' }],
      upstreams,
      upstreamTimeoutMs: 5_000,
      retries: 2,
      bodyLimitBytes: 1024 * 1024,
      healthCheck: { intervalMs: 60_000 },
      registry,
      auth: createEdgeAuth({
        verifier: createAccessTokenVerifier({
          keys: { kind: 'local', jwks: { keys: [] } },
          issuer: 'tern',
          audience: 'tern-api',
          telemetry,
        }),
        adminKey: ADMIN_KEY,
      }),
    });
    gateways.push(gateway);
    return gateway.listen(0, '127.0.0.1');
  }

  const gateway = () => gateways[gateways.length - 1] as Gateway;
  const register = (registry: ServiceRegistry, id: string, version: string) =>
    registry.register({
      service: 'data',
      version,
      origin: (fixtures[id] as Fixture).origin,
      instanceId: id,
    });

  it('sends traffic to an instance registered at run time, and drains one that deregisters', async () => {
    const registry = createMemoryRegistry();
    registries.push(registry);
    await register(registry, 'v1-a', 'v1');
    const url = await startGateway(registry);
    assert.equal((await call(`${url}/v1/data/x`)).body.instance, 'v1-a');

    const late = await register(registry, 'late', 'v1');
    await waitFor(async () => (await call(`${url}/v1/data/x`)).body.instance === 'late', {
      what: 'the new instance to take traffic',
    });

    // A slow request on the instance that leaves still completes; no new request reaches it.
    // (v1-a is held out of rotation for the moment the slow request is sent, so it lands on late.)
    const first = gateway()
      .instances('data')
      .find((instance) => instance.origin === fixtures['v1-a']?.origin);
    assert.ok(first);
    first.healthy = false;
    const slow = call(`${url}/v1/data/slow?delay=600`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    first.healthy = true;
    await late.deregister();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await call(`${url}/v1/data/x`)).body.instance ?? '?');
    assert.deepEqual([...seen], ['v1-a'], 'nothing new reaches the draining instance');
    const finished = await slow;
    assert.equal(finished.status, 200, 'its request in flight finished');
    assert.equal(finished.body.instance, 'late');
  });

  it('shifts a service from v1 to v2 under steady load with zero failed requests', async () => {
    const prefix = `${uniqueName('shift')}:`;
    const telemetry = quietTelemetry('registry');
    const [registryA, registryB] = [
      await createRedisRegistry({ url: TEST_REDIS_URL, keyPrefix: prefix }, telemetry),
      await createRedisRegistry({ url: TEST_REDIS_URL, keyPrefix: prefix }, telemetry),
    ];
    registries.push(registryA, registryB);
    for (const [id, version] of [
      ['v1-a', 'v1'],
      ['v1-b', 'v1'],
      ['v2-a', 'v2'],
      ['v2-b', 'v2'],
    ] as const) {
      await register(registryA, id, version);
    }
    await registryA.setWeights('data', { v1: 100, v2: 0 });
    // Two gateways on one registry: the split set through one applies on both.
    const urls = [await startGateway(registryA), await startGateway(registryB)];

    let running = true;
    const served: { version: string; at: number }[] = [];
    const failures: string[] = [];
    const clients = Array.from({ length: 12 }, async (_, client) => {
      let n = 0;
      while (running) {
        const method = n % 3 === 0 ? 'POST' : 'GET';
        const answer = await call(`${urls[(client + n) % 2]}/v1/data/items?delay=3`, {
          method,
          ...(method === 'POST' ? { body: '{}' } : {}),
        }).catch((error: unknown) => ({ status: 0, body: { instance: String(error) } }));
        n++;
        if (answer.status !== 200) failures.push(`${answer.status} ${JSON.stringify(answer.body)}`);
        else served.push({ version: (answer.body.instance ?? '?').slice(0, 2), at: Date.now() });
      }
    });
    // The clients stop however this ends, so a failure cannot leave the test running forever.
    let before: { version: string; at: number }[] | undefined;
    const statuses: number[] = [];
    let settled = 0;
    try {
      // Enough traffic on v1 alone first, however slow the machine.
      await waitFor(() => served.length >= 40, { timeoutMs: 20_000, what: 'traffic before the shift' });
      before = served.slice();
      for (const v2 of [10, 25, 50, 75, 100]) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const response = await fetch(`${urls[0]}/v1/admin/routes/data`, {
          method: 'PUT',
          headers: admin,
          body: JSON.stringify({ weights: { v1: 100 - v2, v2 } }),
        });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
      // The last split reaches the other gateway through Redis; allow it a second on a busy machine.
      settled = Date.now() + 1_000;
      await waitFor(() => served.filter((s) => s.at > settled).length >= 40, {
        timeoutMs: 20_000,
        what: 'traffic after the shift',
      });
    } finally {
      running = false;
    }
    await Promise.all(clients);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);

    assert.deepEqual(failures, [], 'no request failed during the shift');
    assert.ok(before && before.length >= 40 && before.every((s) => s.version === 'v1'), 'all on v1 before');
    const afterShift = served.filter((s) => s.at > settled);
    assert.ok(
      afterShift.every((s) => s.version === 'v2'),
      'all on v2 after, on both gateways',
    );
    assert.ok(
      served.some((s) => s.version === 'v1') && served.some((s) => s.version === 'v2'),
      'both versions served during the run',
    );
    await deleteRedisKeys(prefix);
  });

  it('pins a request to a version by header, and guards the admin API', async () => {
    const registry = createMemoryRegistry();
    registries.push(registry);
    await register(registry, 'v1-a', 'v1');
    await register(registry, 'v2-a', 'v2');
    await registry.setWeights('data', { v1: 100, v2: 0 });
    const url = await startGateway(registry);
    await waitFor(async () => (await call(`${url}/v1/data/x`)).body.instance === 'v1-a', { what: 'v1' });
    for (let i = 0; i < 10; i++) {
      assert.equal(
        (await call(`${url}/v1/data/x`, { headers: { 'tern-version': 'v2' } })).body.instance,
        'v2-a',
      );
      assert.equal((await call(`${url}/v1/data/x`)).body.instance, 'v1-a');
    }
    // A pin to a version with no instance is ignored rather than refused.
    assert.equal((await call(`${url}/v1/data/x`, { headers: { 'tern-version': 'v9' } })).status, 200);

    const described = await call(`${url}/v1/admin/routes`, { headers: admin });
    assert.equal(described.status, 200);
    const services = (described.body as unknown as { services: Record<string, { weights: unknown }> })
      .services;
    assert.deepEqual(services.data?.weights, { v1: 100, v2: 0 });
    assert.equal((await call(`${url}/v1/admin/routes`)).status, 401);
    assert.equal(
      (
        await call(`${url}/v1/admin/routes`, {
          headers: { authorization: 'Bearer wrong-key-0123456789abcdefghij' },
        })
      ).status,
      401,
    );
    for (const body of [
      '{"weights": {"v1": 101}}',
      '{"weights": {"v1": -5}}',
      '{"weights": {"v1": "50"}}',
      '{"weights": {}}',
      '{"weights": {"v 1": 5}}',
      '{"nope": 1}',
      'not json',
    ]) {
      const answer = await call(`${url}/v1/admin/routes/data`, { method: 'PUT', headers: admin, body });
      assert.equal(answer.status, 400, body);
      assert.match(answer.body.code ?? '', /^(gateway\/invalid-weights|runtime\/malformed-json)$/, body);
    }
    assert.equal(
      (await call(`${url}/v1/admin/routes/data`, { method: 'DELETE', headers: admin })).status,
      405,
    );
    assert.deepEqual(
      await registry.weights(),
      { data: { v1: 100, v2: 0 } },
      'refused changes changed nothing',
    );
  });
});
