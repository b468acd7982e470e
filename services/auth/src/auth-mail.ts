import type { AuthConfig } from '@tern/config';
import type { QueueConsumer } from '@tern/runtime';
import type { Store } from '@tern/store';
import type { AuditActor, AuditLog } from './audit-log';
import type { MailJobs } from './mail-jobs';
import { oneTimeTokenStore, ONE_TIME_TOKEN_TTL_MS, type OneTimePurpose } from './one-time-token-store';
import { digest } from './session-store';
import { userStore } from './user-store';

export const AUTH_MAIL_TOPIC = 'auth.mail';

/**
 * What goes through the queue: who to mail and why, never the code itself. A reset names only
 * the address: the account is looked up here, in the background, so the request takes the same
 * path whether or not an account has that address.
 */
export type AuthMailRequest =
  | { purpose: 'verify-email'; userId: string; email: string }
  | { purpose: 'reset-password'; email: string; actor: AuditActor };

/**
 * Makes verification and reset mails from the queue and hands each to the jobs service as an
 * `email.send` job, which sends it with its retries and dead letters. The code is made here, as
 * late as possible, so no usable code sits in the outbox or auth's queue; the job that carries
 * it is a secret payload, redacted once sent. A redelivery makes a fresh code and retires the
 * previous one, so only the newest mail's link works.
 */
export function createAuthMailConsumer(deps: {
  store: Store;
  mailJobs: MailJobs;
  config: AuthConfig;
  audit: AuditLog;
}): QueueConsumer<AuthMailRequest> {
  return {
    topic: AUTH_MAIL_TOPIC,
    concurrency: 4,
    maxDeliveries: 8,
    async handle(message, ctx) {
      const request = message.payload;
      const user =
        request.purpose === 'verify-email'
          ? await userStore.byId(deps.store, request.userId)
          : await userStore.byEmail(deps.store, request.email);
      // No such account, or it changed since the request: there is nothing to send.
      if (!user || user.email !== request.email || user.disabled) {
        ctx.log.info({ purpose: request.purpose }, 'auth mail dropped: no account matches');
        return;
      }
      if (request.purpose === 'verify-email' && user.emailVerified) return;
      const token = await deps.store.transaction(async (tx) => {
        if (request.purpose === 'reset-password') {
          await deps.audit.record(tx, request.actor, {
            type: 'user.password-reset-requested',
            userId: user.id,
          });
        }
        return oneTimeTokenStore.issue(tx, request.purpose, user.id, request.email);
      });
      // Keyed by the code's digest: a resubmit of this mail is one job, a new code another.
      await deps.mailJobs.submit(
        render(request.purpose, request.email, token, deps.config.linkUrl),
        `auth-mail:${digest(token)}`,
        message.headers['x-request-id'],
      );
      ctx.log.info({ purpose: request.purpose, userId: user.id }, 'auth mail handed to the jobs service');
    },
  };
}

function render(purpose: OneTimePurpose, to: string, token: string, linkUrl: string | undefined) {
  const hours = Math.round(ONE_TIME_TOKEN_TTL_MS[purpose] / 3_600_000);
  const link = linkUrl
    ? `${linkUrl}${linkUrl.includes('?') ? '&' : '?'}purpose=${purpose}&token=${token}`
    : undefined;
  const how = link ? `Open this link:\n\n  ${link}\n\nor enter this code` : 'Enter this code';
  if (purpose === 'verify-email') {
    return {
      to,
      subject: 'Confirm your email address',
      text: `${how} in the app to confirm your email address:\n\n  ${token}\n\nIt works once and expires in ${hours} hours. If you did not sign up, ignore this mail.\n`,
    };
  }
  return {
    to,
    subject: 'Reset your password',
    text: `${how} in the app to choose a new password:\n\n  ${token}\n\nIt works once and expires in ${hours} hour${hours === 1 ? '' : 's'}. Resetting signs you out everywhere. If you did not ask for this, ignore this mail: your password is unchanged.\n`,
  };
}
