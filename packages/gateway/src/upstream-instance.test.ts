import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pickInstance, UpstreamInstance } from './upstream-instance';

const policy = { consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 4_000 };

describe('upstream instances', () => {
  const made: UpstreamInstance[] = [];
  const instance = (port: number, onEject?: (i: UpstreamInstance, ms: number) => void) => {
    const created = new UpstreamInstance('data', 'v1', `http://127.0.0.1:${port}`, policy, onEject);
    made.push(created);
    return created;
  };
  after(async () => {
    await Promise.all(made.map((i) => i.close()));
  });

  it('closes once however often it is closed (retired, then the gateway stopping)', async () => {
    const retired = instance(4);
    await Promise.all([retired.close(), retired.close()]);
    await retired.close();
  });

  it('picks the less loaded of two, skipping unavailable and already tried instances', () => {
    const [a, b, c] = [instance(1), instance(2), instance(3)] as [
      UpstreamInstance,
      UpstreamInstance,
      UpstreamInstance,
    ];
    a.outstanding = 5;
    b.outstanding = 1;
    c.outstanding = 3;
    const counts = new Map<UpstreamInstance, number>();
    for (let i = 0; i < 3000; i++) {
      const picked = pickInstance([a, b, c], 0);
      if (picked) counts.set(picked, (counts.get(picked) ?? 0) + 1);
    }
    // Power of two choices: the busiest is never chosen, the least busy wins 2 pairs of 3.
    assert.equal(counts.get(a) ?? 0, 0);
    assert.ok((counts.get(b) ?? 0) > 1800 && (counts.get(b) ?? 0) < 2200, String(counts.get(b)));
    assert.equal(pickInstance([a, b, c], 0, new Set([b, c])), a);
    b.healthy = false;
    c.draining = true;
    assert.equal(pickInstance([a, b, c], 0), a);
    a.ejectedUntil = 10;
    assert.equal(pickInstance([a, b, c], 5), undefined);
    assert.equal(pickInstance([a, b, c], 10), a);
  });

  it('ejects on a refused connection at once and on repeated failures, with doubling backoff and a half-open circuit', () => {
    const ejected: number[] = [];
    const i = instance(4, (_instance, ms) => ejected.push(ms));
    i.recordFailure('connect', 0);
    assert.deepEqual(ejected, [1_000]);
    assert.equal(i.available(999), false);
    assert.equal(i.available(1_000), true);
    // Half-open: the first failure after the ejection opens the circuit again, for twice as long.
    i.recordFailure('timeout', 1_000);
    assert.deepEqual(ejected, [1_000, 2_000]);
    i.recordFailure('server-error', 3_000);
    i.recordFailure('server-error', 9_000);
    assert.deepEqual(ejected, [1_000, 2_000, 4_000, 4_000], 'capped at maxEjectionMs');
    // A success closes the circuit: failures count from zero and the backoff starts over.
    i.recordSuccess();
    i.recordFailure('server-error', 20_000);
    i.recordFailure('server-error', 20_000);
    assert.equal(ejected.length, 4, 'two failures are below the threshold');
    i.recordFailure('server-error', 20_000);
    assert.deepEqual(ejected.slice(4), [1_000]);
  });
});
