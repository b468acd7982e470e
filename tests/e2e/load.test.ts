import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { runCli } from '@tern/cli';
import { httpScenario, mobileScenario, runLoad, type Report, type Scenario } from '@tern/load';
import { REPO_ROOT, spawnTern, type TernProcess } from './spawn-tern';

const CHROMIUM = process.env.TERN_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN_KEY = 'load-test-admin-key-0123456789abcdef0123';
const BUSY_SCENARIO = fileURLToPath(new URL('./fixtures/busy-scenario.ts', import.meta.url));

/** A server that answers every request after `delayMs`, noting when each arrived. */
async function slowServer(delayMs: number): Promise<{ server: Server; url: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server = createServer((request, response) => {
    arrivals.push(performance.now());
    request.resume();
    setTimeout(
      () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
      delayMs,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

const session = (target: string) => ({
  target: new URL(target),
  users: 100,
  timeoutMs: 5_000,
  connections: 10_000,
  thinkScale: 1,
  seed: 1,
  adminKey: undefined,
  log: () => undefined,
});

describe('tern load', () => {
  let slow: Awaited<ReturnType<typeof slowServer>>;
  before(async () => {
    slow = await slowServer(250);
  });
  after(() => slow.server.close());

  it('keeps the arrival rate within 2 % of the target against a slow server (open model)', async () => {
    slow.arrivals.length = 0;
    const started = performance.now();
    const result = await runLoad({
      ...session(`${slow.url}/slow`),
      scenario: httpScenario('/slow'),
      model: { kind: 'open', stages: [{ durationMs: 5_000, from: 200, to: 200 }] },
      thresholds: [],
      maxInFlight: 10_000,
    });
    // Every answer takes 250 ms, so ~50 requests are in flight at once; a closed loop would fall behind.
    assert.equal(result.totals.requests, 1_000);
    assert.equal(result.totals.errors, 0);
    assert.ok(Math.abs(slow.arrivals.length - 1_000) <= 20, `server saw ${slow.arrivals.length} of 1000`);
    // The rate the server saw, away from the edges: 0.5 s to 4.5 s holds 800 arrivals at 200/s.
    const middle = slow.arrivals.filter((at) => at - started >= 500 && at - started < 4_500).length;
    assert.ok(Math.abs(middle - 800) <= 16, `server saw ${middle} arrivals in 4 s, not 800 ± 2 %`);
    // Latency is measured from the intended send time and includes the server's 250 ms.
    assert.ok(result.totals.latencyMs.p50 >= 250, `p50 ${result.totals.latencyMs.p50}`);
  });

  it('ramps in stages and runs a closed model of N users', async () => {
    const ramp = await runLoad({
      ...session(`${slow.url}/`),
      scenario: httpScenario('/'),
      model: { kind: 'open', stages: [{ durationMs: 2_000, from: 0, to: 100 }] },
      thresholds: [],
      maxInFlight: 10_000,
    });
    assert.equal(ramp.totals.requests, 100); // the integral of a 0 → 100/s ramp over 2 s
    const closed = await runLoad({
      ...session(`${slow.url}/`),
      scenario: httpScenario('/'),
      model: { kind: 'closed', stages: [{ durationMs: 2_000, from: 5, to: 5 }] },
      thresholds: [],
      maxInFlight: 10_000,
    });
    // 5 users, each one request at a time of 250 ms: about 40 in 2 s.
    assert.ok(
      closed.totals.requests >= 30 && closed.totals.requests <= 45,
      `closed: ${closed.totals.requests}`,
    );
  });

  it('exits 1 when a threshold breaks, 0 when all hold, 2 on bad usage; writes the reports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-load-'));
    const lines: string[] = [];
    const io = { env: {}, out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
    try {
      const args = [
        'load',
        'http',
        '--target',
        `${slow.url}/x`,
        '--rate',
        '40',
        '--duration',
        '2s',
        '--quiet',
      ];
      assert.equal(
        await runCli([...args, '--threshold', 'p99<5s', '--threshold', 'errors<1%', '--report', dir], io),
        0,
      );
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
      assert.equal(report.totals.requests, 80);
      assert.ok(report.series.length >= 2);
      assert.ok(statSync(join(dir, 'report.html')).size > 10_000);
      assert.equal(await runCli([...args, '--threshold', 'p99<100ms'], io), 1);
      assert.match(lines.join('\n'), /threshold p99<100ms: BROKEN/);
      assert.equal(await runCli([...args, '--threshold', 'p99 < lots'], io), 2);
      assert.equal(await runCli(['load', 'http', '--target', 'http://192.0.2.1/', '--rate', '1'], io), 2);
      assert.match(lines.join('\n'), /not this machine/);
      assert.equal(await runCli(['load', 'nonsense', '--target', slow.url], io), 2);
      assert.equal(await runCli(['load', 'http', '--target', slow.url, '--rate', '5', '--vus', '5'], io), 2);
      assert.equal(await runCli(['load', 'http', '--target', slow.url, '--rate', '-3'], io), 2);
      // Garbage in every flag: a clear message and exit 2, never a stack trace or a run.
      const base = ['load', 'http', '--target', slow.url];
      for (const bad of [
        ['--timeout', '0'],
        ['--timeout', '1000h'],
        ['--users', '0.4'],
        ['--max-in-flight', 'lots'],
        ['--duration', '25h'],
        ['--warmup', '-1s'],
        ['--stages', '10s:5', '--rate', '5'],
        ['--stages', '10s:5,\u0000'],
        ['--find-limit', '--growth', '1'],
        ['--find-limit', '--step', '0s'],
        ['--find-limit', '--metrics', 'notaurl'],
        ['--report', '/proc/tern-cannot-write-here'],
        ['--threshold', 'x'.repeat(10_000)],
        ['--unknown-flag'],
      ]) {
        lines.length = 0;
        assert.equal(await runCli([...base, ...bad], io), 2, `${bad.join(' ')}: ${lines.join('\n')}`);
        assert.doesNotMatch(lines.join('\n'), /\n\s+at /, 'no stack trace');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tern load --find-limit against the services shape', () => {
  let busy: TernProcess;
  let gateway: TernProcess;
  const dirs: string[] = [];
  before(async () => {
    const dataDir = () => {
      const dir = mkdtempSync(join(tmpdir(), 'tern-load-svc-'));
      dirs.push(dir);
      return dir;
    };
    busy = await spawnTern(
      ['start', '--service', 'busy', '--port', '0'],
      { TERN_DATA_DIR: dataDir(), TERN_ADMIN_KEY: ADMIN_KEY, TERN_TEST_BUSY_MS: '4', TERN_LOG_LEVEL: 'warn' },
      { withFixtures: true },
    );
    gateway = await spawnTern(['start', '--service', 'gateway', '--port', '0'], {
      TERN_DATA_DIR: dataDir(),
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_LOG_LEVEL: 'warn',
      TERN_GATEWAY_UPSTREAMS: `busy=${busy.url}`,
      TERN_GATEWAY_ROUTES: JSON.stringify([{ prefix: '/v1/busy', service: 'busy' }]),
      TERN_GATEWAY_RATE_LIMITS: '[]',
      // Edge authentication (the admin API, instance discovery) needs a key source; no user tokens here.
      TERN_AUTH_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json',
    });
  });
  after(async () => {
    await Promise.all([gateway?.stop(), busy?.stop()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('names the service with a fixed CPU cost per request as the first to saturate; its HTML report renders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-load-limit-'));
    dirs.push(dir);
    const lines: string[] = [];
    const io = { env: {}, out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
    const code = await runCli(
      [
        'load',
        BUSY_SCENARIO,
        '--target',
        gateway.url,
        '--find-limit',
        '--rate',
        '40',
        '--growth',
        '1.6',
        '--step',
        '3s',
        '--threshold',
        'p99<100ms',
        '--admin-key',
        ADMIN_KEY,
        '--report',
        dir,
        '--quiet',
      ],
      io,
    );
    assert.equal(code, 0, lines.join('\n'));
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
    const limit = report.limit;
    assert.ok(limit, 'a limit finding');
    assert.ok(limit.brokeAt, `a threshold broke: ${limit.verdict}`);
    assert.ok(limit.firstSaturated, `something saturated: ${limit.verdict}`);
    assert.match(limit.firstSaturated.component, /^busy\//, limit.verdict);
    assert.match(limit.firstSaturated.evidence.join(' '), /CPU|event loop/);
    assert.ok(limit.firstSaturated.rate <= limit.brokeAt.rate);
    // The gateway was watched too (found through its admin API) and was not saturated first.
    assert.ok(
      limit.steps.some((step) => step.signals.some((signal) => signal.component.startsWith('gateway'))),
      limit.verdict,
    );

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
      await page.goto(`file://${join(dir, 'report.html')}`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      assert.equal(await page.locator('.uplot canvas').count(), 3);
      assert.match((await page.textContent('#verdict')) ?? '', /busy\//);
      mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
      const shot = join(REPO_ROOT, 'test-results', 'load-report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 20_000);
    } finally {
      await browser.close();
    }
  });
});

describe('the built-in mobile scenario against the all-in-one Tern', () => {
  let tern: TernProcess;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tern-load-mobile-'));
    tern = await spawnTern(['start', '--port', '0'], {
      TERN_DATA_DIR: dataDir,
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_LOG_LEVEL: 'warn',
    });
  });
  after(async () => {
    await tern?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs users up, reads the feed, writes and edits posts and refreshes tokens without an error', async () => {
    const result = await runLoad({
      ...session(tern.url),
      users: 20,
      thinkScale: 0.1,
      adminKey: ADMIN_KEY,
      scenario: mobileScenario as Scenario,
      model: { kind: 'open', stages: [{ durationMs: 4_000, from: 15, to: 15 }] },
      thresholds: [],
      maxInFlight: 1_000,
    });
    assert.equal(result.totals.errors, 0, JSON.stringify(result.totals.errorsByClass));
    assert.deepEqual(result.journeyErrors, {});
    const steps = new Set(result.steps.map((step) => step.name));
    for (const step of ['signup', 'list-feed', 'open-item', 'create-post', 'update-post', 'refresh-token']) {
      assert.ok(steps.has(step), `step ${step} ran: ${[...steps].join(', ')}`);
    }
    // Each of the 20 users signed up once; the rest of the journeys reused their tokens.
    assert.equal(result.steps.find((step) => step.name === 'signup')?.requests, 20);
  });
});
