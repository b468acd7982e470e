import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authService } from '@tern/auth';
import { dataService } from '@tern/data';
import { createJobsService, PermanentJobError, type JobType } from '@tern/jobs';
import { deleteNatsStreams, TEST_NATS_URL, uniqueName, waitFor } from '@tern/testing';
import { NOTES_SCHEMA, startDataHost, type DataHost, type Json } from './data-host';

const WEBHOOK_SECRET = 'jobs-test-webhook-secret-0123456789';

/** What the test job types did, by key: how many times each ran (effects of at-least-once delivery). */
const effects = new Map<string, number>();
const failing = new Set<string>();

const testTypes: JobType<never>[] = [
  {
    type: 'test.count',
    description: 'Counts a run under its key.',
    access: 'user',
    payloadSchema: {
      type: 'object',
      required: ['key'],
      additionalProperties: false,
      properties: { key: { type: 'string', maxLength: 100 } },
    },
    async run(payload: { key: string }) {
      effects.set(payload.key, (effects.get(payload.key) ?? 0) + 1);
      return { counted: payload.key };
    },
  } as JobType<{ key: string }> as JobType<never>,
  {
    type: 'test.flaky',
    description: 'Fails while its key is in `failing`.',
    access: 'user',
    maxAttempts: 3,
    payloadSchema: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } },
    async run(payload: { key: string }, ctx) {
      if (failing.has(payload.key)) throw new Error(`still failing (attempt ${ctx.attempt})`);
      return { ok: true };
    },
  } as JobType<{ key: string }> as JobType<never>,
  {
    type: 'test.permanent',
    description: 'Fails for good.',
    access: 'user',
    payloadSchema: { type: 'object' },
    async run() {
      throw new PermanentJobError('this cannot work');
    },
  },
  {
    type: 'test.secret',
    description: 'A secret payload; fails while its key is in `failing`.',
    access: 'user',
    secretPayload: true,
    maxAttempts: 1,
    payloadSchema: {
      type: 'object',
      required: ['key', 'code'],
      properties: { key: { type: 'string' }, code: { type: 'string' } },
    },
    async run(payload: { key: string; code: string }) {
      if (failing.has(payload.key)) throw new Error('not yet');
      effects.set(`${payload.key}:${payload.code}`, (effects.get(`${payload.key}:${payload.code}`) ?? 0) + 1);
      return { sent: true };
    },
  } as JobType<{ key: string; code: string }> as JobType<never>,
  {
    type: 'test.role',
    description: 'Only for users with the "ops" role.',
    access: { role: 'ops' },
    payloadSchema: { type: 'object' },
    async run() {
      return null;
    },
  },
];

const jobs = { name: 'jobs', create: (deps: never) => createJobsService(deps, { extraTypes: testTypes }) };

