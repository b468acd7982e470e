import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRouteTable, DEFAULT_ROUTES } from './route-table';

describe('route table', () => {
  const table = createRouteTable([
    { prefix: '/v1/data', service: 'data' },
    { prefix: '/v1/admin/collections', service: 'data' },
    { prefix: '/v1/admin', service: 'system', methods: ['GET'] },
    { prefix: '/v1/data/reports', service: 'reports', methods: ['GET'] },
  ]);

  it('matches the longest prefix on whole segments', () => {
    assert.equal(table.match('GET', '/v1/data')?.service, 'data');
    assert.equal(table.match('POST', '/v1/data/notes/abc')?.service, 'data');
    assert.equal(table.match('GET', '/v1/data/reports/weekly')?.service, 'reports');
    assert.equal(table.match('PUT', '/v1/admin/collections/notes')?.service, 'data');
    assert.equal(table.match('GET', '/v1/admin/anything')?.service, 'system');
  });

  it('does not match inside a segment, another method, or outside every prefix', () => {
    assert.equal(table.match('GET', '/v1/database'), undefined);
    assert.equal(table.match('GET', '/v1'), undefined);
    assert.equal(table.match('GET', '/'), undefined);
    assert.equal(table.match('DELETE', '/v1/admin/anything'), undefined);
    // A method the longer prefix does not take falls back to the shorter one.
    assert.equal(table.match('POST', '/v1/data/reports/weekly')?.service, 'data');
  });

  it('lists the services it routes to, and refuses malformed routes', () => {
    assert.deepEqual(table.services().sort(), ['data', 'reports', 'system']);
    assert.deepEqual(createRouteTable(DEFAULT_ROUTES).services().sort(), ['auth', 'data', 'jobs', 'system']);
    for (const prefix of ['v1/data', '/v1//data', '/v1/../admin', '/v1/data/', '/', '/v1/da ta']) {
      assert.throws(() => createRouteTable([{ prefix, service: 'data' }]), RangeError, prefix);
    }
    assert.throws(() => createRouteTable([{ prefix: '/v1', service: 'Data!' }]), RangeError);
    assert.throws(() => createRouteTable([{ prefix: '/v1', service: 'data', methods: ['get'] }]), RangeError);
  });
});
