import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@tern/testing';
import { fixtureService } from './fixture-service';
import { startTestHost } from './start-test-host';

describe('the host', () => {
  it('serves /healthz, /readyz with every dependency checked, and Prometheus /metrics', async () => {
    const t = await startTestHost([fixtureService]);
    try {
      const health = await fetch(`${t.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });

      const ready = await fetch(`${t.url}/readyz`);
      assert.equal(ready.status, 200);
      const readiness = (await ready.json()) as { status: string; checks: Record<string, string> };
      assert.equal(readiness.status, 'ready');
      assert.deepEqual(Object.keys(readiness.checks).sort(), [
        'accepting',
        'cache',
        'migrations',
        'queue',
        'rateLimit',
        'store',
      ]);

      await fetch(`${t.url}/v1/fixture/notes/none`);
      const metrics = await fetch(`${t.url}/metrics`);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await metrics.text();
      assert.match(text, /process_cpu_user_seconds_total/);
      assert.match(text, /nodejs_eventloop_lag_seconds/);
      assert.match(text, /nodejs_eventloop_utilization\{[^}]*\} (0(\.\d+)?|1)$/m);
      assert.match(
        text,
        /tern_http_request_duration_seconds_count\{.*route="\/v1\/fixture\/notes\/:id".*status="404"/,
      );
      assert.doesNotMatch(text, /route="\/v1\/fixture\/notes\/none"/);
    } finally {
      await t.close();
    }
  });

  it('puts the request id on every log line of a request and never logs credentials', async () => {
    const t = await startTestHost([fixtureService]);
    try {
      const response = await fetch(`${t.url}/v1/fixture/notes`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': 'req-abc-123',
          authorization: `Bearer ${t.adminKey}`,
        },
        body: JSON.stringify({ id: 'log1', text: 'hello' }),
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('x-request-id'), 'req-abc-123');
      const lines = t.logs.filter((line) => line.requestId === 'req-abc-123');
      assert.ok(
        lines.some((line) => line.msg === 'creating note'),
        'handler log line carries the request id',
      );
      assert.ok(
        lines.some(
          (line) => line.msg === 'request' && line.status === 201 && line.route === '/v1/fixture/notes',
        ),
      );
      for (const line of lines) assert.equal(line.service, 'tern');
      assert.equal(lines.find((line) => line.msg === 'creating note')?.component, 'fixture');
      assert.ok(!t.rawLogs.some((line) => line.includes(t.adminKey)), 'admin key never logged');
    } finally {
      await t.close();
    }
  });

  it("logs a service's lines at its own level (TERN_LOG_LEVELS), over the process's", async () => {
    const post = (t: { url: string }, id: string) =>
      fetch(`${t.url}/v1/fixture/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `req-${id}` },
        body: JSON.stringify({ id, text: 'hello' }),
      });
    const quiet = await startTestHost([fixtureService], { TERN_LOG_LEVEL: 'warn' });
    const chatty = await startTestHost([fixtureService], {
      TERN_LOG_LEVEL: 'warn',
      TERN_LOG_LEVELS: 'fixture=info',
    });
    try {
      assert.equal((await post(quiet, 'lvl1')).status, 201);
      assert.equal((await post(chatty, 'lvl2')).status, 201);
      assert.ok(!quiet.logs.some((line) => line.msg === 'creating note'), 'info is below warn');
      const line = chatty.logs.find((entry) => entry.msg === 'creating note');
      assert.equal(line?.component, 'fixture');
      assert.equal(line?.requestId, 'req-lvl2');
      assert.match(String(line?.traceId), /^[0-9a-f]{32}$/);
      // The process's own lines stay at its level.
      assert.ok(!chatty.logs.some((entry) => entry.msg === 'request'));
    } finally {
      await Promise.all([quiet.close(), chatty.close()]);
    }
  });

  it('serves the OpenAPI 3.1 document built from route schemas, and a reference page at /docs', async () => {
    const t = await startTestHost([fixtureService]);
    try {
      const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, Record<string, { requestBody?: unknown; security?: unknown }>>;
      };
      assert.equal(doc.openapi, '3.1.0');
      assert.ok(doc.paths['/v1/fixture/notes']?.post?.requestBody);
      assert.ok(doc.paths['/v1/admin/fixture']?.get?.security);
      assert.ok(doc.paths['/healthz']);
      const page = await fetch(`${t.url}/docs`, { redirect: 'follow' });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
    } finally {
      await t.close();
    }
  });

  it('drains on stop: in-flight requests finish, new ones are refused, stop is not forced', async () => {
    const t = await startTestHost([fixtureService], { TERN_SHUTDOWN_TIMEOUT_MS: '5000' });
    const slow = fetch(`${t.url}/v1/fixture/slow?ms=600`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = t.host.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const late = await fetch(`${t.url}/healthz`).then(
      (response) => response.status,
      () => 'refused',
    );
    assert.ok(late === 503 || late === 'refused', `a request after stop began got ${late}`);
    const response = await slow;
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { waitedMs: 600 });
    assert.deepEqual(await stopping, { forced: false });
    await t.close();
  });

  it('drains on stop: a queue handler already running finishes before the process closes', async () => {
    const t = await startTestHost([fixtureService], { TERN_SHUTDOWN_TIMEOUT_MS: '5000' });
    const response = await fetch(`${t.url}/v1/fixture/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'job-req-1' },
      body: JSON.stringify({ ms: 700 }),
    });
    assert.equal(response.status, 202);
    await waitFor(() => t.logs.some((line) => line.msg === 'slow job started'), { what: 'the job to start' });
    assert.deepEqual(await t.host.stop(), { forced: false });
    const finished = t.logs.find((line) => line.msg === 'slow job finished');
    assert.ok(finished, 'the running job finished before stop resolved');
    assert.equal(finished.requestId, 'job-req-1', 'the job logs under the request id that queued it');
    await t.close();
  });

  it('with a shutdown delay, turns /readyz 503 but keeps serving before it drains', async () => {
    const t = await startTestHost([fixtureService], { TERN_SHUTDOWN_DELAY_MS: '600' });
    const stopping = t.host.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ready = await fetch(`${t.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.accepting, 'draining');
    assert.equal(
      (await fetch(`${t.url}/v1/fixture/notes/none`)).status,
      404,
      'still serving during the delay',
    );
    assert.deepEqual(await stopping, { forced: false });
    await t.close();
  });

  it('cuts in-flight work at the shutdown deadline and reports it as forced', async () => {
    const t = await startTestHost([fixtureService], { TERN_SHUTDOWN_TIMEOUT_MS: '200' });
    const slow = fetch(`${t.url}/v1/fixture/slow?ms=3000`).catch(() => 'cut');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await t.host.stop(), { forced: true });
    assert.equal(await slow, 'cut');
    await t.close();
  });

  it('answers requests that outlive TERN_REQUEST_TIMEOUT_MS with 503 runtime/timeout', async () => {
    const t = await startTestHost([fixtureService], { TERN_REQUEST_TIMEOUT_MS: '150' });
    try {
      const response = await fetch(`${t.url}/v1/fixture/slow?ms=1000`);
      assert.equal(response.status, 503);
      const problem = (await response.json()) as { code: string; retryable: boolean };
      assert.equal(problem.code, 'runtime/timeout');
      assert.equal(problem.retryable, true, 'a timed-out read may be retried');
    } finally {
      await t.close();
    }
  });
});
