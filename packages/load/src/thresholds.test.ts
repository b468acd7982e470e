import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadError } from './load-error';
import { checkThreshold, parseThreshold } from './thresholds';

const input = {
  latencyMs: { p50: 10, p90: 40, p95: 60, p99: 200, 'p99.9': 400, max: 900, mean: 20 },
  requests: 10_000,
  errors: 5,
  rate: 480,
};

describe('thresholds', () => {
  it('parses latency, error share, rate and per-step thresholds', () => {
    assert.deepEqual(parseThreshold('p99<250ms'), {
      source: 'p99<250ms',
      step: undefined,
      metric: 'p99',
      operator: '<',
      limit: 250,
    });
    assert.equal(parseThreshold('p99.9 <= 1s').limit, 1_000);
    assert.equal(parseThreshold('errors<0.1%').limit, 0.001);
    assert.equal(parseThreshold('errors<0.01').limit, 0.01);
    assert.equal(parseThreshold('rate>=500').limit, 500);
    assert.equal(parseThreshold('login:p95<400ms').step, 'login');
  });
  it('checks them against what was measured', () => {
    assert.equal(checkThreshold(parseThreshold('p99<250ms'), input).ok, true);
    assert.equal(checkThreshold(parseThreshold('p99<200ms'), input).ok, false);
    assert.equal(checkThreshold(parseThreshold('p99<=200ms'), input).ok, true);
    const errors = checkThreshold(parseThreshold('errors<0.1%'), input);
    assert.deepEqual([errors.ok, errors.actual, errors.unit], [true, 0.05, '%']);
    assert.equal(checkThreshold(parseThreshold('errors<0.01%'), input).ok, false);
    assert.equal(checkThreshold(parseThreshold('rate>=500'), input).ok, false);
    assert.equal(checkThreshold(parseThreshold('max>1s'), input).ok, false);
  });
  it('refuses garbage, naming the accepted forms', () => {
    for (const bad of [
      '',
      'p99',
      'p98<1s',
      'p99<',
      'p99<fast',
      'errors<150%',
      'errors<-1',
      'rate>=lots',
      'p99=1s',
      '<script>:p99<1s',
      'x'.repeat(500),
    ]) {
      assert.throws(() => parseThreshold(bad), LoadError, bad);
    }
  });
});
