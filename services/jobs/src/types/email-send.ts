import { isTernError } from '@tern/errors';
import type { Mailer } from '@tern/mail';
import { PermanentJobError } from '../jobs-errors';
import type { JobType } from '../job-types';

export interface EmailSendPayload {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * `email.send`: one mail through the configured transport (SMTP by nodemailer in production, the
 * recording transport embedded). Services only (the admin credential): no user, not even an
 * admin, may send mail as the app. Auth's verification and reset mails come this way, so the
 * payload may hold a one-time code: it is a secret payload, never shown and redacted once sent. A refusal by the server (5xx, an invalid
 * message) fails the job at once; a connection failure or 4xx is retried. At least once: a worker
 * that dies after the server took the mail and before the job was marked done sends it again.
 */
export function emailSendJob(mailer: Mailer): JobType<EmailSendPayload> {
  return {
    type: 'email.send',
    description: 'Sends one mail.',
    access: 'service',
    secretPayload: true,
    maxAttempts: 8,
    timeoutMs: 30_000,
    payloadSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['to', 'subject', 'text'],
      properties: {
        to: { type: 'string', minLength: 3, maxLength: 320 },
        subject: { type: 'string', minLength: 1, maxLength: 200 },
        text: { type: 'string', maxLength: 60_000 },
        html: { type: 'string', maxLength: 60_000 },
      },
    },
    async run(payload) {
      try {
        const sent = await mailer.send(payload);
        return { messageId: sent.id };
      } catch (error) {
        // An invalid message (400) or a refusal by the server (5xx) will not change by retrying.
        if (isTernError(error) && !error.retryable)
          throw new PermanentJobError(`${error.code}: ${error.message}`);
        throw error;
      }
    },
  };
}
