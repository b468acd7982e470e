import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimitPolicy, RateLimitStore } from './rate-limit-store';

export interface OpenedRateLimitStore {
  store: RateLimitStore;
  cleanup(): Promise<void>;
}

// Long enough that no token refills while a test runs on a loaded machine.
const SLOW: RateLimitPolicy = { limit: 5, windowMs: 60_000 };
// libuv timers can fire a millisecond before the clock the store reads has moved on.
const TIMER_SLACK_MS = 5;

/** The behaviour every RateLimitStore implementation must show; each case gets a fresh store. */
export function runRateLimitStoreContract(
  name: string,
  open: () => Promise<OpenedRateLimitStore>,
): Promise<void> {
  return test(`${name} satisfies the rate limit store contract`, async (t) => {
    const withStore = (fn: (store: RateLimitStore) => Promise<void>) => async () => {
      const opened = await open();
      try {
        await fn(opened.store);
      } finally {
        await opened.cleanup();
      }
    };

    await t.test(
      'exactly limit requests are admitted in a burst, with remaining counting down, then denied',
      withStore(async (store) => {
        const remaining: number[] = [];
        for (let i = 0; i < 5; i++) {
          const decision = await store.consume('client', SLOW);
          assert.equal(decision.allowed, true);
          assert.equal(decision.limit, 5);
          assert.equal(decision.retryAfterMs, 0);
          remaining.push(decision.remaining);
        }
        assert.deepEqual(remaining, [4, 3, 2, 1, 0]);
        const denied = await store.consume('client', SLOW);
        assert.equal(denied.allowed, false);
        assert.equal(denied.remaining, 0);
        assert.ok(
          denied.retryAfterMs > 0 && denied.retryAfterMs <= 12_000,
          `retryAfterMs ${denied.retryAfterMs}`,
        );
        assert.ok(denied.resetMs > 48_000 && denied.resetMs <= 60_000, `resetMs ${denied.resetMs}`);
      }),
    );

    await t.test(
      'keys are limited independently',
      withStore(async (store) => {
        for (let i = 0; i < 5; i++) await store.consume('a', SLOW);
        assert.equal((await store.consume('a', SLOW)).allowed, false);
        const other = await store.consume('b', SLOW);
        assert.equal(other.allowed, true);
        assert.equal(other.remaining, 4);
      }),
    );

    await t.test(
      'a cost above one consumes that many requests',
      withStore(async (store) => {
        assert.deepEqual(pick(await store.consume('k', SLOW, 3)), [true, 2]);
        assert.deepEqual(pick(await store.consume('k', SLOW, 3)), [false, 2]);
        assert.deepEqual(pick(await store.consume('k', SLOW, 2)), [true, 0]);
        assert.deepEqual(pick(await store.consume('k', SLOW)), [false, 0]);
      }),
    );

    await t.test(
      'a cost above the burst is always denied with an infinite retryAfterMs and consumes nothing',
      withStore(async (store) => {
        const denied = await store.consume('k', SLOW, 6);
        assert.equal(denied.allowed, false);
        assert.equal(denied.retryAfterMs, Number.POSITIVE_INFINITY);
        assert.deepEqual(pick(await store.consume('k', SLOW)), [true, 4]);
      }),
    );

    await t.test(
      'a burst option smaller than the limit caps the burst',
      withStore(async (store) => {
        const policy = { limit: 100, windowMs: 60_000, burst: 2 };
        assert.deepEqual(pick(await store.consume('k', policy)), [true, 1]);
        assert.deepEqual(pick(await store.consume('k', policy)), [true, 0]);
        assert.deepEqual(pick(await store.consume('k', policy)), [false, 0]);
      }),
    );

    await t.test(
      'after waiting retryAfterMs a request is admitted again',
      withStore(async (store) => {
        const policy = { limit: 5, windowMs: 500 };
        let denied = await store.consume('k', policy);
        for (let i = 0; denied.allowed && i < 20; i++) denied = await store.consume('k', policy);
        assert.equal(denied.allowed, false);
        assert.ok(
          denied.retryAfterMs > 0 && denied.retryAfterMs <= 100,
          `retryAfterMs ${denied.retryAfterMs}`,
        );
        await sleep(denied.retryAfterMs + TIMER_SLACK_MS);
        assert.equal((await store.consume('k', policy)).allowed, true);
      }),
    );

    await t.test(
      'an idle key refills to a full bucket after resetMs',
      withStore(async (store) => {
        const policy = { limit: 5, windowMs: 500 };
        await store.consume('k', policy);
        const last = await store.consume('k', policy);
        assert.ok(last.resetMs > 0 && last.resetMs <= 200, `resetMs ${last.resetMs}`);
        await sleep(last.resetMs + TIMER_SLACK_MS);
        assert.deepEqual(pick(await store.consume('k', policy)), [true, 4]);
      }),
    );

    await t.test(
      '200 concurrent requests on one key with limit 50 admit exactly 50',
      withStore(async (store) => {
        const policy = { limit: 50, windowMs: 60_000 };
        const decisions = await Promise.all(Array.from({ length: 200 }, () => store.consume('hot', policy)));
        assert.equal(decisions.filter((d) => d.allowed).length, 50);
      }),
    );

    await t.test(
      'an invalid policy or cost is rejected',
      withStore(async (store) => {
        await assert.rejects(store.consume('k', { limit: 0, windowMs: 1_000 }), RangeError);
        await assert.rejects(store.consume('k', SLOW, 0), RangeError);
        await assert.rejects(store.consume('k', SLOW, 1.5), RangeError);
        assert.deepEqual(pick(await store.consume('k', SLOW)), [true, 4]);
      }),
    );

    await t.test(
      'ping resolves',
      withStore(async (store) => {
        await store.ping();
      }),
    );
  });
}

function pick(decision: { allowed: boolean; remaining: number }): [boolean, number] {
  return [decision.allowed, decision.remaining];
}
