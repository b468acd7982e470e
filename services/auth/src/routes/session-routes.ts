import { defineRoute, Type, type Route } from '@tern/runtime';
import { authErrors } from '../auth-errors';
import { actorOf, liveSession, signedInBody, type AuthCore } from '../auth-core';
import { Done, OpaqueToken, SessionBody, SignedIn } from '../auth-schemas';
import { userStore } from '../user-store';

/** Refresh-token rotation and the user's view and control of their device sessions. */
export function sessionRoutes(core: AuthCore): Route[] {
  const { store } = core.deps;

  return [
    defineRoute({
      method: 'POST',
      url: '/v1/auth/refresh',
      summary: 'Trades a refresh token for a new token pair; the presented token is used up.',
      description:
        'Presenting a token again within the grace window returns the same pair (a retried request); later, it revokes the whole session (401 auth/refresh-reused).',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Object({ refreshToken: OpaqueToken }, { additionalProperties: false }),
        response: { 200: SignedIn },
      },
    }).handle(async ({ body }, ctx) => {
      const activeKid = core.keys.active().kid;
      const outcome = await store.transaction((tx) =>
        core.sessions.refresh(tx, body.refreshToken, activeKid),
      );
      if (outcome.kind === 'invalid') throw authErrors.invalidRefreshToken();
      if (outcome.kind === 'reused') {
        ctx.log.warn(
          { userId: outcome.userId, sessionId: outcome.sessionId },
          'refresh token reused; session revoked',
        );
        await core.audit.record(store, actorOf(ctx), {
          type: 'session.refresh-reused',
          userId: outcome.userId,
          sessionId: outcome.sessionId,
        });
        throw authErrors.refreshReused();
      }
      const user = await userStore.byId(store, outcome.userId);
      if (!user || user.disabled) throw authErrors.invalidRefreshToken();
      const body_ = await signedInBody(
        core,
        user,
        { sessionId: outcome.sessionId, refreshToken: outcome.refreshToken },
        { issuedAt: outcome.issuedAt, kid: outcome.kid },
      );
      return { status: 200, body: body_ };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/logout',
      summary: 'Ends this session: its refresh token stops working at once, its access token at expiry.',
      tags: ['auth'],
      access: 'user',
      schema: { response: { 200: Done } },
    }).handle(async (_input, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      await store.transaction(async (tx) => {
        await core.sessions.revoke(tx, caller.id, caller.sessionId, 'logout');
        await core.audit.record(tx, actorOf(ctx), {
          type: 'session.revoked',
          userId: caller.id,
          sessionId: caller.sessionId,
          details: { reason: 'logout' },
        });
      });
      return { status: 200, body: { status: 'ok' as const } };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/logout-all',
      summary: 'Ends every session of the signed-in user, this one included.',
      tags: ['auth'],
      access: 'user',
      schema: { response: { 200: Type.Object({ status: Type.Literal('ok'), revoked: Type.Integer() }) } },
    }).handle(async (_input, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const revoked = await store.transaction(async (tx) => {
        const count = await core.sessions.revokeAll(tx, caller.id, 'logout-all');
        await core.audit.record(tx, actorOf(ctx), {
          type: 'session.revoked-all',
          userId: caller.id,
          sessionId: caller.sessionId,
          details: { reason: 'logout-all', count },
        });
        return count;
      });
      return { status: 200, body: { status: 'ok' as const, revoked } };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/auth/sessions',
      summary: "The signed-in user's live sessions, newest first.",
      tags: ['auth'],
      access: 'user',
      schema: { response: { 200: Type.Object({ items: Type.Array(SessionBody) }) } },
    }).handle(async (_input, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const sessions = await core.sessions.list(store, caller.id);
      return {
        status: 200,
        body: {
          items: sessions.map((session) => ({ ...session, current: session.id === caller.sessionId })),
        },
      };
    }),

    defineRoute({
      method: 'DELETE',
      url: '/v1/auth/sessions/:id',
      summary: 'Ends one of the signed-in user’s sessions (sign out a lost device).',
      tags: ['auth'],
      access: 'user',
      schema: {
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) }),
        response: { 200: Done },
      },
    }).handle(async ({ params }, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const revoked = await store.transaction(async (tx) => {
        const done = await core.sessions.revoke(tx, caller.id, params.id, 'revoked-by-user');
        if (done) {
          await core.audit.record(tx, actorOf(ctx), {
            type: 'session.revoked',
            userId: caller.id,
            sessionId: params.id,
            details: { reason: 'revoked-by-user', by: caller.sessionId },
          });
        }
        return done;
      });
      // Someone else's session answers like a missing one: ids of other users' sessions are not confirmed.
      if (!revoked) throw authErrors.sessionNotFound();
      return { status: 200, body: { status: 'ok' as const } };
    }),

    defineRoute({
      method: 'GET',
      url: '/.well-known/jwks.json',
      summary: 'Public keys that verify access tokens (EdDSA, Ed25519).',
      tags: ['auth'],
      access: 'public',
      schema: {
        response: {
          200: Type.Object({
            keys: Type.Array(
              Type.Object({
                kty: Type.String(),
                crv: Type.String(),
                x: Type.String(),
                kid: Type.String(),
                alg: Type.String(),
                use: Type.String(),
              }),
            ),
          }),
        },
      },
    }).handle(async () => ({
      status: 200,
      body: core.keys.jwks() as never,
      // Short: a rotated key must reach verifiers well within an access token's lifetime.
      headers: { 'cache-control': 'public, max-age=300' },
    })),
  ];
}
