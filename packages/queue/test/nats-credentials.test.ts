import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, Registry, type Telemetry } from '@tern/telemetry';
import { waitFor } from '@tern/testing';
import { createNatsQueue } from '@tern/queue';
import { natsServerOptions } from '../src/nats-server-options';

const NATS_SERVER = '/usr/sbin/nats-server';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/** A throwaway JetStream server demanding `auth` (nats-server flags), for the duration of `body`. */
async function withAuthServer(auth: string[], body: (port: number) => Promise<void>): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tern-nats-auth-'));
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), ...auth, '-js', '-sd', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    let ready = false;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes('Server is ready')) ready = true;
    });
    await waitFor(() => ready, { what: 'nats-server to start' });
    await body(port);
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Telemetry that keeps every log line (debug and up) as text, to search for leaked secrets. */
function recordingTelemetry(): { telemetry: Telemetry; text: () => string } {
  const lines: string[] = [];
  const destination = { write: (line: string) => void lines.push(line) };
  const log = createLogger({ level: 'debug', service: 'test', instance: 'test', destination });
  return { telemetry: { log, metrics: new Registry() }, text: () => lines.join('') };
}

async function publishAndConsume(url: string, telemetry: Telemetry): Promise<void> {
  const queue = await createNatsQueue({ url, stream: 'TQAUTH' }, telemetry);
  try {
    const received: unknown[] = [];
    const consumer = await queue.consume(
      'jobs.run',
      async (message) => {
        received.push(message.payload);
      },
      { group: 'g' },
    );
    await queue.publish('jobs.run', { hello: 'auth' });
    await waitFor(() => received.length === 1, { what: 'delivery' });
    await consumer.stop();
    assert.deepEqual(received, [{ hello: 'auth' }]);
  } finally {
    await queue.close();
  }
}

// node:test runs what is registered; the returned promises only report completion.
void test('credentials are taken out of the URL; the server list keeps scheme, host and port', () => {
  assert.deepEqual(natsServerOptions('nats://127.0.0.1:4222'), { servers: 'nats://127.0.0.1:4222' });
  assert.deepEqual(natsServerOptions('bus:4222'), { servers: 'bus:4222' });
  assert.deepEqual(natsServerOptions('nats://u:p@bus:4222'), {
    servers: 'nats://bus:4222',
    user: 'u',
    pass: 'p',
  });
  assert.deepEqual(natsServerOptions('tls://u:a%40b%3Ac@bus:4443'), {
    servers: 'tls://bus:4443',
    user: 'u',
    pass: 'a@b:c',
  });
  assert.deepEqual(natsServerOptions('nats://tok@[::1]:4222'), {
    servers: 'nats://[::1]:4222',
    token: 'tok',
  });
  assert.deepEqual(natsServerOptions('u:p@bus:4222'), { servers: 'bus:4222', user: 'u', pass: 'p' });
  assert.throws(
    () => natsServerOptions('nats://u:%zz@bus:4222'),
    (error: unknown) => error instanceof Error && !error.message.includes('%zz'),
  );
});

void test(
  'user and password in the NATS URL authenticate, and never reach a log',
  { timeout: 30_000 },
  async () => {
    // Characters that must be percent-encoded in a URL, to prove they are decoded before use.
    const password = 'pw@sec:ret/1';
    await withAuthServer(['--user', 'tern', '--pass', password], async (port) => {
      const { telemetry, text } = recordingTelemetry();
      await publishAndConsume(`nats://tern:${encodeURIComponent(password)}@127.0.0.1:${port}`, telemetry);
      assert.doesNotMatch(text(), /sec:ret|sec%3Aret/);

      const rejected = await createNatsQueue(
        { url: `nats://tern:wrong-secret@127.0.0.1:${port}`, stream: 'TQAUTH' },
        telemetry,
      ).then(
        async (queue) => {
          await queue.close();
          return undefined;
        },
        (error: unknown) => error,
      );
      assert.ok(rejected instanceof Error, 'a wrong password is refused');
      assert.match(String((rejected as { code?: unknown }).code), /AUTHORIZATION_VIOLATION/);
      assert.doesNotMatch(`${rejected.message} ${JSON.stringify(rejected)}`, /wrong-secret/);
    });
  },
);

void test('a lone user name in the NATS URL is sent as a token', { timeout: 30_000 }, async () => {
  await withAuthServer(['--auth', 's3cret-token'], async (port) => {
    const { telemetry, text } = recordingTelemetry();
    await publishAndConsume(`nats://s3cret-token@127.0.0.1:${port}`, telemetry);
    assert.doesNotMatch(text(), /s3cret-token/);
  });
});
