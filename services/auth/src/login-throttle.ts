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

/**
 * Brute-force protection for password sign-in: failures back off exponentially per account and
 * per client address, in the rate-limit store (Redis in the services shape, so every instance
 * sees the same count). Unknown accounts are throttled exactly like known ones.
 */
export function createLoginThrottle(store: RateLimitStore) {
  // Hashed: the store's keys never hold an address in clear.
  const accountKey = (email: string) =>
    `auth:login:acct:${createHash('sha256').update(email).digest('base64url')}`;
  const addressKey = (ip: string) => `auth:login:ip:${ip}`;

  return {
    /** Throws 429 `auth/too-many-attempts` (with Retry-After) while either key is backing off. */
    async check(email: string, ip: string): Promise<void> {
      const [account, address] = await Promise.all([
        store.backoffState(accountKey(email), ACCOUNT),
        store.backoffState(addressKey(ip), ADDRESS),
      ]);
      const wait = Math.max(account.retryAfterMs, address.retryAfterMs);
      if (wait > 0) throw authErrors.throttled(wait);
    },
    async failed(email: string, ip: string): Promise<void> {
      await Promise.all([
        store.recordFailure(accountKey(email), ACCOUNT),
        store.recordFailure(addressKey(ip), ADDRESS),
      ]);
    },
    async succeeded(email: string): Promise<void> {
      await store.clearFailures(accountKey(email));
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
