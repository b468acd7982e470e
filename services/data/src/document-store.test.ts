import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStore, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import { createCollectionSql, createIndexSql } from './collections/collection-definition';
import { documentJson, documentStore, toView } from './document-store';

const row = (body: unknown) => ({
  id: 'd1',
  owner_id: 'u1',
  version: '3',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-02T00:00:00.000Z',
  body,
});

describe('toView', () => {
  it('puts the system fields after the body fields, from a parsed (PostgreSQL) or text (SQLite) body', () => {
    const expected = {
      title: 't',
      tags: { a: 1 },
      id: 'd1',
      ownerId: 'u1',
      version: 3,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-02T00:00:00.000Z',
    };
    for (const body of [{ title: 't', tags: { a: 1 } }, '{"title":"t","tags":{"a":1}}']) {
      const view = toView(row(body));
      assert.deepEqual(view, expected);
      assert.deepEqual(Object.keys(view), Object.keys(expected));
    }
  });

  it('keeps a body key named __proto__ as a plain field, never as the view’s prototype', () => {
    for (const body of [
      JSON.parse('{"__proto__":{"polluted":true},"a":1}') as unknown,
      '{"__proto__":{"polluted":true},"a":1}',
    ]) {
      const view = toView(row(body));
      assert.equal(Object.getPrototypeOf(view), Object.prototype);
      assert.equal((view as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(JSON.parse(JSON.stringify(view)).__proto__, { polluted: true });
    }
  });
});

describe('documentJson', () => {
  const row = (body: string | Record<string, unknown>) => ({
    id: 'd"1\u2028',
    owner_id: 'u/1',
    version: 3,
    created_at: '2026-11-26T00:00:00.000Z',
    updated_at: '2026-11-26T00:00:01.000Z',
    body,
  });

  it('writes the same document toView makes, from the body text as PostgreSQL and SQLite give it', () => {
    const bodies = [
      '{}',
      ' { } ',
      '{"a": 1, "b": {"c": [1, "x", null]}, "t": "line\\n\\u0000ok ünï 🚀"}',
      '{"__proto__": {"admin": true}, "title": "x"}',
      '{"title":"sqlite text","n":-1.5e3}',
    ];
    for (const text of bodies) {
      for (const body of [text, JSON.parse(text) as Record<string, unknown>]) {
        const json = documentJson(row(body));
        assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(toView(row(body)))), json);
      }
    }
  });
});

describe('documentStore.insertMany (postgres)', () => {
  let store: Store;
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
    store = await createStore({ kind: 'postgres', url: database.url, poolSize: 2 }, quietTelemetry());
    for (const sql of createCollectionSql('postgres', 'notes')) await store.execute(sql);
    await store.execute(
      createIndexSql('postgres', 'notes', { fields: ['slug'], unique: true }).replace(' CONCURRENTLY', ''),
    );
  });
  after(async () => {
    await store?.close();
    await database?.drop();
  });

  it('inserts in the order given and answers undefined for an id already taken, by the table or earlier in the list', async () => {
    await documentStore.insert(store, 'notes', { id: 'old', ownerId: 'u1', body: { slug: 'old' } });
    const views = await documentStore.insertMany(store, 'notes', [
      { id: 'n1', ownerId: 'u1', body: { slug: 'n1', n: 1 } },
      { id: 'old', ownerId: 'u2', body: { slug: 'x' } },
      { id: 'n2', ownerId: 'u1', body: { slug: 'n2' } },
      { id: 'n1', ownerId: 'u2', body: { slug: 'y' } },
    ]);
    assert.deepEqual(
      views.map((view) => view && { id: view.id, ownerId: view.ownerId, version: view.version, n: view.n }),
      [
        { id: 'n1', ownerId: 'u1', version: 1, n: 1 },
        undefined,
        { id: 'n2', ownerId: 'u1', version: 1, n: undefined },
        undefined,
      ],
    );
    const rows = await store.query<{ id: string }>(
      "SELECT id FROM data_c_notes WHERE id LIKE 'n%' ORDER BY id",
    );
    assert.deepEqual(
      rows.map((row) => row.id),
      ['n1', 'n2'],
    );
  });

  it('refuses the whole list with a 409 when a unique index refuses one document', async () => {
    await assert.rejects(
      documentStore.insertMany(store, 'notes', [
        { id: 'm1', ownerId: 'u1', body: { slug: 'm1' } },
        { id: 'm2', ownerId: 'u1', body: { slug: 'old' } },
      ]),
      (error: { status?: number; code?: string }) =>
        error.status === 409 && error.code === 'data/unique-violation',
    );
    assert.deepEqual(await store.query("SELECT id FROM data_c_notes WHERE id = 'm1'"), []);
  });
});
