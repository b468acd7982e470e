import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cohortPoint, parseUpstreamKey, ServiceTable } from './service-table';
import { DEFAULT_OUTLIER_POLICY, UpstreamInstance } from './upstream-instance';

describe('service table', () => {
  const made: UpstreamInstance[] = [];
  const retired: string[] = [];
  const table = new ServiceTable(
    { data: ['http://10.0.0.1:1'], 'data@v2': ['http://10.0.0.2:1'] },
    (service, version, origin) => {
      const instance = new UpstreamInstance(service, version, origin, DEFAULT_OUTLIER_POLICY);
      made.push(instance);
      return instance;
    },
    (instance) => retired.push(instance.origin),
  );
  after(async () => {
    await Promise.all(made.map((instance) => instance.close()));
  });
  const versionsPicked = (runs: number, point?: () => number) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < runs; i++) {
      const picked = table.pick('data', 0, new Set(), undefined, point?.());
      if (picked) counts[picked.version] = (counts[picked.version] ?? 0) + 1;
    }
    return counts;
  };

  it('reads versions from the configuration and splits equally while no weight is set', () => {
    assert.deepEqual(parseUpstreamKey('data@v2'), { service: 'data', version: 'v2' });
    assert.deepEqual(parseUpstreamKey('data'), { service: 'data', version: 'v1' });
    assert.deepEqual([...table.versions('data').keys()].sort(), ['v1', 'v2']);
    const counts = versionsPicked(2000);
    assert.ok((counts.v1 ?? 0) > 850 && (counts.v2 ?? 0) > 850, JSON.stringify(counts));
  });

  it('follows weights, gives an unweighted version nothing, and serves rather than refuse when all are 0', () => {
    table.setWeights('data', { v1: 90, v2: 10 });
    const counts = versionsPicked(4000);
    assert.ok((counts.v2 ?? 0) > 300 && (counts.v2 ?? 0) < 500, JSON.stringify(counts));
    table.setWeights('data', { v1: 100 });
    assert.deepEqual(versionsPicked(200), { v1: 200 });
    table.setWeights('data', { v1: 0, v2: 0 });
    assert.equal(
      Object.values(versionsPicked(100)).reduce((a, b) => a + b, 0),
      100,
    );
  });

  it('keeps a user on one version while the split holds, and moves users one way as it shifts', () => {
    const users = Array.from({ length: 500 }, (_, i) => cohortPoint(`data:user-${i}`));
    const onV2 = (v2: number) => {
      table.setWeights('data', { v1: 100 - v2, v2 });
      return users.map((point) => table.pick('data', 0, new Set(), undefined, point)?.version === 'v2');
    };
    const at25 = onV2(25);
    assert.deepEqual(onV2(25), at25, 'the same users each time');
    const at60 = onV2(60);
    assert.ok(
      at25.every((was, i) => !was || at60[i]),
      'no user moved back to v1',
    );
    const share = at60.filter(Boolean).length / users.length;
    assert.ok(share > 0.5 && share < 0.7, String(share));
  });

  it('honours a pin, skips versions with nothing available, and retires what left both sources', () => {
    table.setWeights('data', { v1: 100, v2: 0 });
    assert.equal(table.pick('data', 0, new Set(), 'v2', undefined)?.version, 'v2');
    const v1 = table.versions('data').get('v1')?.[0] as UpstreamInstance;
    v1.healthy = false;
    assert.equal(table.pick('data', 0, new Set(), undefined, 0)?.version, 'v2', 'v1 has nothing available');
    v1.healthy = true;
    table.update(
      [{ service: 'data', version: 'v3', origin: 'http://10.0.0.3:1', instanceId: 'c' }],
      undefined,
    );
    assert.deepEqual([...table.versions('data').keys()].sort(), ['v1', 'v2', 'v3']);
    table.update([], undefined);
    assert.deepEqual(retired, ['http://10.0.0.3:1']);
    assert.equal(table.pick('auth', 0, new Set(), undefined, undefined), undefined);
  });
});
