import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { quietTelemetry } from '@tern/testing';
import { runMailerContract, type ReceivedMail } from '../src/mailer.contract';
import { createSmtpMailer } from '../src/smtp-mailer';

/** A real SMTP server on loopback that keeps what it receives, or refuses every recipient. */
async function startSmtpServer({ refuse = false } = {}) {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refuse) {
        const error = Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
        callback(error);
        return;
      }
      void address;
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const to = session.envelope.rcptTo[0]?.address ?? '';
          received.push({
            to,
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: parsed.html === false ? undefined : parsed.html,
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
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

runMailerContract('smtp (nodemailer → local SMTP server)', async () => {
  const smtp = await startSmtpServer();
  const mailer = createSmtpMailer(
    { url: `smtp://127.0.0.1:${smtp.port}`, from: 'noreply@tern.test' },
    quietTelemetry(),
  );
  return {
    mailer,
    received: async () => smtp.received,
    async cleanup() {
      await mailer.close();
      await smtp.close();
    },
  };
});

it('reports a refusal by the server as permanent and an unreachable server as retryable', async () => {
  const smtp = await startSmtpServer({ refuse: true });
  const refusing = createSmtpMailer(
    { url: `smtp://127.0.0.1:${smtp.port}`, from: 'noreply@tern.test' },
    quietTelemetry(),
  );
  await assert.rejects(refusing.send({ to: 'x@example.com', subject: 's', text: 't' }), {
    code: 'mail/send-failed',
    retryable: false,
  });
  await refusing.close();
  await smtp.close();

  const down = createSmtpMailer(
    { url: 'smtp://user:smtp-secret@127.0.0.1:1', from: 'noreply@tern.test' },
    quietTelemetry(),
  );
  await assert.rejects(
    down.send({ to: 'x@example.com', subject: 's', text: 't' }),
    (error: Error & { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, 'mail/send-failed');
      assert.equal(error.retryable, true);
      assert.doesNotMatch(`${error.message} ${JSON.stringify(error)}`, /smtp-secret/);
      return true;
    },
  );
  await down.close();
});
