import type { ServiceDefinition, ServiceDeps, ServiceModule } from '@tern/runtime';
import { createAccessTokenIssuer } from './access-token-issuer';
import { createAuditLog } from './audit-log';
import type { AuthCore } from './auth-core';
import { AUTH_MIGRATIONS } from './auth-migrations';
import { createAuthMailConsumer } from './auth-mail';
import { createLoginThrottle } from './login-throttle';
import { createMailJobs } from './mail-jobs';
import {
  createIdTokenVerifier,
  PROVIDER_DEFAULTS,
  type IdTokenVerifier,
  type OAuthProvider,
} from './oauth/id-token-verifier';
import { oneTimeTokenStore } from './one-time-token-store';
import { createPasswordHasher } from './password-hasher';
import { accountRoutes } from './routes/account-routes';
import { adminRoutes } from './routes/admin-routes';
import { emailRoutes } from './routes/email-routes';
import { oauthRoutes } from './routes/oauth-routes';
import { sessionRoutes } from './routes/session-routes';
import { createSessionStore } from './session-store';
import { createSigningKeyRing } from './signing-key-ring';

// Other instances' key rotations are picked up this often (and at once on an unknown kid).
const KEY_REFRESH_MS = 60_000;
const PRUNE_MS = 3_600_000;
// Ended sessions are kept a week, so a reused token from one is still recognised and audited.
const KEEP_ENDED_MS = 7 * 86_400_000;

/** Accounts, sessions and tokens: everything under /v1/auth, the admin user API and the JWKS. */
export function createAuthService(deps: ServiceDeps): ServiceModule {
  const { config, store, log } = deps;
  const telemetry = { log, metrics: deps.metrics };
  const keys = createSigningKeyRing(config.auth, store, log);
  const hasher = createPasswordHasher(
    { ...config.auth.argon2, concurrency: config.auth.hashConcurrency },
    telemetry,
  );
  const oauth: Partial<Record<OAuthProvider, IdTokenVerifier>> = {};
  for (const provider of ['apple', 'google'] as const) {
    const { clientIds, jwksUrl } = config.auth[provider];
    if (clientIds.length === 0) continue;
    oauth[provider] = createIdTokenVerifier(
      { provider, jwksUrl, issuers: PROVIDER_DEFAULTS[provider].issuers, audiences: clientIds },
      telemetry,
    );
  }
  const core: AuthCore = {
    deps,
    hasher,
    keys,
    issuer: createAccessTokenIssuer(config.auth, keys),
    sessions: createSessionStore({
      dialect: store.kind,
      sessionTtlMs: config.auth.sessionTtlSeconds * 1000,
      graceMs: config.auth.refreshGraceMs,
    }),
    throttle: createLoginThrottle(deps.rateLimit),
    audit: createAuditLog(telemetry),
    oauth,
  };
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, what: string, work: () => Promise<unknown>) => {
    const timer = setInterval(() => {
      work().catch((error: unknown) => log.warn({ err: error }, `${what} failed; will retry`));
    }, ms);
    timer.unref();
    timers.push(timer);
  };

  return {
    name: 'auth',
    migrations: AUTH_MIGRATIONS,
    routes: [
      ...accountRoutes(core),
      ...sessionRoutes(core),
      ...emailRoutes(core),
      ...oauthRoutes(core),
      ...adminRoutes(core),
    ],
    consumers: [
      createAuthMailConsumer({
        store,
        mailJobs: createMailJobs({ adminKey: deps.adminKey, apiUrl: deps.apiUrl }),
        config: config.auth,
        audit: core.audit,
      }),
    ],
    async start() {
      await keys.refresh();
      every(KEY_REFRESH_MS, 'signing key refresh', () => keys.refresh());
      every(PRUNE_MS, 'pruning ended sessions', async () => {
        await core.sessions.prune(store, KEEP_ENDED_MS);
        await oneTimeTokenStore.prune(store, KEEP_ENDED_MS);
      });
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await hasher.close();
    },
    async accessTokenKeys() {
      await keys.refresh();
      return keys.jwks();
    },
  };
}

export const authService: ServiceDefinition = { name: 'auth', create: createAuthService };