for (const shape of ['embedded', 'production'] as const) {
  describe(`jobs (${shape})`, () => {
    let host: DataHost;
    const stream = uniqueName('JOBS').toUpperCase();
    let webhooks: Server;
    let webhookUrl = '';
    /** What the webhook receiver got, and what it answers next (by path). */
    const received: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
    const answers = new Map<string, number[]>();

    before(async () => {
      webhooks = createServer((request, response) => {
        let body = '';
        request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        request.on('end', () => {
          const path = (request.url ?? '/').split('?')[0] as string;
          received.push({ path, headers: request.headers, body });
          const status = answers.get(path)?.shift() ?? 200;
          response.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve) => webhooks.listen(0, '127.0.0.1', resolve));
      webhookUrl = `http://127.0.0.1:${(webhooks.address() as AddressInfo).port}`;
      host = await startDataHost(
        shape,
        {
          TERN_WEBHOOK_SECRET: WEBHOOK_SECRET,
          TERN_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
          // Production: PostgreSQL and NATS JetStream; embedded: SQLite for both.
          ...(shape === 'production' ? { NATS_URL: TEST_NATS_URL, TERN_NATS_STREAM: stream } : {}),
        },
        [authService, dataService, jobs as never],
      );
    });
    after(async () => {
      await host?.close();
      webhooks?.close();
      if (shape === 'production') await deleteNatsStreams(stream);
    });

    const admin = () => host.adminKey;
    async function settled(
      id: string,
      token = admin(),
      statuses = ['succeeded', 'failed', 'dead', 'cancelled'],
    ) {
      return waitFor(
        async () => {
          const answer = await host.call('GET', `/v1/jobs/${id}`, { token });
          return statuses.includes(answer.body.status as string) ? answer.body : undefined;
        },
        { timeoutMs: 20_000, what: `job ${id} to settle` },
      );
    }

    /** Rows as stored, read straight from the database (SQLite file or PostgreSQL). */
    async function storedRows(sql: string, params: unknown[]): Promise<Json[]> {
      if (host.databaseUrl) {
        const client = new pg.Client({ connectionString: host.databaseUrl });
        await client.connect();
        try {
          return (await client.query(sql, params)).rows as Json[];
        } finally {
          await client.end();
        }
      }
      const db = new Database(join(host.dir, 'tern.db'), { readonly: true });
      try {
        // Each $n once and in order, as in the statements here.
        return db.prepare(sql.replace(/\$\d+/g, '?')).all(...params) as Json[];
      } finally {
        db.close();
      }
    }
    const storedPayload = async (id: string) =>
      JSON.parse(
        (await storedRows('SELECT payload FROM jobs WHERE id = $1', [id]))[0]?.payload as string,
      ) as Json;

    it('accepts a job with 202 and its status URL, runs it, and shows the result', async () => {
      const user = await host.signup();
      const key = uniqueName('count');
      const accepted = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'test.count', payload: { key } },
      });
      assert.equal(accepted.status, 202, accepted.text);
      assert.equal(accepted.body.status, 'queued');
      assert.equal(accepted.body.statusUrl, `/v1/jobs/${accepted.body.id}`);
      assert.equal(accepted.headers.get('location'), accepted.body.statusUrl);
      const job = await settled(accepted.body.id as string, user.token);
      assert.equal(job.status, 'succeeded');
      assert.equal(job.attempts, 1);
      assert.deepEqual(job.result, { counted: key });
      assert.equal(job.lastError, null);
      assert.ok(Date.parse(job.finishedAt as string) >= Date.parse(job.startedAt as string));
      assert.equal(effects.get(key), 1);
    });

    it('sends email.send for services only (the admin credential), and redacts its payload once sent', async () => {
      const user = await host.signup();
      const to = `${uniqueName('mail')}@example.com`;
      const mail = { to, subject: 'Your report', text: 'It is ready: code 123456.' };
      const refused = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'email.send', payload: mail },
      });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'jobs/forbidden');
      // Not even an app user with the admin role: mail goes out as the app.
      const email = `${uniqueName('op')}@example.com`;
      const operator = await host.call('POST', '/v1/auth/signup', {
        body: { email, password: 'correct horse' },
      });
      const promoted = await host.call('PATCH', `/v1/admin/users/${operator.body.user.id}`, {
        token: admin(),
        body: { roles: ['admin'] },
      });
      assert.equal(promoted.status, 200, promoted.text);
      const login = await host.call('POST', '/v1/auth/login', { body: { email, password: 'correct horse' } });
      assert.deepEqual(login.body.user.roles, ['admin']);
      const byOperator = await host.call('POST', '/v1/jobs', {
        token: login.body.accessToken as string,
        body: { type: 'email.send', payload: mail },
      });
      assert.equal(byOperator.status, 403, byOperator.text);
      const anonymous = await host.call('POST', '/v1/jobs', { body: { type: 'email.send', payload: mail } });
      assert.equal(anonymous.status, 401);

      const accepted = await host.call('POST', '/v1/jobs', {
        token: admin(),
        body: { type: 'email.send', payload: mail },
      });
      assert.equal(accepted.status, 202, accepted.text);
      assert.equal((await settled(accepted.body.id as string)).status, 'succeeded');
      const recorded = readFileSync(join(host.dir, 'mail.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Json)
        .filter((entry) => entry.to === to);
      assert.equal(recorded.length, 1);
      assert.equal(recorded[0]?.subject, 'Your report');
      assert.deepEqual(await storedPayload(accepted.body.id as string), { redacted: true });
      const shown = await host.call('GET', `/v1/jobs/${accepted.body.id}`, { token: admin() });
      assert.doesNotMatch(shown.text, /123456/);
    });

    it('keeps a secret payload out of sight: hidden in dead letters, kept for a replay, redacted when done', async () => {
      const user = await host.signup();
      const key = uniqueName('secret');
      failing.add(key);
      const accepted = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'test.secret', payload: { key, code: 'c0de-777' } },
      });
      assert.equal(accepted.status, 202, accepted.text);
      const id = accepted.body.id as string;
      assert.equal((await settled(id)).status, 'dead');
      const dead = await host.call('GET', `/v1/admin/jobs/dead/${id}`, { token: admin() });
      assert.equal(dead.status, 200, dead.text);
      assert.deepEqual(dead.body.payload, { redacted: true });
      assert.doesNotMatch(dead.text, /c0de-777/);
      const listed = await host.call('GET', '/v1/admin/jobs/dead?type=test.secret', { token: admin() });
      assert.doesNotMatch(listed.text, /c0de-777/);
      assert.equal((await storedPayload(id)).code, 'c0de-777', 'a dead letter keeps it, to be replayed');

      failing.delete(key);
      const replay = await host.call('POST', `/v1/admin/jobs/dead/${id}/replay`, { token: admin() });
      assert.equal(replay.status, 202, replay.text);
      await waitFor(async () => (await settled(id)).status === 'succeeded', {
        what: 'the replay to succeed',
      });
      assert.equal(effects.get(`${key}:c0de-777`), 1, 'the replay ran with the payload as accepted');
      assert.deepEqual(await storedPayload(id), { redacted: true });

      const later = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: {
          type: 'test.secret',
          payload: { key, code: 'never-run' },
          runAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      });
      const cancelled = await host.call('DELETE', `/v1/jobs/${later.body.id}`, { token: user.token });
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.deepEqual(await storedPayload(later.body.id as string), { redacted: true });
    });

    it('applies role rules, and shows users only their own jobs', async () => {
      const [ada, bob] = [await host.signup(), await host.signup()];
      const role = await host.call('POST', '/v1/jobs', {
        token: ada.token,
        body: { type: 'test.role', payload: {} },
      });
      assert.equal(role.status, 403);
      assert.equal(
        (await host.call('POST', '/v1/jobs', { token: admin(), body: { type: 'test.role', payload: {} } }))
          .status,
        202,
      );

      const mine = await host.call('POST', '/v1/jobs', {
        token: ada.token,
        body: { type: 'test.count', payload: { key: uniqueName('own') } },
      });
      const id = mine.body.id as string;
      assert.equal((await host.call('GET', `/v1/jobs/${id}`, { token: ada.token })).status, 200);
      const other = await host.call('GET', `/v1/jobs/${id}`, { token: bob.token });
      assert.equal(other.status, 404);
      assert.equal(other.body.code, 'jobs/not-found');
      assert.equal((await host.call('DELETE', `/v1/jobs/${id}`, { token: bob.token })).status, 404);
      assert.equal((await host.call('GET', `/v1/jobs/${id}`, { token: admin() })).status, 200);
    });

    it('refuses bad input at accept time with 4xx problem+json', async () => {
      const user = await host.signup();
      const post = (body: unknown, token: string = admin()) => host.call('POST', '/v1/jobs', { token, body });
      const cases: [unknown, number, string][] = [
        [{ type: 'no.such-type', payload: {} }, 400, 'jobs/unknown-type'],
        [{ type: 'test.count', payload: { key: 42 } }, 400, 'jobs/invalid-payload'],
        [{ type: 'test.count', payload: { key: 'k', extra: true } }, 400, 'jobs/invalid-payload'],
        [{ type: 'test.count', payload: { key: 'x'.repeat(70_000) } }, 400, 'jobs/payload-too-large'],
        [{ type: 'test.count', payload: { key: 'k' }, runAt: 'tomorrow' }, 400, 'jobs/invalid-run-at'],
        [
          { type: 'test.count', payload: { key: 'k' }, runAt: '2026-13-45T99:00:00Z' },
          400,
          'jobs/invalid-run-at',
        ],
        [
          { type: 'test.count', payload: { key: 'k' }, runAt: '2999-01-01T00:00:00Z' },
          400,
          'jobs/invalid-run-at',
        ],
        [
          { type: 'test.count', payload: { key: 'k' }, runAt: '2026-12-01T09:00:00' },
          400,
          'jobs/invalid-run-at',
        ],
        [{ type: 42, payload: {} }, 400, 'runtime/validation-failed'],
        [{ payload: {} }, 400, 'runtime/validation-failed'],
        [{ type: 'test.count', payload: { key: 'k' }, surprise: 1 }, 400, 'runtime/validation-failed'],
        [
          { type: 'webhook.deliver', payload: { url: 'http://10.0.0.1/hook', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          {
            type: 'webhook.deliver',
            payload: { url: 'http://169.254.169.254/latest', event: 'e', data: {} },
          },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'http://[::1]:8080/', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'http://localhost/', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'http://[::ffff:192.168.1.1]/', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'ftp://example.com/', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'https://u:p@example.com/', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [
          { type: 'webhook.deliver', payload: { url: 'not a url at all', event: 'e', data: {} } },
          400,
          'jobs/refused-url',
        ],
        [{ type: "'; DROP TABLE jobs; --", payload: {} }, 400, 'jobs/unknown-type'],
      ];
      for (const [body, status, code] of cases) {
        const answer = await post(body);
        assert.equal(answer.status, status, `${JSON.stringify(body).slice(0, 120)} → ${answer.text}`);
        assert.equal(answer.body.code, code, JSON.stringify(body).slice(0, 120));
        assert.match(answer.contentType, /application\/problem\+json/);
      }
      const garbage = await host.call('POST', '/v1/jobs', {
        token: user.token,
        raw: '{"type": "test.count", ',
      });
      assert.equal(garbage.status, 400);
      for (const id of ['nope', '../../etc/passwd', '%00', 'x'.repeat(200)]) {
        const answer = await host.call('GET', `/v1/jobs/${encodeURIComponent(id)}`, { token: user.token });
        assert.ok(answer.status === 400 || answer.status === 404, `${id} → ${answer.status}`);
        assert.ok(answer.body.code, answer.text);
      }
      // The webhook that was refused was never delivered anywhere.
      assert.equal(received.filter((entry) => entry.path === '/hook').length, 0);
    });

    it('runs a delayed job when due, and cancels one that has not started', async () => {
      const user = await host.signup();
      const key = uniqueName('later');
      const runAt = new Date(Date.now() + 1_500).toISOString();
      const later = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'test.count', payload: { key }, runAt },
      });
      assert.equal(later.status, 202);
      const cancelKey = uniqueName('cancel');
      const doomed = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: {
          type: 'test.count',
          payload: { key: cancelKey },
          runAt: new Date(Date.now() + 1_500).toISOString(),
        },
      });
      const queued = await host.call('GET', `/v1/jobs/${later.body.id}`, { token: user.token });
      assert.equal(queued.body.status, 'queued');
      assert.equal(effects.get(key), undefined);
      const cancelled = await host.call('DELETE', `/v1/jobs/${doomed.body.id}`, { token: user.token });
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.body.status, 'cancelled');
      const done = await settled(later.body.id as string, user.token);
      assert.equal(done.status, 'succeeded');
      assert.ok(
        Date.parse(done.startedAt as string) >= Date.parse(runAt) - 5,
        `${done.startedAt} before ${runAt}`,
      );
      // Cancelling again, or a finished job, is a conflict; the cancelled one never ran.
      const again = await host.call('DELETE', `/v1/jobs/${later.body.id}`, { token: user.token });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'jobs/not-cancellable');
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(effects.get(cancelKey), undefined);
    });

    it('gives back the same job for a repeated idempotency key, and refuses the key for another job', async () => {
      const user = await host.signup();
      const key = uniqueName('idem');
      const body = { type: 'test.count', payload: { key }, idempotencyKey: `k-${key}` };
      const first = await host.call('POST', '/v1/jobs', { token: user.token, body });
      const second = await host.call('POST', '/v1/jobs', { token: user.token, body });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body.id, first.body.id);
      const conflict = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { ...body, payload: { key: 'other' } },
      });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.code, 'jobs/idempotency-conflict');
      // Another user's same key is their own.
      const other = await host.signup();
      const theirs = await host.call('POST', '/v1/jobs', { token: other.token, body });
      assert.notEqual(theirs.body.id, first.body.id);
      await settled(first.body.id as string, user.token);
      await settled(theirs.body.id as string, other.token);
      assert.equal(effects.get(key), 2);
    });

    it('moves a job that always fails to the dead letters with its errors, and a replay runs it again', async () => {
      const user = await host.signup();
      const key = uniqueName('flaky');
      failing.add(key);
      const accepted = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'test.flaky', payload: { key } },
      });
      const dead = await settled(accepted.body.id as string, user.token);
      assert.equal(dead.status, 'dead');
      assert.equal(dead.attempts, 3);
      assert.match(dead.lastError as string, /still failing \(attempt 3\)/);

      assert.equal((await host.call('GET', '/v1/admin/jobs/dead', { token: user.token })).status, 403);
      const list = await host.call('GET', '/v1/admin/jobs/dead?type=test.flaky', { token: admin() });
      assert.equal(list.status, 200, list.text);
      const letter = (list.body.items as Json[]).find((item) => item.id === accepted.body.id);
      assert.ok(letter, 'the dead job is listed');
      assert.deepEqual(
        (letter.errors as Json[]).map((error) => error.attempt),
        [1, 2, 3],
      );
      assert.deepEqual(letter.payload, { key });
      const one = await host.call('GET', `/v1/admin/jobs/dead/${accepted.body.id}`, { token: admin() });
      assert.equal(one.status, 200);
      assert.equal(one.body.owner, `u:${user.id}`);

      failing.delete(key);
      const replay = await host.call('POST', `/v1/admin/jobs/dead/${accepted.body.id}/replay`, {
        token: admin(),
      });
      assert.equal(replay.status, 202, replay.text);
      const revived = await settled(accepted.body.id as string, user.token, ['succeeded', 'dead']);
      assert.equal(revived.status, 'succeeded');
      assert.equal(revived.attempts, 1);
      const notDead = await host.call('POST', `/v1/admin/jobs/dead/${accepted.body.id}/replay`, {
        token: admin(),
      });
      assert.equal(notDead.status, 409);

      // Replay-all and purge.
      const keys = [uniqueName('f'), uniqueName('f')];
      const ids: string[] = [];
      for (const k of keys) {
        failing.add(k);
        const job = await host.call('POST', '/v1/jobs', {
          token: user.token,
          body: { type: 'test.flaky', payload: { key: k } },
        });
        ids.push(job.body.id as string);
      }
      for (const id of ids) assert.equal((await settled(id, user.token)).status, 'dead');
      const all = await host.call('POST', '/v1/admin/jobs/dead/replay?type=test.flaky', { token: admin() });
      assert.equal(all.status, 202);
      assert.ok((all.body.count as number) >= 2);
      for (const id of ids) assert.equal((await settled(id, user.token, ['dead'])).status, 'dead');
      const purged = await host.call('DELETE', '/v1/admin/jobs/dead?type=test.flaky', { token: admin() });
      assert.equal(purged.status, 200);
      assert.ok((purged.body.count as number) >= 2);
      assert.equal((await host.call('GET', `/v1/jobs/${ids[0]}`, { token: user.token })).status, 404);
      for (const k of keys) failing.delete(k);
    });

    it('fails a job at once on a permanent error', async () => {
      const user = await host.signup();
      const accepted = await host.call('POST', '/v1/jobs', {
        token: user.token,
        body: { type: 'test.permanent', payload: {} },
      });
      const job = await settled(accepted.body.id as string, user.token);
      assert.equal(job.status, 'failed');
      assert.equal(job.attempts, 1);
      assert.match(job.lastError as string, /this cannot work/);
    });

    it('delivers a webhook signed with HMAC-SHA256, retries a 5xx, and fails a 4xx for good', async () => {
      const path = `/hooks/${uniqueName('h')}`;
      answers.set(path, [503, 200]);
      const accepted = await host.call('POST', '/v1/jobs', {
        token: admin(),
        body: {
          type: 'webhook.deliver',
          payload: {
            url: `${webhookUrl}${path}?token=secret-query`,
            event: 'order.paid',
            data: { order: 7 },
          },
        },
      });
      assert.equal(accepted.status, 202, accepted.text);
      const job = await settled(accepted.body.id as string);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      assert.equal(job.attempts, 2);
      assert.match(job.lastError === null ? '' : (job.lastError as string), /answered 503/);
      assert.ok(!(job.lastError as string).includes('secret-query'), 'the query string stays out of errors');
      const deliveries = received.filter((entry) => entry.path.startsWith(path));
      assert.equal(deliveries.length, 2);
      for (const delivery of deliveries) {
        const timestamp = delivery.headers['tern-timestamp'] as string;
        const expected = createHmac('sha256', WEBHOOK_SECRET)
          .update(`${timestamp}.${delivery.body}`)
          .digest('hex');
        assert.equal(delivery.headers['tern-signature'], `v1=${expected}`);
        assert.equal(delivery.headers['tern-webhook-id'], accepted.body.id);
        assert.deepEqual(JSON.parse(delivery.body), {
          id: accepted.body.id,
          event: 'order.paid',
          data: { order: 7 },
        });
      }

      const refusing = `/hooks/${uniqueName('r')}`;
      answers.set(refusing, [422]);
      const refused = await host.call('POST', '/v1/jobs', {
        token: admin(),
        body: {
          type: 'webhook.deliver',
          payload: { url: `${webhookUrl}${refusing}`, event: 'e', data: null },
        },
      });
      const failed = await settled(refused.body.id as string);
      assert.equal(failed.status, 'failed');
      assert.match(failed.lastError as string, /refused the delivery with 422/);
    });

    it('fires a recurring schedule once per time, and refuses an invalid cron', async () => {
      const invalid = await host.call('PUT', '/v1/admin/jobs/schedules/broken', {
        token: admin(),
        body: { cron: '61 * * * *', type: 'test.count', payload: { key: 'x' } },
      });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.code, 'jobs/invalid-cron');
      const badZone = await host.call('PUT', '/v1/admin/jobs/schedules/broken', {
        token: admin(),
        body: { cron: '* * * * *', timezone: 'Mars/Olympus', type: 'test.count', payload: { key: 'x' } },
      });
      assert.equal(badZone.status, 400);
      const badPayload = await host.call('PUT', '/v1/admin/jobs/schedules/broken', {
        token: admin(),
        body: { cron: '* * * * *', type: 'test.count', payload: { nope: 1 } },
      });
      assert.equal(badPayload.body.code, 'jobs/invalid-payload');

      const key = uniqueName('cron');
      const name = uniqueName('every-second').toLowerCase();
      const saved = await host.call('PUT', `/v1/admin/jobs/schedules/${name}`, {
        token: admin(),
        body: { cron: '* * * * * *', type: 'test.count', payload: { key } },
      });
      assert.equal(saved.status, 200, saved.text);
      await waitFor(() => (effects.get(key) ?? 0) >= 3, { timeoutMs: 10_000, what: 'three firings' });
      const removed = await host.call('DELETE', `/v1/admin/jobs/schedules/${name}`, { token: admin() });
      assert.equal(removed.status, 200);
      const count = effects.get(key) ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // At most one firing was already on its way when the schedule went.
      assert.ok((effects.get(key) ?? 0) <= count + 1);
      const listed = await host.call('GET', '/v1/admin/jobs/schedules', { token: admin() });
      assert.ok(!(listed.body.items as Json[]).some((item) => item.name === name));
    });

    it('passes over a stored schedule whose payload its type no longer takes, and fires the others', async () => {
      // As after a deploy that tightened a type's schema: the row is written as the old version left it.
      const broken = uniqueName('stale').toLowerCase();
      const key = uniqueName('fresh');
      const past = Date.now() - 1_000;
      const insert = `INSERT INTO job_schedules (name, cron, timezone, type, payload, next_run_at, created_at, updated_at)
        VALUES ($1, '* * * * * *', 'UTC', 'test.count', '{"nope":1}', $2, $2, $2)`;
      if (host.databaseUrl) {
        const client = new pg.Client({ connectionString: host.databaseUrl });
        await client.connect();
        await client.query(insert, [broken, past]);
        await client.end();
      } else {
        const db = new Database(join(host.dir, 'tern.db'));
        db.prepare(insert.replaceAll('$1', '@name').replaceAll('$2', '@at')).run({ name: broken, at: past });
        db.close();
      }
      const good = uniqueName('good').toLowerCase();
      const saved = await host.call('PUT', `/v1/admin/jobs/schedules/${good}`, {
        token: admin(),
        body: { cron: '* * * * * *', type: 'test.count', payload: { key } },
      });
      assert.equal(saved.status, 200, saved.text);
      await waitFor(() => (effects.get(key) ?? 0) >= 2, {
        timeoutMs: 10_000,
        what: 'the good schedule to fire',
      });
      const listed = (await host.call('GET', '/v1/admin/jobs/schedules', { token: admin() })).body
        .items as Json[];
      const stale = listed.find((item) => item.name === broken);
      assert.ok(stale && Date.parse(stale.nextRunAt as string) > past, 'the stale schedule moved on');
      for (const name of [broken, good]) {
        assert.equal(
          (await host.call('DELETE', `/v1/admin/jobs/schedules/${name}`, { token: admin() })).status,
          200,
        );
      }
    });

    it("exports a user's own profile, sessions and documents, downloadable by that user only", async () => {
      const collection = uniqueName('notes')
        .toLowerCase()
        .replace(/[^a-z0-9_]/g, '_');
      const created = await host.call('PUT', `/v1/admin/collections/${collection}`, {
        token: admin(),
        body: { schema: NOTES_SCHEMA },
      });
      assert.equal(created.status, 201, created.text);
      const [ada, bob] = [await host.signup(), await host.signup()];
      for (const [user, title] of [
        [ada, 'ada 1'],
        [ada, 'ada 2'],
        [bob, 'bob 1'],
      ] as const) {
        const note = await host.call('POST', `/v1/data/${collection}`, {
          token: user.token,
          body: { title },
        });
        assert.equal(note.status, 201, note.text);
      }
      const refused = await host.call('POST', '/v1/jobs', {
        token: ada.token,
        body: { type: 'account.export', payload: { everything: true } },
      });
      assert.equal(refused.body.code, 'jobs/invalid-payload');
      const accepted = await host.call('POST', '/v1/jobs', {
        token: ada.token,
        body: { type: 'account.export', payload: {} },
      });
      assert.equal(accepted.status, 202, accepted.text);
      const job = await settled(accepted.body.id as string, ada.token);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      const link = (job.result as Json).downloadUrl as string;
      assert.equal(link, `/v1/jobs/${accepted.body.id}/export`);
      assert.ok(Date.parse((job.result as Json).expiresAt as string) > Date.now() + 3_600_000);

      const file = await host.call('GET', link, { token: ada.token });
      assert.equal(file.status, 200, file.text);
      assert.match(file.headers.get('content-disposition') ?? '', /attachment; filename="tern-export-/);
      assert.equal(file.body.user.id, ada.id);
      assert.ok((file.body.sessions as Json[]).length >= 1);
      const notes = file.body.documents[collection] as Json[];
      assert.deepEqual(notes.map((note) => note.title).sort(), ['ada 1', 'ada 2']);
      assert.ok(notes.every((note) => note.ownerId === ada.id));
      assert.deepEqual(file.body.unavailable, []);

      for (const token of [bob.token, admin()]) {
        const other = await host.call('GET', link, { token });
        assert.equal(other.status, 404);
        assert.equal(other.body.code, 'jobs/export-unavailable');
      }
      assert.equal((await host.call('GET', link)).status, 401);
    });

    it('exports queue depth, lag, attempts and dead letters per job type', async () => {
      const metrics = await (await fetch(`${host.url}/metrics`)).text();
      assert.match(metrics, /tern_jobs_accepted_total\{type="test.count"/);
      assert.match(metrics, /tern_jobs_attempts_total\{type="test.count",outcome="succeeded"/);
      assert.match(metrics, /tern_jobs_duration_seconds_bucket/);
      assert.match(metrics, /tern_jobs_start_delay_seconds_bucket/);
      assert.match(metrics, /# TYPE tern_jobs_queued gauge/);
      assert.match(metrics, /# TYPE tern_jobs_lag_seconds gauge/);
    });
  });
}
