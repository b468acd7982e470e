import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { runTern, spawnTern } from './spawn-tern';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tern-cli-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the tern CLI', () => {
  it('starts all-in-one on embedded defaults, generates and prints the admin key once, and exits 0 on SIGTERM', async () => {
    const dir = dataDir();
    const started = Date.now();
    const tern = await spawnTern(['start', '--port', '0'], { TERN_DATA_DIR: dir });
    const health = await fetch(`${tern.url}/healthz`);
    assert.equal(health.status, 200);
    const startupMs = Date.now() - started;
    assert.ok(startupMs > 0);

    const printed = /\n {2}(\S{43})\n/.exec(tern.stderr.join(''))?.[1];
    assert.ok(printed, 'the generated admin key is printed on first start');
    const again = await runTern(['admin-key'], { TERN_DATA_DIR: dir });
    assert.equal(again.code, 0);
    assert.equal(again.stdout.trim(), printed);

    const system = await fetch(`${tern.url}/v1/admin/system`, {
      headers: { authorization: `Bearer ${printed}` },
    });
    assert.equal(system.status, 200);
    const status = (await system.json()) as {
      services: string[];
      adapters: Record<string, string>;
      migrations: Record<string, number[]>;
    };
    assert.deepEqual(status.adapters, {
      store: 'sqlite',
      cache: 'memory',
      queue: 'sqlite',
      rateLimit: 'memory',
    });
    assert.deepEqual(status.migrations['tern.outbox'], [1, 2, 3]);
    assert.deepEqual(status.migrations['tern.idempotency'], [1]);
    assert.equal((await fetch(`${tern.url}/v1/admin/system`)).status, 401);

    assert.equal(await tern.stop('SIGTERM'), 0, tern.stderr.join(''));
    const logLines = tern.stdout
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'));
    assert.ok(logLines.some((line) => JSON.parse(line).msg === 'stopped'));
    assert.ok(!tern.stdout.join('').includes(printed), 'the key never reaches the log stream');

    const second = await spawnTern(['start', '--port', '0'], { TERN_DATA_DIR: dir });
    assert.doesNotMatch(second.stderr.join(''), /Generated an admin key/);
    assert.equal(await second.stop('SIGINT'), 0, second.stderr.join(''));
  });

  it('serves auth on embedded defaults: a verification code sent after sign-up can be read with `tern mail`', async () => {
    const dir = dataDir();
    const tern = await spawnTern(['start', '--port', '0'], { TERN_DATA_DIR: dir });
    try {
      const signup = await fetch(`${tern.url}/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'cli-reader@example.com', password: 'correct horse' }),
      });
      assert.equal(signup.status, 201);
      const { accessToken } = (await signup.json()) as { accessToken: string };
      const requested = await fetch(`${tern.url}/v1/auth/verify-email/request`, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}` },
      });
      assert.equal(requested.status, 202);
      let printed = '';
      for (let attempt = 0; attempt < 50 && !/Confirm your email/.test(printed); attempt++) {
        printed = (await runTern(['mail', '--to', 'CLI-Reader@example.com'], { TERN_DATA_DIR: dir })).stdout;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(printed, /to cli-reader@example\.com/);
      const code = /\n {2}([A-Za-z0-9_-]{43})\n/.exec(printed)?.[1];
      assert.ok(code, printed);
      const confirmed = await fetch(`${tern.url}/v1/auth/verify-email/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: code }),
      });
      assert.equal(confirmed.status, 200);
    } finally {
      assert.equal(await tern.stop('SIGTERM'), 0, tern.stderr.join(''));
    }
  });

  it('hosts a single service with --service and refuses an unknown one', async () => {
    const dir = dataDir();
    const tern = await spawnTern(['start', '--service', 'system', '--port', '0'], { TERN_DATA_DIR: dir });
    assert.match(tern.stdout.join(''), /services: system\)/);
    assert.equal(await tern.stop(), 0);

    const unknown = await runTern(['start', '--service', 'nope', '--port', '0'], { TERN_DATA_DIR: dir });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown service nope; known: system/);
  });

  it('stops start-up with one message naming every bad key, without echoing secrets', async () => {
    const result = await runTern(['start'], {
      TERN_DATA_DIR: dataDir(),
      PORT: 'http',
      TERN_LOG_LEVEL: 'chatty',
      TERN_ADMIN_KEY: 'tooshort-but-secret',
      REDIS_URL: 'http://user:redispw@cache',
    });
    assert.equal(result.code, 78);
    for (const key of ['PORT', 'TERN_LOG_LEVEL', 'TERN_ADMIN_KEY', 'REDIS_URL'])
      assert.match(result.stderr, new RegExp(`- ${key}: `));
    assert.match(result.stderr, /4 problems/);
    assert.doesNotMatch(result.stderr, /tooshort-but-secret|redispw/);
  });

  it('prints the configuration reference with secrets redacted', async () => {
    const result = await runTern(['config'], {
      TERN_DATA_DIR: dataDir(),
      DATABASE_URL: 'postgres://u:dbpassword@db/tern',
      TERN_ADMIN_KEY: 'a'.repeat(40),
    });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /DATABASE_URL/);
    assert.match(result.stdout, /"store": "postgres postgres:\/\/\[redacted\]@db\/tern"/);
    assert.doesNotMatch(result.stdout, /dbpassword/);
  });

  it('exits 1 with the reason, instead of hanging, when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const started = Date.now();
      const result = await runTern(['start', '--port', String(port)], {
        TERN_DATA_DIR: dataDir(),
        TERN_HOST: '127.0.0.1',
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /EADDRINUSE/);
      assert.match(result.stderr, /Generated an admin key/, 'the key of a failed first start is still shown');
      assert.ok(Date.now() - started < 15_000);
    } finally {
      blocker.close();
    }
  });

  it('answers unknown commands and flags with usage and exit code 2', async () => {
    assert.equal((await runTern(['frobnicate'], {})).code, 2);
    const badFlag = await runTern(['start', '--colour'], {});
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Usage: tern/);
  });
});
