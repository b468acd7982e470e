import type { Secret } from '@tern/config';
import type { MailMessage } from '@tern/mail';
import { request } from 'undici';

/** How auth hands a rendered mail to the jobs service: one `email.send` job per mail. */
export interface MailJobs {
  /**
   * Resolves once the jobs service has stored the job (its 202); throws when it did not, so the
   * caller's queue message is retried. `key` makes a repeated submit of one mail a single job.
   */
  submit(message: MailMessage, key: string, requestId: string | undefined): Promise<void>;
}

const TIMEOUT_MS = 10_000;

/**
 * Submits mails as `email.send` jobs through the public API (`POST /v1/jobs`, at the gateway or
 * this process) with the admin credential: services never import each other, and the jobs
 * service is the one that talks to the mail server, with its retries and dead letters.
 */
export function createMailJobs(options: { adminKey: Secret; apiUrl(): string | undefined }): MailJobs {
  return {
    async submit(message, key, requestId) {
      const base = options.apiUrl();
      if (!base) throw new Error('the API URL is not known yet');
      const answer = await request(`${base}/v1/jobs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${options.adminKey.reveal()}`,
          'content-type': 'application/json',
          accept: 'application/json',
          ...(requestId ? { 'x-request-id': requestId } : {}),
        },
        body: JSON.stringify({ type: 'email.send', payload: message, idempotencyKey: key }),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      const text = await answer.body.text();
      if (answer.statusCode === 202) return;
      // The code only, never the text: the answer could echo the mail, and the mail holds a code.
      let code = '';
      try {
        code = String((JSON.parse(text) as { code?: unknown }).code ?? '');
      } catch {
        // not JSON: the status says enough
      }
      if (answer.statusCode === 404 && code.endsWith('route-not-found')) {
        throw new Error('the jobs service is not deployed: POST /v1/jobs has no route');
      }
      throw new Error(`POST /v1/jobs answered ${answer.statusCode} ${code}`.trim());
    },
  };
}
