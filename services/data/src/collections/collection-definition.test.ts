import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernError } from '@tern/errors';
import { createStore, isUniqueViolation, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import {
  compileSchema,
  createIndexSql,
  createTableSql,
  diffIndexes,
  dropIndexSql,
  indexName,
  parseDefinition,
} from './collection-definition';

const invalid = (error: unknown) => error instanceof TernError && error.code === 'data/invalid-collection';
const SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 200 },
    score: { type: 'number' },
    done: { type: 'boolean' },
  },
  required: ['title'],
  additionalProperties: false,
};

describe('collection definitions', () => {
  it('fill owner-only rules, no indexes and the owner as shard key by default', () => {
    const definition = parseDefinition('notes', { schema: SCHEMA });
    assert.deepEqual(definition.indexes, []);
    assert.deepEqual(definition.rules, {
      read: 'doc.ownerId == auth.id',
      create: 'doc.ownerId == auth.id',
      update: 'doc.ownerId == auth.id',
      delete: 'doc.ownerId == auth.id',
    });
    assert.equal(definition.shardKey, 'ownerId');
  });

  it('refuse bad names, schemas, indexes and rules with data/invalid-collection', () => {
    const cases: [string, unknown][] = [
      ['Notes', { schema: SCHEMA }],
      ['notes; drop table x', { schema: SCHEMA }],
      ['notes', null],
      ['notes', []],
      ['notes', { schema: SCHEMA, extra: 1 }],
      ['notes', {}],
      ['notes', { schema: { type: 'array' } }],
      ['notes', { schema: { type: 'object', properties: { ownerId: { type: 'string' } } } }],
      ['notes', { schema: { type: 'object', properties: { "x'); DROP": { type: 'string' } } } }],
      ['notes', { schema: { type: 'object', properties: { a: { type: 'strin' } } } }],
      ['notes', { schema: { type: 'object', $ref: 'https://example.com/schema.json' } }],
      ['notes', { schema: { type: 'object', properties: { a: { type: 'string', bogusKeyword: 1 } } } }],
      ['notes', { schema: { ...SCHEMA, description: 'x'.repeat(70_000) } }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: [] }] }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: ['a', 'a'] }] }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: ["a') --"] }] }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: ['a', 'b', 'c', 'd', 'e'] }] }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: ['a'], unique: 'yes' }] }],
      ['notes', { schema: SCHEMA, indexes: [{ fields: ['a'] }, { fields: ['a'], unique: false }] }],
      ['notes', { schema: SCHEMA, indexes: 'score' }],
      ['notes', { schema: SCHEMA, rules: { read: '' } }],
      ['notes', { schema: SCHEMA, rules: { write: 'true' } }],
      ['notes', { schema: SCHEMA, shardKey: 'a b' }],
      // Regular expressions that backtrack catastrophically, in pattern and patternProperties.
      ['notes', { schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } } }],
      ['notes', { schema: { type: 'object', patternProperties: { '^(x*)*y$': { type: 'string' } } } }],
      [
        'notes',
        { schema: { type: 'object', properties: { a: { type: 'string', pattern: 'a'.repeat(1001) } } } },
      ],
    ];
    for (const [name, body] of cases) {
      assert.throws(
        () => parseDefinition(name, body),
        invalid,
        `${name} ${JSON.stringify(body)?.slice(0, 80)}`,
      );
    }
  });

  it('accept linear regular expressions, and a field or a value that is merely called pattern', () => {
    const schema = {
      type: 'object',
      properties: {
        code: { type: 'string', pattern: '^[A-Z]{3}-[0-9]+$' },
        pattern: { type: 'string', enum: ['(a+)+'] },
        style: { type: 'object', const: { pattern: '(b*)*' } },
      },
      patternProperties: { '^x-[a-z]+$': { type: 'string' } },
    };
    const definition = parseDefinition('notes', { schema });
    const validate = compileSchema(definition.schema);
    assert.equal(validate({ code: 'ABC-12' }), true);
    assert.equal(validate({ code: 'abc' }), false);
    // A slow pattern would take seconds on this input; the accepted ones answer at once.
    assert.equal(validate({ code: `${'A'.repeat(50_000)}!` }), false);
  });

  it('name indexes stably and diff two index lists', () => {
    const a = { fields: ['score', 'title'], unique: false };
    const b = { fields: ['title'], unique: true };
    assert.equal(indexName('notes', a), indexName('notes', { fields: ['score', 'title'], unique: false }));
    assert.notEqual(indexName('notes', a), indexName('notes', { fields: ['title', 'score'], unique: false }));
    assert.notEqual(indexName('notes', b), indexName('notes', { fields: ['title'], unique: false }));
    assert.deepEqual(diffIndexes('notes', [a], [a, b]), { create: [b], drop: [] });
    assert.deepEqual(diffIndexes('notes', [a, b], [b]), { create: [], drop: [a] });
  });
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`collection tables and expression indexes (${dialect})`, () => {
    let store: Store;
    let dir: string;
    let database: TestDatabase | undefined;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tern-data-'));
      if (dialect === 'postgres') {
        database = await createTestDatabase();
        store = await createStore({ kind: 'postgres', url: database.url, poolSize: 2 }, quietTelemetry());
      } else {
        store = await createStore({ kind: 'sqlite', file: join(dir, 'tern.db') }, quietTelemetry());
      }
    });
    after(async () => {
      await store?.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates the table and a unique expression index that refuses duplicates, and drops it again', async () => {
      await store.execute(createTableSql(dialect, 'notes'));
      await store.execute(createTableSql(dialect, 'notes'));
      const unique = { fields: ['title'], unique: true };
      await store.execute(createIndexSql(dialect, 'notes', unique));
      await store.execute(createIndexSql(dialect, 'notes', unique));
      const insert = (id: string, title: string) =>
        store.execute(
          `INSERT INTO data_c_notes (id, owner_id, version, created_at, updated_at, body) VALUES ($1, 'u1', 1, $2, $2, $3)`,
          [id, new Date().toISOString(), JSON.stringify({ title })],
        );
      await insert('a', 'first');
      await assert.rejects(insert('b', 'first'), (error) => isUniqueViolation(error));
      await store.execute(dropIndexSql(dialect, 'notes', unique));
      await insert('b', 'first');
    });

    it('builds a compound index the planner uses for the expressions queries use', async () => {
      await store.execute(createTableSql(dialect, 'scores'));
      const index = { fields: ['score', 'title'], unique: false };
      await store.execute(createIndexSql(dialect, 'scores', index));
      for (let i = 0; i < 200; i++) {
        await store.execute(
          `INSERT INTO data_c_scores (id, owner_id, version, created_at, updated_at, body) VALUES ($1, 'u1', 1, $2, $2, $3)`,
          [`d${i}`, new Date().toISOString(), JSON.stringify({ score: i % 10, title: `t${i}` })],
        );
      }
      const name = indexName('scores', index);
      if (dialect === 'postgres') {
        await store.transaction(async (tx) => {
          await tx.execute('SET LOCAL enable_seqscan = off');
          const plan = await tx.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN SELECT id FROM data_c_scores WHERE (body -> 'score') = $1::jsonb ORDER BY (body -> 'title')`,
            ['3'],
          );
          assert.match(plan.map((row) => row['QUERY PLAN']).join('\n'), new RegExp(name));
        });
      } else {
        const plan = await store.query<{ detail: string }>(
          `EXPLAIN QUERY PLAN SELECT id FROM data_c_scores WHERE json_extract(body, '$.score') = $1 ORDER BY json_extract(body, '$.title')`,
          [3],
        );
        assert.match(plan.map((row) => row.detail).join('\n'), new RegExp(name));
      }
    });
  });
}
