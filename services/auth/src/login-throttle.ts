import { createHash } from 'node:crypto';
import type { BackoffPolicy, RateLimitStore } from '@tern/rate-limit';
import { authErrors } from './auth-errors';

// Failure n blocks once n > freeFailures, so freeFailures is one less than the attempts allowed.
// Per account: 5 attempts, then each failure doubles the wait, up to 15 minutes.
const ACCOUNT: BackoffPolicy = {
  freeFailures: 4,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 3_600_000,
};
// Per address: 30 attempts, looser, since many users can share one (carrier NAT, offices).
const ADDRESS: BackoffPolicy = {
  freeFailures: 29,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 3_600_000,
};

/** One password attempt, admitted by the throttle: report how it went. */
export interface LoginAttempt {
  failed(): Promise<void>;
  succeeded(): Promise<void>;
}

/**
 * Brute-force protection for password sign-in: failures back off exponentially per account and
 * per client address, in the rate-limit store (Redis in the services shape, so every instance
 * sees the same count). Unknown accounts are throttled exactly like known ones.
 *
 * An account's attempt is counted as a failure *before* the password is checked (and forgiven
 * on success), so guesses sent in parallel cannot all slip past one check: an attempt is
 * admitted only if no other attempt on the account was counted between its check and its own
 * count. The address is counted after the check, as many honest users may share one.
 */
export function createLoginThrottle(store: RateLimitStore) {
  // Hashed: the store's keys never hold an address in clear.
  const accountKey = (email: string) =>
    `auth:login:acct:${createHash('sha256').update(email).digest('base64url')}`;
  const addressKey = (ip: string) => `auth:login:ip:${ip}`;

  return {
    /** Admits one attempt, or throws 429 `auth/too-many-attempts` (with Retry-After). */
    async begin(email: string, ip: string): Promise<LoginAttempt> {
      const account = accountKey(email);
      const address = addressKey(ip);
      const [accountState, addressState] = await Promise.all([
        store.backoffState(account, ACCOUNT),
        store.backoffState(address, ADDRESS),
      ]);
      const wait = Math.max(accountState.retryAfterMs, addressState.retryAfterMs);
      if (wait > 0) throw authErrors.throttled(wait);
      const reserved = await store.recordFailure(account, ACCOUNT);
      if (reserved.failures > accountState.failures + 1) {
        // Another attempt on this account was counted meanwhile: they take turns.
        throw authErrors.throttled(Math.max(reserved.retryAfterMs, 1_000));
      }
      return {
        async failed() {
          await store.recordFailure(address, ADDRESS);
        },
        async succeeded() {
          await store.clearFailures(account);
        },
      };
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
