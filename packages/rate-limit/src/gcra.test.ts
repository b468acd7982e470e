import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcra, toDecision, toGcraParams, type GcraParams } from './gcra';

/** Replays a sequence of requests against one key on a fake clock, as a store would. */
function replay(params: GcraParams, steps: { atMs: number }[]) {
  let tat: number | undefined;
  return steps.map(({ atMs }) => {
    const outcome = gcra(tat, atMs * 1000, params);
    if (outcome.allowed) tat = outcome.tatUs;
    return toDecision(params, outcome);
  });
}

void test('a full burst is admitted at once, then requests are spaced by the emission interval', () => {
  const params = toGcraParams({ limit: 5, windowMs: 500 });
  const decisions = replay(
    params,
    [0, 0, 0, 0, 0, 0, 99, 100, 100].map((atMs) => ({ atMs })),
  );
  assert.deepEqual(
    decisions.map((d) => [d.allowed, d.remaining, d.resetMs, d.retryAfterMs]),
    [
      [true, 4, 100, 0],
      [true, 3, 200, 0],
      [true, 2, 300, 0],
      [true, 1, 400, 0],
      [true, 0, 500, 0],
      [false, 0, 500, 100],
      [false, 0, 401, 1],
      [true, 0, 500, 0],
      [false, 0, 500, 100],
    ],
  );
});

void test('an idle key refills to the burst and no further', () => {
  const params = toGcraParams({ limit: 5, windowMs: 500 });
  const decisions = replay(params, [{ atMs: 0 }, { atMs: 0 }, { atMs: 10_000 }]);
  assert.deepEqual(decisions.at(-1), {
    allowed: true,
    limit: 5,
    remaining: 4,
    resetMs: 100,
    retryAfterMs: 0,
  });
});

void test('burst below the limit caps how many are admitted at once', () => {
  const params = toGcraParams({ limit: 10, windowMs: 1_000, burst: 2 });
  const decisions = replay(
    params,
    [0, 0, 0].map((atMs) => ({ atMs })),
  );
  assert.deepEqual(
    decisions.map((d) => [d.allowed, d.remaining, d.retryAfterMs]),
    [
      [true, 1, 0],
      [true, 0, 0],
      [false, 0, 100],
    ],
  );
});

void test('a cost above one consumes that many, and a denied cost leaves the state untouched', () => {
  const three = toGcraParams({ limit: 5, windowMs: 500 }, 3);
  const first = gcra(undefined, 0, three);
  assert.deepEqual(toDecision(three, first), {
    allowed: true,
    limit: 5,
    remaining: 2,
    resetMs: 300,
    retryAfterMs: 0,
  });
  const second = gcra(first.tatUs, 0, three);
  assert.equal(second.allowed, false);
  assert.equal(second.tatUs, first.tatUs);
  assert.deepEqual(toDecision(three, second), {
    allowed: false,
    limit: 5,
    remaining: 2,
    resetMs: 300,
    retryAfterMs: 100,
  });
});

void test('a cost above the burst is denied with an infinite retry and consumes nothing', () => {
  const params = toGcraParams({ limit: 5, windowMs: 500 }, 6);
  const outcome = gcra(undefined, 0, params);
  assert.deepEqual(toDecision(params, outcome), {
    allowed: false,
    limit: 5,
    remaining: 5,
    resetMs: 0,
    retryAfterMs: Number.POSITIVE_INFINITY,
  });
});

void test('an interval that is not a whole number of milliseconds still admits exactly the limit', () => {
  const params = toGcraParams({ limit: 3, windowMs: 1_000 });
  const decisions = replay(
    params,
    [0, 0, 0, 0].map((atMs) => ({ atMs })),
  );
  assert.deepEqual(
    decisions.map((d) => [d.allowed, d.remaining]),
    [
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ],
  );
  assert.equal(decisions[3]?.retryAfterMs, 334);
});

void test('policies and costs that are not positive integer counts are rejected', () => {
  assert.throws(() => toGcraParams({ limit: 0, windowMs: 1_000 }), RangeError);
  assert.throws(() => toGcraParams({ limit: 1.5, windowMs: 1_000 }), RangeError);
  assert.throws(() => toGcraParams({ limit: 5, windowMs: 0 }), RangeError);
  assert.throws(() => toGcraParams({ limit: 5, windowMs: Number.NaN }), RangeError);
  assert.throws(() => toGcraParams({ limit: 5, windowMs: 1_000, burst: 0 }), RangeError);
  assert.throws(() => toGcraParams({ limit: 5, windowMs: 1_000 }, 0), RangeError);
  assert.throws(() => toGcraParams({ limit: 1, windowMs: 86_400_000, burst: 20_000 }), RangeError);
});
