import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mailer } from './mailer';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string | undefined;
}

export interface MailerFixture {
  mailer: Mailer;
  /** What actually arrived: the recorded file, or what the SMTP server received. */
  received(): Promise<ReceivedMail[]>;
  cleanup(): Promise<void>;
}

/** One suite for every transport: a message sent is a message received, exactly as written. */
export function runMailerContract(name: string, open: () => Promise<MailerFixture>): void {
  describe(`mailer contract: ${name}`, () => {
    let fixture: MailerFixture;
    before(async () => {
      fixture = await open();
    });
    after(async () => {
      await fixture.cleanup();
    });

    it('delivers a message with its recipient, subject, text and html', async () => {
      await fixture.mailer.send({
        to: 'ada@example.com',
        subject: 'Verify your e-mail',
        text: 'Code: 123456',
        html: '<p>Code: <b>123456</b></p>',
      });
      const mail = (await fixture.received()).find((message) => message.to === 'ada@example.com');
      assert.ok(mail);
      assert.equal(mail.subject, 'Verify your e-mail');
      assert.equal(mail.text.trim(), 'Code: 123456');
      assert.equal(mail.html?.trim(), '<p>Code: <b>123456</b></p>');
    });

    it('keeps unicode intact in subject and body', async () => {
      await fixture.mailer.send({
        to: 'zoe@example.com',
        subject: 'Réinitialiser — 密码 ✓',
        text: 'Grüße 👋 naïve',
      });
      const mail = (await fixture.received()).find((message) => message.to === 'zoe@example.com');
      assert.equal(mail?.subject, 'Réinitialiser — 密码 ✓');
      assert.equal(mail?.text.trim(), 'Grüße 👋 naïve');
    });

    it('refuses header injection and malformed recipients before anything is sent', async () => {
      const before = (await fixture.received()).length;
      const bad = [
        { to: 'eve@example.com', subject: 'hi\r\nBcc: all@example.com', text: 'x' },
        { to: 'eve@example.com\r\nBcc: all@example.com', subject: 'hi', text: 'x' },
        { to: 'a@example.com, b@example.com', subject: 'hi', text: 'x' },
        { to: 'not-an-address', subject: 'hi', text: 'x' },
        { to: 'eve@example.com', subject: '', text: 'x' },
        { to: 42 as unknown as string, subject: 'hi', text: 'x' },
        { to: 'eve@example.com', subject: 'hi', text: 'x'.repeat(100_001) },
      ];
      for (const message of bad) {
        await assert.rejects(fixture.mailer.send(message), { code: 'mail/invalid-message', status: 400 });
      }
      assert.equal((await fixture.received()).length, before);
    });

    it('delivers concurrent sends exactly once each', async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          fixture.mailer.send({ to: `user${index}@example.org`, subject: `n${index}`, text: 'x' }),
        ),
      );
      const received = (await fixture.received()).filter((message) => message.to.endsWith('@example.org'));
      assert.deepEqual(
        received.map((message) => message.subject).sort(),
        Array.from({ length: 20 }, (_, index) => `n${index}`).sort(),
      );
    });

    it('answers ping', async () => {
      await fixture.mailer.ping();
    });
  });
}
