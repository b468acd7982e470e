import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadError } from './load-error';
import { parseDuration } from './parse-duration';
import { ArrivalSchedule, parseStages, totalDurationMs, valueAt } from './stages';

const all = (schedule: ArrivalSchedule) => {
  const times: number[] = [];
  for (let at = schedule.next(); at !== undefined; at = schedule.next()) times.push(at);
  return times;
};

describe('parseDuration', () => {
  it('reads ms, s, m, h, combinations and bare seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1.5'), 1_500);
  });
  it('refuses anything else, naming what it got', () => {
    for (const bad of ['', 's', '10 parsecs', '-5s', '1e9s', '5s;rm', '30s30', '\u0000']) {
      assert.throws(() => parseDuration(bad), LoadError, bad);
    }
  });
});

describe('parseStages', () => {
  it('reads constant stages and ramps', () => {
    const stages = parseStages('30s:0-200, 60s:200,5s:1000', { max: 10_000, what: 'rate' });
    assert.deepEqual(stages, [
      { durationMs: 30_000, from: 0, to: 200 },
      { durationMs: 60_000, from: 200, to: 200 },
      { durationMs: 5_000, from: 1_000, to: 1_000 },
    ]);
    assert.equal(totalDurationMs(stages), 95_000);
    assert.equal(valueAt(stages, 15_000), 100);
    assert.equal(valueAt(stages, 92_000), 1_000);
    assert.equal(valueAt(stages, 95_000), 0);
  });
  it('refuses malformed, empty, zero-length, negative and oversized stages', () => {
    for (const bad of [
      '',
      ',',
      '30s',
      '30s:',
      '30s:-5',
      '0s:10',
      '30s:10-',
      'x:10',
      '30s:10-99999',
      '30s:1e3',
    ]) {
      assert.throws(() => parseStages(bad, { max: 10_000, what: 'rate' }), LoadError, bad);
    }
    assert.throws(
      () => parseStages(Array(101).fill('1s:1').join(','), { max: 10, what: 'rate' }),
      /at most 100/,
    );
  });
});

describe('ArrivalSchedule', () => {
  it('spaces a constant rate evenly: 100/s for 2 s is 200 arrivals 10 ms apart', () => {
    const times = all(new ArrivalSchedule([{ durationMs: 2_000, from: 100, to: 100 }]));
    assert.equal(times.length, 200);
    assert.equal(times[0], 0);
    assert.ok(Math.abs((times[1] ?? 0) - 10) < 1e-9);
    assert.ok((times[199] ?? 0) < 2_000);
  });
  it('follows a ramp: arrivals are the integral of the rate', () => {
    // 0 → 100/s over 2 s: 100 arrivals, a quarter of them in the first second.
    const times = all(new ArrivalSchedule([{ durationMs: 2_000, from: 0, to: 100 }]));
    assert.equal(times.length, 100);
    // The 26th is due at 1 s exactly, so rounding may put it either side.
    assert.ok(Math.abs(times.filter((at) => at < 1_000).length - 25) <= 1);
    const down = all(new ArrivalSchedule([{ durationMs: 2_000, from: 100, to: 0 }]));
    assert.equal(down.length, 100);
    assert.ok(Math.abs(down.filter((at) => at >= 1_000).length - 25) <= 1);
  });
  it('chains stages and skips a stage at rate 0', () => {
    const times = all(
      new ArrivalSchedule([
        { durationMs: 1_000, from: 10, to: 10 },
        { durationMs: 1_000, from: 0, to: 0 },
        { durationMs: 1_000, from: 50, to: 50 },
      ]),
    );
    assert.equal(times.length, 60);
    assert.equal(times.filter((at) => at >= 1_000 && at < 2_000).length, 0);
    for (let index = 1; index < times.length; index++)
      assert.ok((times[index] ?? 0) > (times[index - 1] ?? 0));
  });
});
