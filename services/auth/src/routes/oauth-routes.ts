import { defineRoute, Type, type Route } from '@tern/runtime';
import { isUniqueViolation, type Queryable } from '@tern/store';
import { authErrors } from '../auth-errors';
import { openSession, signedInBody, type AuthCore } from '../auth-core';
import { DeviceName, SignedIn } from '../auth-schemas';
import { normalizeEmail } from '../email-address';
import type { ExternalIdentity, OAuthProvider } from '../oauth/id-token-verifier';
import { userStore, type UserWithSecret } from '../user-store';

const PROVIDERS: OAuthProvider[] = ['apple', 'google'];

/** The provider's address in the one spelling accounts are keyed by; an address we would refuse matches nothing. */
function providerEmail(email: string | undefined): string | undefined {
  if (email === undefined) return undefined;
  try {
    return normalizeEmail(email);
  } catch {
    return undefined;
  }
}

/** Sign in with Apple and Google: the app sends the provider's ID token; we verify it and find or make the account. */
export function oauthRoutes(core: AuthCore): Route[] {
  const { store } = core.deps;

  /**
   * The account an external identity belongs to, in this order: the one already linked to it;
   * the signed-in anonymous account, which it upgrades; the account with the same verified email;
   * a new account.
   */
  async function resolveAccount(
    tx: Queryable,
    external: ExternalIdentity,
    anonymousCaller: string | undefined,
  ): Promise<{ user: UserWithSecret; created: boolean; linked: boolean; upgraded?: boolean }> {
    const known = await userStore.byIdentity(tx, external.provider, external.subject);
    if (known) return { user: known, created: false, linked: false };
    const trustedEmail = external.emailVerified ? providerEmail(external.email) : undefined;
    const link = async (user: UserWithSecret) => {
      await userStore.addIdentity(tx, { ...external, userId: user.id, email: external.email });
      return user;
    };

    if (anonymousCaller) {
      const current = await userStore.byId(tx, anonymousCaller);
      if (current?.anonymous) {
        const emailFree = trustedEmail !== undefined && !(await userStore.byEmail(tx, trustedEmail));
        const upgraded = await userStore.upgradeAnonymous(
          tx,
          current.id,
          emailFree ? trustedEmail : undefined,
        );
        if (upgraded) return { user: await link(upgraded), created: false, linked: true, upgraded: true };
      }
    }

    if (trustedEmail) {
      const existing = await userStore.byEmail(tx, trustedEmail);
      if (existing) {
        if (!existing.emailVerified) {
          // Whoever set a password on this unverified address did not prove they own it; the
          // provider just did. Their password and sessions go, so a squatter cannot stay in.
          await userStore.setPassword(tx, existing.id, null);
          await core.sessions.revokeAll(tx, existing.id, 'email-claimed-by-provider');
          await userStore.markEmailVerified(tx, existing.id, trustedEmail);
        }
        const refreshed = (await userStore.byId(tx, existing.id)) ?? existing;
        return { user: await link(refreshed), created: false, linked: true };
      }
    }

    const user = await userStore.create(tx, {
      email: trustedEmail ?? null,
      passwordHash: null,
      anonymous: false,
      emailVerified: trustedEmail !== undefined,
    });
    return { user: await link(user), created: true, linked: true };
  }

  return PROVIDERS.map((provider) =>
    defineRoute({
      method: 'POST',
      url: `/v1/auth/oauth/${provider}`,
      summary: `Signs in with ${provider === 'apple' ? 'Apple' : 'Google'}: verifies the ID token and finds or creates the account.`,
      description:
        'Send the nonce your app gave the provider (for Apple, the raw nonce; its SHA-256 is what Apple signs). When called with an anonymous account’s access token, that account is upgraded.',
      tags: ['auth'],
      access: 'public',
      schema: {
        body: Type.Object(
          {
            idToken: Type.String({ minLength: 1, maxLength: 16_384 }),
            nonce: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            device: Type.Optional(DeviceName),
          },
          { additionalProperties: false },
        ),
        response: { 200: SignedIn },
      },
    }).handle(async ({ body }, ctx) => {
      const verifier = core.oauth[provider];
      if (!verifier) throw authErrors.providerDisabled(provider);
      const external = await verifier.verify(body.idToken, body.nonce);
      const caller = ctx.identity;
      const anonymousCaller =
        caller.kind === 'user' &&
        caller.anonymous &&
        (await core.sessions.isLive(store, caller.id, caller.sessionId))
          ? caller.id
          : undefined;
      const signIn = () =>
        store.transaction(async (tx) => {
          const account = await resolveAccount(tx, external, anonymousCaller);
          if (account.user.disabled) throw authErrors.accountDisabled();
          // As with /link: the anonymous session ends, the answer opens a new one.
          if (account.upgraded && caller.kind === 'user') {
            if (!(await core.sessions.revoke(tx, caller.id, caller.sessionId, 'linked'))) {
              throw authErrors.sessionEnded();
            }
          }
          const session = await openSession(core, tx, ctx, {
            userId: account.user.id,
            method: provider,
            device: body.device,
            audit: 'user.oauth-login',
            details: { provider, created: account.created, linked: account.linked },
          });
          return { ...account, session };
        });
      // Two first sign-ins of one identity at once: the loser finds the winner's account on a second try.
      const result = await signIn().catch((error: unknown) => {
        if (isUniqueViolation(error)) return signIn();
        throw error;
      });
      return { status: 200, body: await signedInBody(core, result.user, result.session) };
    }),
  );
}
