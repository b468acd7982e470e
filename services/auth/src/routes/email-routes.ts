import { defineRoute, Type, type RequestContext, type Route } from '@tern/runtime';
import { authErrors } from '../auth-errors';
import { actorOf, liveSession, type AuthCore } from '../auth-core';
import { AUTH_MAIL_TOPIC, type AuthMailRequest } from '../auth-mail';
import { Accepted, Done, Email, OpaqueToken, Password } from '../auth-schemas';
import { normalizeEmail } from '../email-address';
import { oneTimeTokenStore } from '../one-time-token-store';
import { checkPasswordPolicy } from '../password-policy';
import { userStore } from '../user-store';

// Mail costs money and annoys people: a few per hour per account, and per client address.
const MAILS_PER_ACCOUNT = { limit: 5, windowMs: 3_600_000 };
const MAILS_PER_ADDRESS = { limit: 30, windowMs: 3_600_000 };

/** Email verification and password reset, by single-use tokens sent through the queue. */
export function emailRoutes(core: AuthCore): Route[] {
  const { store, outbox, rateLimit } = core.deps;

  /**
   * Queues a mail after the rate limits per account and per client address allow it (a few an
   * hour: mail costs money and annoys people). Answers the route's 202.
   */
  async function requestMail(
    kind: string,
    accountKey: string,
    ctx: RequestContext,
    request: AuthMailRequest,
  ) {
    const [account, address] = await Promise.all([
      rateLimit.consume(`auth:mail:${kind}:acct:${accountKey}`, MAILS_PER_ACCOUNT),
      rateLimit.consume(`auth:mail:${kind}:ip:${ctx.ip}`, MAILS_PER_ADDRESS),
    ]);
    if (!account.allowed || !address.allowed) {
      throw authErrors.tooManyRequests(Math.max(account.retryAfterMs, address.retryAfterMs));
    }
    // One row: the store's own autocommit is the transaction.
    await outbox.add(store, {
      topic: AUTH_MAIL_TOPIC,
      payload: request,
      headers: { 'x-request-id': ctx.requestId },
    });
    return { status: 202 as const, body: { status: 'accepted' as const } };
  }

  return [
    defineRoute({
      method: 'POST',
      url: '/v1/auth/verify-email/request',
      summary: 'Mails the signed-in user a code confirming their address.',
      tags: ['auth'],
      access: 'user',
      schema: { response: { 202: Accepted } },
    }).handle(async (_input, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const user = await userStore.byId(store, caller.id);
      if (!user) throw authErrors.userNotFound();
      if (!user.email) throw authErrors.noEmail();
      if (user.emailVerified) throw authErrors.alreadyVerified();
      return requestMail('verify', user.id, ctx, {
        purpose: 'verify-email',
        userId: user.id,
        email: user.email,
      });
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/verify-email/confirm',
      summary: 'Confirms an address with the code from the mail.',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Object({ token: OpaqueToken }, { additionalProperties: false }),
        response: { 200: Done },
      },
    }).handle(async ({ body }, ctx) => {
      await store.transaction(async (tx) => {
        const target = await oneTimeTokenStore.consume(tx, 'verify-email', body.token);
        // The address changed after the mail went out: the code confirms nothing any more.
        if (!target || !(await userStore.markEmailVerified(tx, target.userId, target.email))) {
          throw authErrors.invalidOneTimeToken();
        }
        await core.audit.record(tx, actorOf(ctx), { type: 'user.email-verified', userId: target.userId });
      });
      return { status: 200, body: { status: 'ok' as const } };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/password-reset/request',
      summary: 'Mails a reset code to the address, if an account has it.',
      description: 'Answers 202 whether or not the address has an account, so it reveals nothing.',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Accepted },
      },
    }).handle(async ({ body }, ctx) => {
      const email = normalizeEmail(body.email);
      // The same work whether or not the address has an account: the consumer finds out.
      return requestMail('reset', email, ctx, { purpose: 'reset-password', email, actor: actorOf(ctx) });
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/password-reset/confirm',
      summary: 'Sets a new password with the code from the mail; every session of the account ends.',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Object({ token: OpaqueToken, password: Password }, { additionalProperties: false }),
        response: { 200: Done },
      },
    }).handle(async ({ body }, ctx) => {
      const password = checkPasswordPolicy(body.password);
      const passwordHash = await core.hasher.hash(password, ctx.signal);
      await store.transaction(async (tx) => {
        const target = await oneTimeTokenStore.consume(tx, 'reset-password', body.token);
        if (!target) throw authErrors.invalidOneTimeToken();
        const user = await userStore.byId(tx, target.userId);
        if (!user || user.email !== target.email) throw authErrors.invalidOneTimeToken();
        await userStore.setPassword(tx, user.id, passwordHash);
        // The mail reached its owner, who has now proved they read it.
        await userStore.markEmailVerified(tx, user.id, target.email);
        const revoked = await core.sessions.revokeAll(tx, user.id, 'password-reset');
        await core.audit.record(tx, actorOf(ctx), {
          type: 'user.password-reset',
          userId: user.id,
          details: { sessionsRevoked: revoked },
        });
      });
      return { status: 200, body: { status: 'ok' as const } };
    }),
  ];
}
