import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs } from './retry-delay';

// node:test runs what is registered; the returned promise only reports completion.
void test('retry delays double per delivery between half and all of 200 ms · 2^(n-1), capped at 30 s', () => {
  const low = () => 0;
  const high = () => 1;
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => retryDelayMs(n, low)),
    [100, 200, 400, 800],
  );
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => retryDelayMs(n, high)),
    [200, 400, 800, 1600],
  );
  assert.equal(retryDelayMs(50, high), 30_000);
  assert.equal(retryDelayMs(50, low), 15_000);
});
