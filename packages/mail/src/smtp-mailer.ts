import nodemailer from 'nodemailer';
import { TernError } from '@tern/errors';
import { counter, summarizeError, type Telemetry } from '@tern/telemetry';
import { validateFrom, validateMessage } from './mail-message';
import type { MailMessage, SentMail, SmtpMailer } from './mailer';

/**
 * SMTP through nodemailer, pooled. A refusal by the server (5xx) is permanent and says so; a
 * connection failure or 4xx is retryable, so the job that sends it backs off and tries again.
 */
export function createSmtpMailer(config: { url: string; from: string }, telemetry: Telemetry): SmtpMailer {
  const from = validateFrom(config.from);
  const transport = nodemailer.createTransport(
    config.url.includes('?') ? `${config.url}&pool=true` : `${config.url}?pool=true`,
    {
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    },
  );
  const sent = counter(
    telemetry.metrics,
    'tern_mail_sent_total',
    'Mail messages accepted by the transport.',
    ['transport'],
  );
  const failed = counter(
    telemetry.metrics,
    'tern_mail_failures_total',
    'Mail messages the transport did not accept.',
    ['transport'],
  );

  return {
    kind: 'smtp',
    async send(message: MailMessage): Promise<SentMail> {
      validateMessage(message);
      try {
        const info = await transport.sendMail({ from, ...message });
        sent.inc({ transport: 'smtp' });
        return { id: info.messageId };
      } catch (error) {
        failed.inc({ transport: 'smtp' });
        const responseCode = (error as { responseCode?: number }).responseCode;
        telemetry.log.warn({ err: summarizeError(error), responseCode }, 'smtp send failed');
        throw new TernError({
          code: 'mail/send-failed',
          status: 503,
          title: 'Mail Not Sent',
          detail: `The mail server did not accept the message${responseCode ? ` (${responseCode})` : ''}.`,
          retryable: responseCode === undefined || responseCode < 500,
          details: responseCode ? { responseCode } : {},
        });
      }
    },
    async ping() {
      await transport.verify();
    },
    async close() {
      transport.close();
    },
  };
}
