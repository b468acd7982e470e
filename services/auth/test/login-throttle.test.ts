import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uniqueName } from '@tern/testing';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type Client,
  type Shape,
  type TestInfrastructure,
} from './auth-test-host';

// Brute-force protection of password sign-in: per account 5 wrong passwords, then the account
// backs off; per client address 30. Every request here comes from 127.0.0.1.

const FREE_ACCOUNT_FAILURES = 5;
const FREE_ADDRESS_FAILURES = 30;
const PASSWORD = 'correct horse battery';
const WRONG = 'wrong horse battery';

interface Running {
  infrastructure: TestInfrastructure;
  hosts: AuthTestHost[];
  apis: Client[];
}

/** Runs `body` against `count` hosts sharing one infrastructure, and cleans up whatever happens. */
async function withHosts(shape: Shape, count: number, body: (running: Running) => Promise<void>) {
  const infrastructure = await createTestInfrastructure(shape);
  const hosts: AuthTestHost[] = [];
  try {
    for (let i = 0; i < count; i++) hosts.push(await startAuthHost(infrastructure));
    await body({ infrastructure, hosts, apis: hosts.map((host) => client(host.url)) });
  } finally {
    await Promise.allSettled(hosts.map((host) => host.close()));
    await infrastructure.cleanup();
  }
}

function login(api: Client, email: string, password: string, userAgent = 'tern-throttle-test') {
  return api.call('POST', '/v1/auth/login', {
    body: { email, password },
    headers: { 'user-agent': userAgent },
  });
}

type Answer = Awaited<ReturnType<typeof login>>;

function assertInvalidCredentials(answer: Answer, attempt: string) {
  assert.equal(answer.status, 401, `${attempt}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.code, 'auth/invalid-credentials', attempt);
}

function assertThrottled(answer: Answer, attempt: string) {
  assert.equal(answer.status, 429, `${attempt}: ${JSON.stringify(answer.body)}`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json\b/);
  assert.equal(answer.body.code, 'auth/too-many-attempts', attempt);
  assert.equal(answer.body.retryable, true);
  const retryAfter = answer.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^\d+$/, `${attempt}: Retry-After is whole seconds, got ${retryAfter}`);
  assert.ok(Number(retryAfter) >= 1, `${attempt}: Retry-After ${retryAfter} is at least 1`);
  assert.equal(answer.body.retryAfterSeconds, Number(retryAfter), 'the body and the header agree');
}

/** The statuses of `attempts` sign-ins with a wrong password, one after another. */
async function statusesOfWrongAttempts(api: Client, email: string, attempts: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i++) statuses.push((await login(api, email, WRONG)).status);
  return statuses;
}

describe('login throttle, embedded', () => {
  it('after 5 wrong passwords the next attempt gets 429 auth/too-many-attempts with Retry-After ≥ 1, even with the right password', async () => {
    await withHosts('embedded', 1, async ({ apis: [api] }) => {
      assert.ok(api);
      const user = await api.signup(`${uniqueName('victim')}@example.com`, PASSWORD);
      for (let i = 1; i <= FREE_ACCOUNT_FAILURES; i++) {
        assertInvalidCredentials(await login(api, user.email, WRONG), `wrong password #${i}`);
      }
      assertThrottled(await login(api, user.email, PASSWORD), 'the right password after 5 wrong ones');
      assertThrottled(await login(api, user.email, WRONG), 'another wrong password while blocked');
    });
  });

  it('an unknown email is throttled exactly like a known one: the same status sequence', async () => {
    await withHosts('embedded', 1, async ({ apis: [api] }) => {
      assert.ok(api);
      const known = await api.signup(`${uniqueName('known')}@example.com`, PASSWORD);
      const attempts = FREE_ACCOUNT_FAILURES + 2;
      const knownStatuses = await statusesOfWrongAttempts(api, known.email, attempts);
      const unknownStatuses = await statusesOfWrongAttempts(
        api,
        `${uniqueName('nobody')}@example.com`,
        attempts,
      );
      assert.deepEqual(unknownStatuses, knownStatuses);
      assert.deepEqual(knownStatuses, [401, 401, 401, 401, 401, 429, 429]);
    });
  });

  it("a different account from the same address is not blocked by the first account's failures", async () => {
    await withHosts('embedded', 1, async ({ apis: [api] }) => {
      assert.ok(api);
      const blocked = await api.signup(`${uniqueName('blocked')}@example.com`, PASSWORD);
      const other = await api.signup(`${uniqueName('other')}@example.com`, PASSWORD);
      await statusesOfWrongAttempts(api, blocked.email, FREE_ACCOUNT_FAILURES);
      assertThrottled(await login(api, blocked.email, PASSWORD), 'the blocked account');
      // The address has 5 failures of its 30: the other account signs in, and its typos are its own.
      assertInvalidCredentials(await login(api, other.email, WRONG), 'a typo on the other account');
      const signedIn = await login(api, other.email, PASSWORD);
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
      assert.equal(signedIn.body.user.id, other.user.id);
    });
  });

  it('an address gets 30 failed attempts across different accounts, then even a right password from it gets 429', async () => {
    await withHosts('embedded', 1, async ({ apis: [api] }) => {
      assert.ok(api);
      const user = await api.signup(`${uniqueName('bystander')}@example.com`, PASSWORD);
      // One failure per account, so no account backs off: only the address counts.
      for (let i = 1; i <= FREE_ADDRESS_FAILURES; i++) {
        assertInvalidCredentials(
          await login(api, `${uniqueName(`stuffed${i}`)}@example.com`, WRONG),
          `stuffed credential #${i}`,
        );
      }
      assertThrottled(await login(api, user.email, PASSWORD), 'a right password from the same address');
    });
  });

  it('a successful sign-in forgets the account’s earlier failures', async () => {
    await withHosts('embedded', 1, async ({ apis: [api] }) => {
      assert.ok(api);
      const user = await api.signup(`${uniqueName('typo')}@example.com`, PASSWORD);
      await statusesOfWrongAttempts(api, user.email, FREE_ACCOUNT_FAILURES - 1);
      assert.equal((await login(api, user.email, PASSWORD)).status, 200);
      const statuses = await statusesOfWrongAttempts(api, user.email, FREE_ACCOUNT_FAILURES);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401], 'the count started again from zero');
    });
  });
});

