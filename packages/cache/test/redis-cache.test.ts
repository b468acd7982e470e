import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { createLogger, Registry, type Telemetry } from '@tern/telemetry';
import {
  deleteRedisKeys,
  quietTelemetry,
  startTcpProxy,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
} from '@tern/testing';
import { createCache, createRedisCache } from '@tern/cache';
import { runCacheContract } from '../src/cache.contract';

const admin = new Redis(TEST_REDIS_URL);
after(() => admin.quit());

void runCacheContract('redis cache', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const cache = await createRedisCache({ url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  return {
    cache,
    async cleanup() {
      await cache.close();
      await deleteRedisKeys(keyPrefix);
    },
  };
});

void test('the redis cache keeps every key under its prefix, and two instances share entries', async () => {
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const first = await createCache({ kind: 'redis', url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  const second = await createCache({ kind: 'redis', url: TEST_REDIS_URL, keyPrefix }, quietTelemetry());
  try {
    await first.set('shared:key', { from: 'first' }, 10_000);
    assert.deepEqual(await second.get('shared:key'), { from: 'first' });
    assert.deepEqual(await admin.keys(`${keyPrefix}*`), [`${keyPrefix}shared:key`]);
    const ttl = await admin.pttl(`${keyPrefix}shared:key`);
    assert.ok(ttl > 9_000 && ttl <= 10_000, `pttl ${ttl}`);
  } finally {
    await first.close();
    await second.close();
    assert.equal(await deleteRedisKeys(keyPrefix), 1);
  }
});

void test('creating a redis cache against an unreachable server rejects quickly without leaking the password', async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const telemetry: Telemetry = {
    log: createLogger({ level: 'debug', service: 'test', instance: 'test', destination }),
    metrics: new Registry(),
  };
  const started = Date.now();
  await assert.rejects(
    createRedisCache({ url: 'redis://user:hunter2-secret@127.0.0.1:1', keyPrefix: 'tern_test:' }, telemetry),
    (error: Error) => {
      assert.match(error.message, /127\.0\.0\.1:1/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
  assert.ok(lines.length > 0, 'the connection error is logged');
  for (const line of lines) assert.doesNotMatch(line, /hunter2/);
});

void test('while redis is down the cache fails fast, getOrLoad serves from the loader, and it reconnects', async () => {
  const proxy = await startTcpProxy({
    host: '127.0.0.1',
    port: Number(new URL(TEST_REDIS_URL).port || 6379),
  });
  const keyPrefix = `${uniqueName('tern_test')}:`;
  const telemetry = quietTelemetry();
  const cache = await createRedisCache({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix }, telemetry);
  try {
    await cache.set('k', 'before', 10_000);
    await proxy.stop();

    const started = Date.now();
    await assert.rejects(cache.get('k'));
    await assert.rejects(cache.set('k', 'during', 10_000));
    await assert.rejects(cache.ping());
    assert.equal(await cache.getOrLoad('k', 10_000, async () => 'from source'), 'from source');
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.match(await telemetry.metrics.metrics(), /tern_cache_errors_total\{cache="redis"\} [4-9]/);

    await proxy.start();
    await waitFor(() => cache.ping().then(() => true), { what: 'the cache to reconnect' });
    assert.equal(await cache.get('k'), 'before');
  } finally {
    await cache.close();
    await proxy.close();
    await deleteRedisKeys(keyPrefix);
  }
});
