import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { uniqueName, waitFor } from '@tern/testing';
import { REPO_ROOT, spawnTern, type TernProcess } from './spawn-tern';

const ADMIN_KEY = 'e2e-dashboard-admin-key-that-is-long-0123456';
const CHROMIUM = process.env.TERN_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Where the screenshot goes (kept after the run, ignored by git). */
const SCREENSHOT = join(REPO_ROOT, 'test-results', 'dashboard.png');

describe('the live dashboard (all-in-one), in headless Chromium', () => {
  let tern: TernProcess;
  let dir: string;
  let browser: Browser;
  let traffic: Promise<void> | undefined;
  let running = true;

  const call = async (method: string, path: string, body?: unknown, token = ADMIN_KEY) => {
    const answer = await fetch(`${tern.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await answer.arrayBuffer();
    return answer;
  };

  /** A mobile app's mix: sign-ups, document writes and reads, jobs, and some requests that fail. */
  async function generateTraffic(): Promise<void> {
    assert.equal(
      (await call('PUT', '/v1/admin/collections/notes', { schema: { type: 'object' } })).status,
      201,
    );
    while (running) {
      const signup = await fetch(`${tern.url}/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `${uniqueName('dash')}@example.com`, password: 'correct horse' }),
      });
      const { accessToken } = (await signup.json()) as { accessToken: string };
      for (let index = 0; index < 5 && running; index++) {
        const created = await call('POST', '/v1/data/notes', { title: `note ${index}` }, accessToken);
        const { id } = (
          (await await fetch(`${tern.url}/v1/data/notes?limit=5`, {
            headers: { authorization: `Bearer ${accessToken}` },
          }).then((answer) => answer.json())) as { items: { id: string }[] }
        ).items[0] ?? { id: 'none' };
        await call('GET', `/v1/data/notes/${id}`, undefined, accessToken);
        await call('GET', '/v1/data/notes/does-not-exist', undefined, accessToken);
        assert.equal(created.status, 201);
      }
      await call('POST', '/v1/jobs', {
        type: 'email.send',
        payload: { to: 'someone@example.com', subject: 'Hi', text: 'Hello' },
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tern-dashboard-'));
    tern = await spawnTern(['start', '--port', '0'], {
      TERN_DATA_DIR: dir,
      TERN_ADMIN_KEY: ADMIN_KEY,
      TERN_LOG_LEVEL: 'warn',
      OTEL_TRACES_SAMPLER_ARG: '1',
      TERN_AUTH_ARGON2_MEMORY_KIB: '8192',
      TERN_AUTH_ARGON2_ITERATIONS: '1',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    running = false;
    await traffic?.catch(() => undefined);
    await browser?.close();
    await tern?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is behind the admin credential: asked for with Basic, refused without it or with a wrong key', async () => {
    const none = await fetch(`${tern.url}/_/dashboard`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="Tern dashboard"/);
    assert.match(none.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const wrong = await fetch(`${tern.url}/_/dashboard/data`, {
      headers: { authorization: `Basic ${Buffer.from('admin:not-the-key').toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
    const user = await fetch(`${tern.url}/_/dashboard/data`, { headers: { authorization: 'Bearer x.y.z' } });
    assert.equal(user.status, 401);
    const basic = await fetch(`${tern.url}/_/dashboard`, {
      headers: { authorization: `Basic ${Buffer.from(`any:${ADMIN_KEY}`).toString('base64')}` },
    });
    assert.equal(basic.status, 200);
    assert.match(basic.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const data = await fetch(`${tern.url}/_/dashboard/data`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const body = (await data.json()) as { processes: { service: string; samples: unknown[] }[] };
    assert.equal(body.processes.length, 1);
    assert.equal(body.processes[0]?.service, 'tern');
    assert.ok((body.processes[0]?.samples.length ?? 0) > 0);
    for (const [method, path] of [
      ['POST', '/_/dashboard/data'],
      ['GET', '/_/dashboard/nothing-here'],
      ['GET', '/_/dashboard/../v1/jobs'],
    ] as const) {
      const answer = await fetch(`${tern.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      assert.ok(answer.status >= 400 && answer.status < 500, `${method} ${path}: ${answer.status}`);
    }
  });

  it('draws live traffic: per-service rates and latencies, jobs, charts and a trace waterfall', async () => {
    traffic = generateTraffic();
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: ADMIN_KEY },
      viewport: { width: 1280, height: 1600 },
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(`${tern.url}/_/dashboard`);
    // Read from here through locators: the page's own CSP refuses the eval a page-side wait uses.
    // Each service's rate is per poll, and a slow machine may leave one poll without a sign-up
    // or a job, so a service counts once any poll showed it.
    const rate = async (service: string) =>
      Number((await page.locator(`#services tr[data-service="${service}"]`).getAttribute('data-rate')) ?? 0);
    const seen = new Set<string>();
    let missing: string[] = [];
    await waitFor(
      async () => {
        for (const service of ['auth', 'data', 'jobs'])
          if ((await rate(service)) > 0) seen.add(`rate ${service}`);
        if (Number(await page.locator('body').getAttribute('data-polls')) >= 4) seen.add('polls');
        if ((await page.locator('#jobs tr[data-type="email.send"]').count()) === 1) seen.add('jobs row');
        if ((await page.locator('#traces details .span').count()) > 1) seen.add('waterfall');
        missing = ['rate auth', 'rate data', 'rate jobs', 'polls', 'jobs row', 'waterfall'].filter(
          (what) => !seen.has(what),
        );
        return missing.length === 0;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the page to show the traffic' },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; not shown: ${missing.join(', ')}`);
    });
    assert.deepEqual(problems, [], 'no script error in the page');
    for (const chart of ['chart-rate', 'chart-p99', 'chart-jobs', 'chart-data']) {
      assert.equal(await page.locator(`#${chart} canvas`).count(), 1, `${chart} is drawn`);
      assert.ok(Number(await page.locator(`#${chart}`).getAttribute('data-points')) >= 4);
    }
    const dataRow = await page.locator('#services tr[data-service="data"] td').allTextContents();
    assert.match(dataRow[3] ?? '', /ms$/, `a p50 for data: ${dataRow.join(' | ')}`);
    assert.match((await page.locator('#total-processes').textContent()) ?? '', /^1$/);
    const waterfall = await page.locator('#traces details[open] .span').allTextContents();
    assert.ok(
      waterfall.some((span) => /sqlite/.test(span)),
      `database spans in the waterfall: ${waterfall.join(' / ')}`,
    );

    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(statSync(SCREENSHOT).size > 20_000, 'a screenshot with something in it');
    await context.close();
  });
});
