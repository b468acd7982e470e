import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@tern/testing';
import type { BackoffPolicy, BackoffState, RateLimitPolicy, RateLimitStore } from './rate-limit-store';

export interface OpenedRateLimitStore {
  store: RateLimitStore;
  cleanup(): Promise<void>;
}

// Long enough that no token refills while a test runs on a loaded machine.
const SLOW: RateLimitPolicy = { limit: 5, windowMs: 60_000 };
// Delays long enough that no block lapses while a test runs on a loaded machine: 1 s, 2 s, 4 s, 8 s cap.
const BACKOFF: BackoffPolicy = {
  freeFailures: 2,
  baseDelayMs: 1_000,
  maxDelayMs: 8_000,
  forgetAfterMs: 60_000,
};
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
      'a thousand concurrent checks over keys with different policies and costs decide each key exactly',
      withStore(async (store) => {
        // More than one Redis batch's worth, interleaved, with invalid checks among them.
        const keys = [
          { key: 'mixed-a', policy: { limit: 100, windowMs: 60_000 }, cost: 1, admits: 100 },
          { key: 'mixed-b', policy: { limit: 30, windowMs: 60_000, burst: 10 }, cost: 1, admits: 10 },
          { key: 'mixed-c', policy: { limit: 90, windowMs: 60_000 }, cost: 3, admits: 30 },
        ];
        const checks = Array.from({ length: 1_000 }, (_, i) => {
          const { key, policy, cost } = keys[i % 3] as (typeof keys)[number];
          return i % 97 === 0
            ? store.consume(key, policy, 0).then(
                () => 'accepted an invalid cost',
                (error: unknown) => (error instanceof RangeError ? 'invalid' : 'other error'),
              )
            : store.consume(key, policy, cost).then((decision) => (decision.allowed ? key : 'denied'));
        });
        const outcomes = await Promise.all(checks);
        for (const { key, admits } of keys) {
          assert.equal(outcomes.filter((outcome) => outcome === key).length, admits, key);
        }
        assert.equal(outcomes.filter((outcome) => outcome === 'invalid').length, 11);
        assert.ok(!outcomes.includes('other error') && !outcomes.includes('accepted an invalid cost'));
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
      'free failures impose no delay, then each further failure doubles it',
      withStore(async (store) => {
        assert.deepEqual(await store.recordFailure('user', BACKOFF), { failures: 1, retryAfterMs: 0 });
        assert.deepEqual(await store.recordFailure('user', BACKOFF), { failures: 2, retryAfterMs: 0 });
        for (const [failures, delayMs] of [
          [3, 1_000],
          [4, 2_000],
          [5, 4_000],
        ] as const) {
          const state = await store.recordFailure('user', BACKOFF);
          assert.equal(state.failures, failures);
          assertDelay(state, delayMs);
          assertDelay(await store.backoffState('user', BACKOFF), delayMs);
        }
      }),
    );

    await t.test(
      'the delay is capped at maxDelayMs',
      withStore(async (store) => {
        let state: BackoffState = { failures: 0, retryAfterMs: 0 };
        for (let i = 0; i < 40; i++) state = await store.recordFailure('user', BACKOFF);
        assert.equal(state.failures, 40);
        assertDelay(state, 8_000);
        // A base delay above the cap: the very first delay is already capped.
        const steep = { freeFailures: 0, baseDelayMs: 5_000, maxDelayMs: 3_000, forgetAfterMs: 60_000 };
        assertDelay(await store.recordFailure('steep', steep), 3_000);
      }),
    );

    await t.test(
      'backoffState reads without changing the state',
      withStore(async (store) => {
        assert.deepEqual(await store.backoffState('user', BACKOFF), { failures: 0, retryAfterMs: 0 });
        for (let i = 0; i < 3; i++) await store.recordFailure('user', BACKOFF);
        for (let i = 0; i < 5; i++) {
          const state = await store.backoffState('user', BACKOFF);
          assert.equal(state.failures, 3);
          assertDelay(state, 1_000);
        }
        const next = await store.recordFailure('user', BACKOFF);
        assert.equal(next.failures, 4);
        assertDelay(next, 2_000);
      }),
    );

    await t.test(
      'clearFailures forgets the failures of a key, and only of that key',
      withStore(async (store) => {
        for (let i = 0; i < 4; i++) await store.recordFailure('user', BACKOFF);
        for (let i = 0; i < 3; i++) await store.recordFailure('other', BACKOFF);
        await store.clearFailures('user');
        await store.clearFailures('never-failed');
        assert.deepEqual(await store.backoffState('user', BACKOFF), { failures: 0, retryAfterMs: 0 });
        assert.deepEqual(await store.recordFailure('user', BACKOFF), { failures: 1, retryAfterMs: 0 });
        assert.equal((await store.backoffState('other', BACKOFF)).failures, 3);
      }),
    );

    await t.test(
      'failures are counted per key',
      withStore(async (store) => {
        for (let i = 0; i < 3; i++) await store.recordFailure('a', BACKOFF);
        assert.deepEqual(await store.backoffState('b', BACKOFF), { failures: 0, retryAfterMs: 0 });
        assert.deepEqual(await store.recordFailure('b', BACKOFF), { failures: 1, retryAfterMs: 0 });
        assert.equal((await store.backoffState('a', BACKOFF)).failures, 3);
      }),
    );

    await t.test(
      'backoff failures and consume use separate state for the same key',
      withStore(async (store) => {
        for (let i = 0; i < 4; i++) await store.recordFailure('login:ada', BACKOFF);
        assert.deepEqual(pick(await store.consume('login:ada', SLOW)), [true, 4]);
        for (let i = 0; i < 4; i++) await store.consume('login:ada', SLOW);
        assert.deepEqual(pick(await store.consume('login:ada', SLOW)), [false, 0]);
        const state = await store.backoffState('login:ada', BACKOFF);
        assert.equal(state.failures, 4);
        assertDelay(state, 2_000);
        await store.clearFailures('login:ada');
        assert.deepEqual(pick(await store.consume('login:ada', SLOW)), [false, 0]);
      }),
    );

    await t.test(
      'once the delay has passed an attempt is allowed again, and the failures still count',
      withStore(async (store) => {
        const policy = { freeFailures: 1, baseDelayMs: 100, maxDelayMs: 1_000, forgetAfterMs: 60_000 };
        await store.recordFailure('user', policy);
        const blocked = await store.recordFailure('user', policy);
        assertDelay(blocked, 100);
        await sleep(blocked.retryAfterMs + TIMER_SLACK_MS);
        assert.deepEqual(await store.backoffState('user', policy), { failures: 2, retryAfterMs: 0 });
        assertDelay(await store.recordFailure('user', policy), 200);
      }),
    );

    await t.test(
      'a key with no new failure for forgetAfterMs forgets its failures',
      withStore(async (store) => {
        const policy = { freeFailures: 0, baseDelayMs: 50, maxDelayMs: 100, forgetAfterMs: 200 };
        const started = performance.now();
        await store.recordFailure('user', policy);
        assert.equal((await store.recordFailure('user', policy)).failures, 2);
        await waitFor(async () => (await store.backoffState('user', policy)).failures === 0, {
          timeoutMs: 3_000,
          intervalMs: 20,
          what: 'the failures to be forgotten',
        });
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 200 - TIMER_SLACK_MS, `forgotten after ${elapsed} ms`);
        assert.deepEqual(await store.recordFailure('user', policy), { failures: 1, retryAfterMs: 50 });
      }),
    );

    await t.test(
      '100 concurrent failures on one key are each counted once',
      withStore(async (store) => {
        const states = await Promise.all(
          Array.from({ length: 100 }, () => store.recordFailure('hot', BACKOFF)),
        );
        const counts = states.map((s) => s.failures).sort((a, b) => a - b);
        assert.deepEqual(
          counts,
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        assert.equal((await store.backoffState('hot', BACKOFF)).failures, 100);
      }),
    );

    await t.test(
      'an invalid backoff policy is rejected and changes nothing',
      withStore(async (store) => {
        const invalid: BackoffPolicy[] = [
          { ...BACKOFF, freeFailures: -1 },
          { ...BACKOFF, freeFailures: 1.5 },
          { ...BACKOFF, baseDelayMs: 0 },
          { ...BACKOFF, baseDelayMs: Number.NaN },
          { ...BACKOFF, maxDelayMs: -5 },
          { ...BACKOFF, maxDelayMs: Number.POSITIVE_INFINITY },
          { ...BACKOFF, forgetAfterMs: 0 },
          { ...BACKOFF, forgetAfterMs: 2.5 },
          { ...BACKOFF, forgetAfterMs: BACKOFF.maxDelayMs - 1 },
        ];
        for (const policy of invalid) {
          await assert.rejects(store.recordFailure('k', policy), RangeError, JSON.stringify(policy));
          await assert.rejects(store.backoffState('k', policy), RangeError, JSON.stringify(policy));
        }
        assert.deepEqual(await store.backoffState('k', BACKOFF), { failures: 0, retryAfterMs: 0 });
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

/** A block of `delayMs` was imposed moments ago: at most that long, and not much of it has passed. */
function assertDelay(state: BackoffState, delayMs: number): void {
  assert.ok(
    state.retryAfterMs > delayMs * 0.75 && state.retryAfterMs <= delayMs,
    `retryAfterMs ${state.retryAfterMs}, expected about ${delayMs}`,
  );
}

function pick(decision: { allowed: boolean; remaining: number }): [boolean, number] {
  return [decision.allowed, decision.remaining];
}