describe('login throttle, production shape (PostgreSQL, Redis, NATS)', () => {
  it('guesses sent in parallel to two instances cannot outrun the throttle: at most 5 are checked', async () => {
    await withHosts('production', 2, async ({ apis }) => {
      const [first, second] = apis as [Client, Client];
      const user = await first.signup(`${uniqueName('burst')}@example.com`, PASSWORD);
      const answers = await Promise.all(
        Array.from({ length: 25 }, (_, i) => login(i % 2 === 0 ? first : second, user.email, WRONG)),
      );
      const checked = answers.filter((answer) => answer.status === 401).length;
      const throttled = answers.filter((answer) => answer.status === 429).length;
      assert.equal(checked + throttled, 25, JSON.stringify(answers.map((answer) => answer.status)));
      assert.ok(checked >= 1 && checked <= FREE_ACCOUNT_FAILURES, `${checked} passwords were checked`);
    });
  });

  it('failures spread over two instances add up: the 6th attempt gets 429 on either instance, and the audit log has every failure with ip and user agent', async () => {
    await withHosts('production', 2, async ({ hosts, apis: [first, second] }) => {
      assert.ok(first && second && hosts[0]);
      assert.notEqual(hosts[0].url, hosts[1]?.url);
      const user = await first.signup(`${uniqueName('shared')}@example.com`, PASSWORD);
      for (let i = 1; i <= FREE_ACCOUNT_FAILURES; i++) {
        const api = i % 2 === 1 ? first : second;
        const userAgent = `tern-throttle-test/1.0 (attempt ${i}, instance ${i % 2 === 1 ? 'A' : 'B'})`;
        assertInvalidCredentials(await login(api, user.email, WRONG, userAgent), `wrong password #${i}`);
      }
      assertThrottled(await login(second, user.email, PASSWORD), 'the 6th attempt, on instance B');
      assertThrottled(await login(first, user.email, PASSWORD), 'the 6th attempt again, on instance A');

      const audit = await first.call(
        'GET',
        `/v1/admin/audit?type=user.login-failed&userId=${encodeURIComponent(user.user.id)}`,
        { token: hosts[0].adminKey },
      );
      assert.equal(audit.status, 200, JSON.stringify(audit.body));
      const items = audit.body.items as {
        type: string;
        userId: string;
        ip: string | null;
        userAgent: string | null;
        requestId: string | null;
        details: Record<string, unknown>;
      }[];
      assert.equal(
        items.length,
        FREE_ACCOUNT_FAILURES,
        'one record per failure, none for throttled attempts',
      );
      // Newest first.
      assert.deepEqual(
        items.map((item) => item.userAgent),
        [5, 4, 3, 2, 1].map(
          (i) => `tern-throttle-test/1.0 (attempt ${i}, instance ${i % 2 === 1 ? 'A' : 'B'})`,
        ),
      );
      for (const item of items) {
        assert.equal(item.type, 'user.login-failed');
        assert.equal(item.userId, user.user.id);
        assert.equal(item.ip, '127.0.0.1');
        assert.equal(typeof item.requestId, 'string');
        assert.deepEqual(item.details, { reason: 'wrong-password' });
      }
    });
  });
});
