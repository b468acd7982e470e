import { defineRoute, Type, type Route } from '@tern/runtime';
import { authErrors } from '../auth-errors';
import { actorOf, currentAdmin, type AuthCore } from '../auth-core';
import { AdminUserBody, SessionBody } from '../auth-schemas';
import { normalizeEmail } from '../email-address';
import { userStore, type UserWithSecret } from '../user-store';

// Claims land in every access token: bounded, and never shadowing a registered claim.
const RESERVED_CLAIMS = new Set(['sub', 'roles', 'sid', 'anon', 'exp', 'iat', 'nbf', 'iss', 'aud', 'jti']);
const MAX_CLAIMS_BYTES = 1024;

const UserId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });

/** Administrators manage users' roles, claims and access, and read the audit log. */
export function adminRoutes(core: AuthCore): Route[] {
  const { store, mailer } = core.deps;

  async function adminView(user: UserWithSecret) {
    const { passwordHash, ...rest } = user;
    return {
      ...rest,
      hasPassword: passwordHash !== null,
      identities: await userStore.identities(store, user.id),
    };
  }

  const routes: Route[] = [
    defineRoute({
      method: 'GET',
      url: '/v1/admin/users',
      summary: 'Lists users, optionally the one with an email address.',
      tags: ['admin'],
      access: 'admin',
      schema: {
        querystring: Type.Object(
          {
            email: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
            cursor: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9-]+$' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(AdminUserBody),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    }).handle(async ({ query }, ctx) => {
      await currentAdmin(core, ctx.identity);
      const page = await userStore.list(store, {
        ...(query.email !== undefined ? { email: normalizeEmail(query.email) } : {}),
        ...(query.cursor !== undefined ? { after: query.cursor } : {}),
        limit: query.limit ?? 50,
      });
      return {
        status: 200,
        body: { items: await Promise.all(page.items.map(adminView)), nextCursor: page.nextCursor },
      };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/users/:id',
      summary: 'One user, with roles, claims and linked providers.',
      tags: ['admin'],
      access: 'admin',
      schema: { params: UserId, response: { 200: AdminUserBody } },
    }).handle(async ({ params }, ctx) => {
      await currentAdmin(core, ctx.identity);
      const user = await userStore.byId(store, params.id);
      if (!user) throw authErrors.userNotFound();
      return { status: 200, body: await adminView(user) };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/users/:id/sessions',
      summary: "A user's live sessions, newest first (for support, and the user's data export).",
      tags: ['admin'],
      access: 'admin',
      schema: { params: UserId, response: { 200: Type.Object({ items: Type.Array(SessionBody) }) } },
    }).handle(async ({ params }, ctx) => {
      await currentAdmin(core, ctx.identity);
      if (!(await userStore.byId(store, params.id))) throw authErrors.userNotFound();
      const sessions = await core.sessions.list(store, params.id);
      return { status: 200, body: { items: sessions.map((session) => ({ ...session, current: false })) } };
    }),

    defineRoute({
      method: 'PATCH',
      url: '/v1/admin/users/:id',
      summary: "Sets a user's roles, custom claims or disabled flag.",
      description:
        'Roles and claims reach access tokens at the next refresh. Disabling ends every session of the user.',
      tags: ['admin'],
      access: 'admin',
      schema: {
        params: UserId,
        body: Type.Object(
          {
            roles: Type.Optional(
              Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), {
                maxItems: 20,
                uniqueItems: true,
              }),
            ),
            claims: Type.Optional(
              // A pattern key compiles to patternProperties only: without additionalProperties: false,
              // names that do not match it would be accepted.
              Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,31}$' }), Type.Unknown(), {
                additionalProperties: false,
              }),
            ),
            disabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: AdminUserBody },
      },
    }).handle(async ({ params, body }, ctx) => {
      await currentAdmin(core, ctx.identity);
      if (body.claims !== undefined) {
        const reserved = Object.keys(body.claims).filter((name) => RESERVED_CLAIMS.has(name));
        if (reserved.length) throw authErrors.invalidClaims(`Reserved claim names: ${reserved.join(', ')}.`);
        if (Buffer.byteLength(JSON.stringify(body.claims)) > MAX_CLAIMS_BYTES) {
          throw authErrors.invalidClaims(`Claims must serialise to at most ${MAX_CLAIMS_BYTES} bytes.`);
        }
      }
      const user = await store.transaction(async (tx) => {
        const before = await userStore.byId(tx, params.id);
        if (!before) throw authErrors.userNotFound();
        const after = await userStore.updateByAdmin(tx, params.id, body);
        if (!after) throw authErrors.userNotFound();
        const revoked = body.disabled === true ? await core.sessions.revokeAll(tx, params.id, 'disabled') : 0;
        await core.audit.record(tx, actorOf(ctx), {
          type: 'user.updated-by-admin',
          userId: params.id,
          details: {
            by: ctx.identity.kind === 'user' ? ctx.identity.id : 'admin-key',
            ...(body.roles !== undefined ? { rolesBefore: before.roles, rolesAfter: after.roles } : {}),
            ...(body.claims !== undefined ? { claimsChanged: Object.keys(body.claims) } : {}),
            ...(body.disabled !== undefined ? { disabled: body.disabled, sessionsRevoked: revoked } : {}),
          },
        });
        return after;
      });
      return { status: 200, body: await adminView(user) };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/admin/audit',
      summary:
        'Security events, newest first: sign-ins, failures, refresh reuse, resets, role changes, revocations.',
      tags: ['admin'],
      access: 'admin',
      schema: {
        querystring: Type.Object(
          {
            userId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' })),
            type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z.-]+$' })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                at: Type.String(),
                type: Type.String(),
                userId: Type.Union([Type.String(), Type.Null()]),
                sessionId: Type.Union([Type.String(), Type.Null()]),
                ip: Type.Union([Type.String(), Type.Null()]),
                userAgent: Type.Union([Type.String(), Type.Null()]),
                requestId: Type.Union([Type.String(), Type.Null()]),
                details: Type.Record(Type.String(), Type.Unknown()),
              }),
            ),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    }).handle(async ({ query }, ctx) => {
      await currentAdmin(core, ctx.identity);
      const page = await core.audit.list(store, {
        ...(query.userId !== undefined ? { userId: query.userId } : {}),
        ...(query.type !== undefined ? { type: query.type } : {}),
        ...(query.cursor !== undefined ? { before: Number(query.cursor) } : {}),
        limit: query.limit ?? 50,
      });
      return { status: 200, body: page };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/admin/auth/keys/rotate',
      summary:
        'Makes a new signing key sign access tokens now; older keys keep verifying until their tokens expire.',
      tags: ['admin'],
      access: 'admin',
      schema: { response: { 200: Type.Object({ kid: Type.String() }) } },
    }).handle(async (_input, ctx) => {
      await currentAdmin(core, ctx.identity);
      const kid = await core.keys.rotate();
      await core.audit.record(store, actorOf(ctx), { type: 'keys.rotated', details: { kid } });
      return { status: 200, body: { kid } };
    }),
  ];

  if (mailer.kind === 'recording') {
    const recording = mailer;
    routes.push(
      defineRoute({
        method: 'GET',
        url: '/v1/admin/mail',
        summary:
          'Development only: the mail the embedded transport recorded instead of sending (newest last).',
        tags: ['admin'],
        access: 'admin',
        schema: {
          querystring: Type.Object(
            {
              to: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  id: Type.String(),
                  from: Type.String(),
                  to: Type.String(),
                  subject: Type.String(),
                  text: Type.String(),
                  sentAt: Type.String(),
                }),
              ),
            }),
          },
        },
      }).handle(async ({ query }, ctx) => {
        await currentAdmin(core, ctx.identity);
        return {
          status: 200,
          body: {
            items: await recording.list({
              ...(query.to !== undefined ? { to: query.to.trim().toLowerCase() } : {}),
              limit: query.limit ?? 50,
            }),
          },
        };
      }),
    );
  }
  return routes;
}
