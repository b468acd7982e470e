import { defineRoute, Type, type Route } from '@tern/runtime';
import { isUniqueViolation } from '@tern/store';
import { authErrors } from '../auth-errors';
import { actorOf, liveSession, openSession, signedInBody, type AuthCore } from '../auth-core';
import { DeviceName, Email, Password, SignedIn, UserBody } from '../auth-schemas';
import { normalizeEmail } from '../email-address';
import { checkPasswordPolicy, PASSWORD_MAX } from '../password-policy';
import { publicUser, userStore } from '../user-store';

const Credentials = Type.Object(
  { email: Email, password: Password, device: Type.Optional(DeviceName) },
  { additionalProperties: false },
);

/** Sign-up, sign-in, anonymous accounts and their upgrade, and the user's own profile. */
export function accountRoutes(core: AuthCore): Route[] {
  const { store } = core.deps;

  return [
    defineRoute({
      method: 'POST',
      url: '/v1/auth/signup',
      summary: 'Creates an account with email and password and signs it in.',
      tags: ['auth'],
      access: 'public',
      schema: { body: Credentials, response: { 201: SignedIn } },
    }).handle(async ({ body }, ctx) => {
      const email = normalizeEmail(body.email);
      const password = checkPasswordPolicy(body.password);
      if (await userStore.byEmail(store, email)) throw authErrors.emailTaken();
      const passwordHash = await core.hasher.hash(password, ctx.signal);
      const result = await store
        .transaction(async (tx) => {
          const user = await userStore.create(tx, { email, passwordHash, anonymous: false });
          const session = await openSession(core, tx, ctx, {
            userId: user.id,
            method: 'password',
            device: body.device,
            audit: 'user.signup',
            details: { method: 'password' },
          });
          return { user, session };
        })
        .catch((error: unknown) => {
          // Two sign-ups with one address at once: the second loses on the unique index.
          throw isUniqueViolation(error) ? authErrors.emailTaken() : error;
        });
      return { status: 201, body: await signedInBody(core, result.user, result.session) };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/login',
      summary: 'Signs in with email and password.',
      description:
        'A wrong password and an unknown email answer alike (401 auth/invalid-credentials) and take as long. Repeated failures back off per account and per client address (429 with Retry-After).',
      tags: ['auth'],
      access: 'public',
      schema: { body: Credentials, response: { 200: SignedIn } },
    }).handle(async ({ body }, ctx) => {
      const email = normalizeEmail(body.email);
      if ([...body.password].length > PASSWORD_MAX) throw authErrors.invalidCredentials();
      const password = body.password.normalize('NFC');
      const attempt = await core.throttle.begin(email, ctx.ip);
      const user = await userStore.byEmail(store, email);
      const matches = user?.passwordHash
        ? await core.hasher.verify(user.passwordHash, password, ctx.signal)
        : (await core.hasher.verifyDummy(password, ctx.signal), false);
      if (!user || !matches) {
        await attempt.failed();
        await core.audit.record(store, actorOf(ctx), {
          type: 'user.login-failed',
          userId: user?.id ?? null,
          details: { reason: user ? 'wrong-password' : 'unknown-email' },
        });
        throw authErrors.invalidCredentials();
      }
      await attempt.succeeded();
      if (user.disabled) throw authErrors.accountDisabled();
      const passwordHash = user.passwordHash;
      if (passwordHash && core.hasher.needsRehash(passwordHash)) {
        // Parameters were raised since this hash was made: upgrade it now that we have the password.
        await userStore.setPassword(store, user.id, await core.hasher.hash(password, ctx.signal));
      }
      const session = await store.transaction((tx) =>
        openSession(core, tx, ctx, {
          userId: user.id,
          method: 'password',
          device: body.device,
          audit: 'user.login',
          details: { method: 'password' },
        }),
      );
      return { status: 200, body: await signedInBody(core, user, session) };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/anonymous',
      summary: 'Creates an anonymous account and signs it in; link it to an email later with /link.',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Optional(
          Type.Object({ device: Type.Optional(DeviceName) }, { additionalProperties: false }),
        ),
        response: { 201: SignedIn },
      },
    }).handle(async ({ body }, ctx) => {
      const result = await store.transaction(async (tx) => {
        const user = await userStore.create(tx, { email: null, passwordHash: null, anonymous: true });
        const session = await openSession(core, tx, ctx, {
          userId: user.id,
          method: 'anonymous',
          device: body?.device,
          audit: 'user.anonymous-created',
        });
        return { user, session };
      });
      return { status: 201, body: await signedInBody(core, result.user, result.session) };
    }),

    defineRoute({
      method: 'POST',
      url: '/v1/auth/link',
      summary: 'Upgrades the signed-in anonymous account to email and password, keeping its id and data.',
      description: 'The anonymous session ends; the answer carries tokens of a new session.',
      tags: ['auth'],
      access: 'user',
      schema: { body: Credentials, response: { 200: SignedIn } },
    }).handle(async ({ body }, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const email = normalizeEmail(body.email);
      const password = checkPasswordPolicy(body.password);
      const current = await userStore.byId(store, caller.id);
      if (!current) throw authErrors.userNotFound();
      if (!current.anonymous) throw authErrors.notAnonymous();
      if (await userStore.byEmail(store, email)) throw authErrors.emailTaken();
      const passwordHash = await core.hasher.hash(password, ctx.signal);
      const result = await store
        .transaction(async (tx) => {
          // The session may have ended while the password was hashed (logout, reuse detected).
          if (!(await core.sessions.revoke(tx, caller.id, caller.sessionId, 'linked'))) {
            throw authErrors.sessionEnded();
          }
          const user = await userStore.link(tx, caller.id, email, passwordHash);
          if (!user) throw authErrors.notAnonymous();
          const session = await openSession(core, tx, ctx, {
            userId: user.id,
            method: 'password',
            device: body.device,
            audit: 'user.linked',
            details: { method: 'password', previousSessionId: caller.sessionId },
          });
          return { user, session };
        })
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? authErrors.emailTaken() : error;
        });
      return { status: 200, body: await signedInBody(core, result.user, result.session) };
    }),

    defineRoute({
      method: 'GET',
      url: '/v1/auth/me',
      summary: 'The signed-in user.',
      tags: ['auth'],
      access: 'user',
      schema: { response: { 200: UserBody } },
    }).handle(async (_input, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      const user = await userStore.byId(store, caller.id);
      if (!user) throw authErrors.userNotFound();
      return { status: 200, body: publicUser(user) };
    }),

    defineRoute({
      method: 'PATCH',
      url: '/v1/auth/me',
      summary: "Changes the signed-in user's display fields.",
      description:
        'Only displayName, avatarUrl and locale; any other field is refused (400), so roles cannot be set here.',
      tags: ['auth'],
      access: 'user',
      schema: {
        body: Type.Object(
          {
            displayName: Type.Optional(
              Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()]),
            ),
            avatarUrl: Type.Optional(
              Type.Union([Type.String({ maxLength: 2048, pattern: '^https://[^\\s]+$' }), Type.Null()]),
            ),
            locale: Type.Optional(
              Type.Union([
                Type.String({ pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$', maxLength: 35 }),
                Type.Null(),
              ]),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserBody },
      },
    }).handle(async ({ body }, ctx) => {
      const caller = await liveSession(core, ctx.identity);
      if (typeof body.displayName === 'string' && /[\p{Cc}\p{Cf}]/u.test(body.displayName)) {
        throw authErrors.invalidProfile(
          'displayName must not contain control or invisible formatting characters.',
        );
      }
      const user = await userStore.updateProfile(store, caller.id, {
        ...(body.displayName !== undefined
          ? { displayName: body.displayName?.normalize('NFC') ?? null }
          : {}),
        ...(body.avatarUrl !== undefined ? { avatarUrl: body.avatarUrl } : {}),
        ...(body.locale !== undefined ? { locale: body.locale } : {}),
      });
      if (!user) throw authErrors.userNotFound();
      return { status: 200, body: publicUser(user) };
    }),
  ];
}
