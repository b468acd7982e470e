import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { waitFor } from '@tern/testing';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type TestInfrastructure,
} from './auth-test-host';

interface Delivered {
  to: string;
  subject: string;
  text: string;
}

/** A real SMTP server on loopback; it can refuse the next N messages with a temporary 451. */
async function startSmtpServer() {
  const delivered: Delivered[] = [];
  const state = { refuseNext: 0, refused: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          if (state.refuseNext > 0) {
            state.refuseNext -= 1;
            state.refused += 1;
            callback(Object.assign(new Error('try again later'), { responseCode: 451 }));
            return;
          }
          delivered.push({
            to: session.envelope.rcptTo[0]?.address ?? '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
          });
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  return {
    port,
    delivered,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('auth mail over SMTP (PostgreSQL, Redis, NATS)', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let infrastructure: TestInfrastructure;
  let host: AuthTestHost;

  before(async () => {
    smtp = await startSmtpServer();
    infrastructure = await createTestInfrastructure('production', {
      TERN_MAIL_URL: `smtp://127.0.0.1:${smtp.port}`,
      TERN_MAIL_FROM: 'accounts@example.com',
      TERN_AUTH_LINK_URL: 'https://app.example.com/auth',
    });
    host = await startAuthHost(infrastructure);
  });
  after(async () => {
    await host?.close();
    await infrastructure?.cleanup();
    await smtp?.close();
  });

  it('delivers a reset code through an email.send job to the SMTP server, retrying a temporary refusal, and the code works', async () => {
    const api = client(host.url);
    const account = await api.signup();
    smtp.state.refuseNext = 1;
    const requested = await api.post('/v1/auth/password-reset/request', { email: account.email });
    assert.equal(requested.status, 202, 'accepted at once, sent in the background');
    await waitFor(() => smtp.delivered.some((mail) => mail.to === account.email), { timeoutMs: 20_000 });
    assert.equal(smtp.state.refused, 1, 'the first attempt was refused and retried');
    const mail = smtp.delivered.find((candidate) => candidate.to === account.email) as Delivered;
    assert.equal(mail.subject, 'Reset your password');
    const link = /https:\/\/app\.example\.com\/auth\?purpose=reset-password&token=([A-Za-z0-9_-]{43})/.exec(
      mail.text,
    );
    assert.ok(link?.[1], mail.text);
    const reset = await api.post('/v1/auth/password-reset/confirm', {
      token: link[1],
      password: 'chosen anew',
    });
    assert.equal(reset.status, 200);
    assert.equal(
      (await api.post('/v1/auth/login', { email: account.email, password: 'chosen anew' })).status,
      200,
    );
    // The mail went out as the jobs service's email.send job; the code it carried is not kept there.
    const database = new pg.Client({ connectionString: infrastructure.env.DATABASE_URL });
    await database.connect();
    try {
      const { rows } = await database.query<{ status: string; payload: string; errors: string }>(
        "SELECT status, payload, errors FROM jobs WHERE type = 'email.send'",
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.status, 'succeeded');
      assert.deepEqual(JSON.parse(rows[0]?.payload as string), { redacted: true });
      assert.equal((JSON.parse(rows[0]?.errors as string) as unknown[]).length, 1, 'the refusal, retried');
      assert.ok(!JSON.stringify(rows).includes(link[1]));
    } finally {
      await database.end();
    }
    const recorded = await api.call('GET', '/v1/admin/mail', { token: host.adminKey });
    assert.equal(recorded.status, 404, 'the development mailbox exists only with the recording transport');
  });
});
