import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTcpProxy, TEST_REDIS_URL, uniqueName, waitFor } from '@tern/testing';
import { fixtureService } from './fixture-service';
import { startTestHost } from './start-test-host';

describe('a dependency outage', () => {
  it('answers 503 runtime/dependency-unavailable and turns /readyz 503 while Redis is cut, and recovers', async () => {
    const redis = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const t = await startTestHost([fixtureService], {
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      TERN_REDIS_KEY_PREFIX: `${uniqueName('outage')}:`,
    });
    try {
      assert.equal((await fetch(`${t.url}/v1/fixture/cached/k`)).status, 200);
      await proxy.stop();

      const response = await fetch(`${t.url}/v1/fixture/cached/k`);
      assert.equal(response.status, 503);
      const problem = (await response.json()) as { code: string; retryable: boolean };
      assert.equal(problem.code, 'runtime/dependency-unavailable');
      assert.equal(problem.retryable, true);

      const ready = await fetch(`${t.url}/readyz`);
      assert.equal(ready.status, 503);
      const readiness = (await ready.json()) as { code: string; checks: Record<string, string> };
      assert.equal(readiness.code, 'runtime/not-ready');
      assert.equal(readiness.checks.cache, 'unreachable');
      assert.equal(readiness.checks.store, 'ok');
      assert.equal((await fetch(`${t.url}/healthz`)).status, 200, 'liveness does not depend on Redis');

      await proxy.start();
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 200, {
        what: 'readiness to recover',
      });
      assert.equal((await fetch(`${t.url}/v1/fixture/cached/k`)).status, 200);
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
