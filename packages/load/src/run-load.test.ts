import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { generatorWarnings } from './generator-stats';
import { runLoad, type LoadOptions } from './run-load';
import type { Scenario } from './scenario';
import { parseThreshold } from './thresholds';

/** `/ok` 200, `/busy` 503, `/never` no answer at all. */
function server(): Promise<{ server: Server; url: string }> {
  const created = createServer((request, response) => {
    request.resume();
    if (request.url === '/never') return;
    response.writeHead(request.url === '/busy' ? 503 : 200).end('{}');
  });
  return new Promise((resolve) =>
    created.listen(0, '127.0.0.1', () =>
      resolve({ server: created, url: `http://127.0.0.1:${(created.address() as AddressInfo).port}` }),
    ),
  );
}

const options = (url: string, scenario: Scenario, extra: Partial<LoadOptions> = {}): LoadOptions => ({
  target: new URL(url),
  scenario,
  users: 10,
  timeoutMs: 300,
  connections: 100,
  thinkScale: 1,
  seed: 1,
  adminKey: undefined,
  log: () => undefined,
  model: { kind: 'open', stages: [{ durationMs: 500, from: 20, to: 20 }] },
  thresholds: [],
  maxInFlight: 1_000,
  ...extra,
});

describe('runLoad', () => {
  let target: { server: Server; url: string };
  before(async () => {
    target = await server();
  });
  after(() => {
    target.server.closeAllConnections();
    target.server.close();
  });

  it('classifies errors by status, timeout and connection, per step', async () => {
    const scenario: Scenario = {
      name: 'errors',
      journeys: [
        {
          name: 'all',
          weight: 1,
          async run(vu) {
            await vu.request('ok', { path: '/ok' });
            await vu.request('busy', { path: '/busy' });
            await vu.request('never', { path: '/never' });
          },
        },
      ],
    };
    const result = await runLoad(options(target.url, scenario, { timeoutMs: 200 }));
    const step = (name: string) => result.steps.find((s) => s.name === name);
    assert.equal(step('ok')?.errors, 0);
    assert.deepEqual(step('busy')?.errorsByClass, { 'status 503': 10 });
    assert.deepEqual(step('never')?.errorsByClass, { timeout: 10 });
    const closed = await server(); // a port nothing listens on any more
    closed.server.close();
    const refused = await runLoad(options(closed.url, scenario));
    assert.equal(refused.steps.find((s) => s.name === 'ok')?.errorsByClass.connection, 10);
  });

  it('counts journeys that throw and says so; a threshold on a step that never ran fails', async () => {
    const scenario: Scenario = {
      name: 'throws',
      journeys: [
        {
          name: 'broken',
          weight: 1,
          async run(vu) {
            await vu.request('ok', { path: '/ok' });
            throw new Error('scenario bug');
          },
        },
      ],
    };
    const result = await runLoad(
      options(target.url, scenario, {
        thresholds: [parseThreshold('p99<5s'), parseThreshold('login:p99<5s')],
      }),
    );
    assert.deepEqual(result.journeyErrors, { broken: { count: 10, first: 'scenario bug' } });
    assert.ok(result.warnings.some((warning) => /journey broken threw 10 times/.test(warning)));
    assert.deepEqual(
      result.thresholds.map((t) => t.ok),
      [true, false],
    );
    assert.equal(result.passed, false);
  });

  it('counts arrivals beyond the in-flight limit as dropped errors, not as fast answers', async () => {
    const slow: Scenario = {
      name: 'slow',
      journeys: [
        { name: 'wait', weight: 1, run: async (vu) => void (await vu.request('never', { path: '/never' })) },
      ],
    };
    const result = await runLoad(options(target.url, slow, { maxInFlight: 2, timeoutMs: 200 }));
    assert.equal(result.generator.dropped, 8);
    assert.equal(result.totals.errorsByClass.dropped, 8);
    assert.equal(result.totals.requests, 10);
    assert.ok(result.warnings.some((warning) => /8 arrivals were dropped/.test(warning)));
    assert.equal(result.steps.find((step) => step.name === '(dropped arrivals)')?.errors, 8);
  });

  it('stops at once when interrupted, without blaming the journeys, and says so', async () => {
    const thinking: Scenario = {
      name: 'thinking',
      journeys: [
        {
          name: 'think',
          weight: 1,
          async run(vu) {
            await vu.request('ok', { path: '/ok' });
            await vu.think(60_000);
          },
        },
      ],
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    const result = await runLoad(
      options(target.url, thinking, {
        model: { kind: 'open', stages: [{ durationMs: 30_000, from: 20, to: 20 }] },
        signal: controller.signal,
      }),
    );
    assert.ok(performance.now() - started < 5_000);
    assert.equal(result.interrupted, true);
    assert.deepEqual(result.journeyErrors, {});
    assert.ok(result.totals.requests > 0);
    const before = new AbortController();
    before.abort();
    const never = await runLoad(options(target.url, thinking, { signal: before.signal }));
    assert.equal(never.totals.requests, 0);
    assert.equal(never.interrupted, true);
    // A setup that never ends does not hold Ctrl-C up.
    const stuck = new AbortController();
    setTimeout(() => stuck.abort(), 200);
    const hung = await runLoad(
      options(
        target.url,
        { ...thinking, setup: () => new Promise<never>(() => undefined) },
        { signal: stuck.signal },
      ),
    );
    assert.equal(hung.totals.requests, 0);
    assert.equal(hung.interrupted, true);
  });

  it('ends a closed-model run whose journeys send nothing', async () => {
    const idle: Scenario = {
      name: 'idle',
      journeys: [{ name: 'nothing', weight: 1, run: async () => undefined }],
    };
    const result = await runLoad(
      options(target.url, idle, { model: { kind: 'closed', stages: [{ durationMs: 300, from: 3, to: 3 }] } }),
    );
    assert.equal(result.totals.requests, 0);
    assert.ok(result.durationS < 5);
  });

  it('refuses a scenario without journeys or with a weight of 0', async () => {
    await assert.rejects(runLoad(options(target.url, { name: 'empty', journeys: [] })), /no journeys/);
    await assert.rejects(
      runLoad(
        options(target.url, { name: 'w', journeys: [{ name: 'j', weight: 0, run: async () => undefined }] }),
      ),
      /weight above 0/,
    );
    await assert.rejects(
      runLoad(options(target.url, { name: 'f', journeys: [{ name: 'j', weight: 1 } as never] })),
      /name and a run function/,
    );
    await assert.rejects(
      runLoad(options(target.url, { name: 'u', journeys: [] }, { users: 0 })),
      /at least 1 user/,
    );
  });

  it('warns when the generator was the bottleneck', () => {
    assert.deepEqual(
      generatorWarnings({ cpuMean: 0.2, cpuPeak: 0.3, lateP99Ms: 1, lateMaxMs: 2, dropped: 0, cutOff: 0 }),
      [],
    );
    const warnings = generatorWarnings({
      cpuMean: 0.9,
      cpuPeak: 0.97,
      lateP99Ms: 45,
      lateMaxMs: 80,
      dropped: 3,
      cutOff: 2,
    });
    assert.equal(warnings.length, 4);
    assert.match(warnings[0] ?? '', /saturated.*97 %/);
  });
});
