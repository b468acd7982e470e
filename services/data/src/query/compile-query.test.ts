import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernError } from '@tern/errors';
import { createStore, type Dialect, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import { fieldSql, isSystemField, tableName } from '../schema/field-sql';
import {
  compileQuery,
  encodeCursor,
  parseQuery,
  servingIndex,
  type Condition,
  type DocumentQuery,
  type IndexDefinition,
} from './compile-query';

const refused = (parameter: string, detail?: RegExp) => (error: unknown) => {
  assert.ok(error instanceof TernError, `expected a TernError, got ${String(error)}`);
  assert.equal(error.code, 'data/invalid-query');
  assert.equal(error.status, 400);
  assert.equal(error.details.parameter, parameter);
  if (detail) assert.match(error.message, detail);
  return true;
};

describe('parseQuery', () => {
  it('accepts well-formed queries, in a canonical form', () => {
    assert.deepEqual(parseQuery({}), {
      where: [],
      orderBy: { field: 'createdAt', descending: false },
      limit: 20,
      after: undefined,
    });
    const cases: [Parameters<typeof parseQuery>[0], Partial<DocumentQuery>][] = [
      [{ where: '{}' }, { where: [] }],
      [
        { where: '{"b":{"lt":5,"gte":1},"a":{"eq":null}}' },
        {
          where: [
            { field: 'a', op: 'eq', value: null },
            { field: 'b', op: 'lt', value: 5 },
            { field: 'b', op: 'gte', value: 1 },
          ],
        },
      ],
      [
        { where: '{"tag":{"in":["b",1,"b",true,null]}}' },
        { where: [{ field: 'tag', op: 'in', values: ['b', 1, null, true] }] },
      ],
      [{ where: '{"s":{"prefix":"%_\\\\"}}' }, { where: [{ field: 's', op: 'prefix', value: '%_\\' }] }],
      [{ where: '{"ownerId":{"eq":"u1"}}' }, { where: [{ field: 'ownerId', op: 'eq', value: 'u1' }] }],
      [{ where: '{"version":{"gte":-3}}' }, { where: [{ field: 'version', op: 'gte', value: -3 }] }],
      [{ where: '{"n":{"eq":-0}}' }, { where: [{ field: 'n', op: 'eq', value: 0 }] }],
      [{ where: '{"owner_id":{"eq":1}}' }, { where: [{ field: 'owner_id', op: 'eq', value: 1 }] }],
      [
        { where: `{"s":{"eq":"${'x'.repeat(1000)}"}}` },
        { where: [{ field: 's', op: 'eq', value: 'x'.repeat(1000) }] },
      ],
      [{ where: '{"s":{"eq":"😀 é"}}' }, { where: [{ field: 's', op: 'eq', value: '😀 é' }] }],
      [{ orderBy: '-score' }, { orderBy: { field: 'score', descending: true } }],
      [{ orderBy: 'updatedAt' }, { orderBy: { field: 'updatedAt', descending: false } }],
      [{ limit: 1 }, { limit: 1 }],
      [{ limit: 100 }, { limit: 100 }],
    ];
    for (const [input, expected] of cases) {
      const query = parseQuery(input);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(query[key as keyof DocumentQuery], value, JSON.stringify(input));
      }
    }
    const conditions = Array.from({ length: 10 }, (_, i) => `"f${i}":{"eq":${i}}`).join(',');
    assert.equal(parseQuery({ where: `{${conditions}}` }).where.length, 10);
    const inValues = JSON.stringify({ n: { in: Array.from({ length: 100 }, (_, i) => i) } });
    assert.equal((parseQuery({ where: inValues }).where[0] as { values: unknown[] }).values.length, 100);
  });

  it('refuses hostile and malformed where clauses with a precise 400 data/invalid-query', () => {
    const deepArray = `${'['.repeat(3000)}${']'.repeat(3000)}`;
    const cases: [string, RegExp][] = [
      ['{"x; DROP TABLE":{"eq":1}}', /"x; DROP TABLE" is not a field name/],
      [`{"a') OR 1=1 --":{"eq":1}}`, /is not a field name/],
      ['{"a.b":{"eq":1}}', /is not a field name/],
      ['{"":{"eq":1}}', /"" is not a field name/],
      [`{"${'a'.repeat(65)}":{"eq":1}}`, /is not a field name/],
      ['{"__proto__":{"eq":1}}', /reserved/],
      ['{"constructor":{"eq":1}}', /reserved/],
      ['{"a":{"$where":1}}', /unknown operator "\$where" on|unknown operator "\$where"/],
      ['{"a":{"toString":1}}', /unknown operator "toString"/],
      ['{"a":{"__proto__":1}}', /unknown operator "__proto__"/],
      ['{"a":{"EQ":1}}', /unknown operator "EQ"/],
      ['{"a":{"regex":".*"}}', /unknown operator "regex"/],
      ['{"a":{"eq":{"b":1}}}', /no nesting/],
      ['{"a":{"b":{"c":{"eq":1}}}}', /unknown operator "b"/],
      ['{"a":{"eq":[1]}}', /no nesting/],
      ['{"a":{"in":[[1]]}}', /no nesting/],
      ['{"a":{"in":[{"eq":1}]}}', /no nesting/],
      [`{"a":{"eq":${deepArray}}}`, /no nesting/],
      [deepArray, /must be a JSON object/],
      ['{"a":1}', /where\.a must be an object of operators/],
      ['{"a":null}', /where\.a must be an object of operators/],
      ['{"a":[{"eq":1}]}', /where\.a must be an object of operators/],
      ['{"a":{}}', /where\.a must be an object of operators/],
      ['[]', /must be a JSON object/],
      ['null', /must be a JSON object/],
      ['"a"', /must be a JSON object/],
      ['', /where is empty/],
      ['{"a":{"eq":1}', /not valid JSON/],
      ['{"a":{"eq":NaN}}', /not valid JSON/],
      ["{'a':{'eq':1}}", /not valid JSON/],
      ['{"a":{"eq":1e999}}', /numbers must be finite/],
      ['{"a":{"eq":-1e999}}', /numbers must be finite/],
      [JSON.stringify({ a: { in: Array.from({ length: 101 }, (_, i) => i) } }), /1 to 100 values/],
      ['{"a":{"in":[]}}', /1 to 100 values/],
      ['{"a":{"in":"x"}}', /1 to 100 values/],
      [JSON.stringify({ a: { eq: 'x'.repeat(1001) } }), /at most 1000 characters/],
      [JSON.stringify({ a: { eq: 'x'.repeat(1024 * 1024) } }), /at most 8192 are accepted/],
      [JSON.stringify({ a: { eq: 'é'.repeat(4100) } }), /8215 bytes; at most 8192/],
      ['{"a":{"eq":"\\u0000"}}', /NUL/],
      ['{"a":{"eq":"x\\ud800"}}', /unpaired surrogate/],
      ['{"a":{"in":["ok","\\udc00"]}}', /unpaired surrogate/],
      ['{"a":{"lt":true}}', /lt takes a string or a number/],
      ['{"a":{"gte":null}}', /gte takes a string or a number/],
      ['{"a":{"prefix":""}}', /prefix takes a non-empty string/],
      ['{"a":{"prefix":5}}', /prefix takes a non-empty string/],
      ['{"version":{"eq":"1"}}', /version takes a 32-bit integer/],
      ['{"version":{"eq":1.5}}', /version takes a 32-bit integer/],
      ['{"version":{"lt":3000000000}}', /version takes a 32-bit integer/],
      ['{"version":{"prefix":"1"}}', /version takes a 32-bit integer/],
      ['{"ownerId":{"eq":null}}', /ownerId takes a string/],
      ['{"createdAt":{"gt":5}}', /createdAt takes a string/],
      ['{"id":{"in":["a",true]}}', /id takes a string/],
      [
        `{${Array.from({ length: 11 }, (_, i) => `"f${i}":{"eq":${i}}`).join(',')}}`,
        /more than 10 conditions/,
      ],
      [
        '{"a":{"eq":1,"ne":2,"lt":3,"lte":4,"gt":5,"gte":6,"in":[7],"prefix":"8"},"b":{"eq":1,"ne":2,"lt":3}}',
        /more than 10/,
      ],
    ];
    for (const [where, detail] of cases) {
      assert.throws(() => parseQuery({ where }), refused('where', detail), where.slice(0, 80));
    }
  });

  it('refuses bad orderBy and limit', () => {
    for (const orderBy of ['', '-', '--a', 'a b', "a'", '-x;DROP TABLE t', 'a.b', '__proto__', '+a']) {
      assert.throws(() => parseQuery({ orderBy }), refused('orderBy'), orderBy);
    }
    for (const limit of [0, -1, 101, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => parseQuery({ limit }), refused('limit', /integer from 1 to 100/), String(limit));
    }
  });

  it('round-trips cursors bound to where and orderBy, and refuses others', () => {
    const input = { where: '{"status":{"eq":"open"},"score":{"gte":3}}', orderBy: '-score' };
    const query = parseQuery({ ...input, limit: 7 });
    const cursor = encodeCursor(query, { id: 'doc-1', sortValue: 12 });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(parseQuery({ ...input, limit: 30, cursor }).after, { id: 'doc-1', sortValue: 12 });
    // Same query written differently: key order and whitespace do not matter.
    const reordered = {
      where: '{ "score": {"gte": 3}, "status": {"eq": "open"} }',
      orderBy: '-score',
      cursor,
    };
    assert.deepEqual(parseQuery(reordered).after, { id: 'doc-1', sortValue: 12 });
    // Ordering by id takes the id as the sort value.
    const byId = parseQuery({ orderBy: 'id' });
    assert.deepEqual(
      parseQuery({ orderBy: 'id', cursor: encodeCursor(byId, { id: 'x', sortValue: 'x' }) }).after,
      {
        id: 'x',
        sortValue: 'x',
      },
    );
    const objectCursor = encodeCursor(parseQuery({ orderBy: 'meta' }), {
      id: 'd',
      sortValue: { a: [1, 'b'] },
    });
    assert.deepEqual(parseQuery({ orderBy: 'meta', cursor: objectCursor }).after?.sortValue, { a: [1, 'b'] });

    const forge = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    const q = (where: string, orderBy: string) =>
      createHash('sha256')
        .update(
          JSON.stringify([
            parseQuery({ where, orderBy }).where,
            orderBy.replace(/^-/, ''),
            orderBy.startsWith('-'),
          ]),
        )
        .digest('base64url')
        .slice(0, 22);
    const refusedCursors: [Parameters<typeof parseQuery>[0], RegExp][] = [
      [
        {
          ...input,
          cursor: encodeCursor(parseQuery({ ...input, orderBy: 'score' }), { id: 'a', sortValue: 1 }),
        },
        /different where or orderBy/,
      ],
      [
        { ...input, cursor: encodeCursor(parseQuery({ orderBy: '-score' }), { id: 'a', sortValue: 1 }) },
        /different where or orderBy/,
      ],
      [
        {
          orderBy: 'score',
          cursor: encodeCursor(parseQuery({ orderBy: 'rank' }), { id: 'a', sortValue: 1 }),
        },
        /different/,
      ],
      [{ cursor: 'garbage' }, /not one this endpoint issued/],
      [{ cursor: 'a+b/c=' }, /not one this endpoint issued/],
      [{ cursor: '' }, /not one this endpoint issued/],
      [{ cursor: Buffer.from('not json').toString('base64url') }, /not one this endpoint issued/],
      [{ cursor: forge([1, 2]) }, /not one this endpoint issued/],
      [{ cursor: forge({ q: q('{}', 'createdAt'), i: 'a' }) }, /not one this endpoint issued/],
      [{ cursor: forge({ q: q('{}', 'createdAt'), i: 'a', v: 5 }) }, /not one this endpoint issued/],
      [{ cursor: forge({ q: q('{}', 'createdAt'), i: 'a\u0000', v: 'x' }) }, /not one this endpoint issued/],
      [{ cursor: forge({ q: q('{}', 'createdAt'), i: '', v: 'x' }) }, /not one this endpoint issued/],
      [
        { orderBy: 'version', cursor: forge({ q: q('{}', 'version'), i: 'a', v: 1.5 }) },
        /not one this endpoint/,
      ],
      [
        { orderBy: 'score', cursor: forge({ q: q('{}', 'score'), i: 'a', v: null }) },
        /not one this endpoint/,
      ],
      [
        { orderBy: 'score', cursor: forge({ q: q('{}', 'score'), i: 'a', v: ['\ud800'] }) },
        /not one this endpoint/,
      ],
      [{ cursor: 'A'.repeat(16 * 1024 + 1) }, /longer than 16384/],
    ];
    for (const [cursorInput, detail] of refusedCursors) {
      assert.throws(
        () => parseQuery(cursorInput),
        refused('cursor', detail),
        JSON.stringify(cursorInput).slice(0, 120),
      );
    }
    assert.equal(
      parseQuery({ orderBy: 'score', cursor: forge({ q: q('{}', 'score'), i: 'a', v: 3 }) }).after?.sortValue,
      3,
    );
    assert.throws(
      () => encodeCursor(parseQuery({ orderBy: 'score' }), { id: 'a', sortValue: undefined }),
      TypeError,
    );
  });
});

describe('servingIndex', () => {
  const idx = (fields: string[], unique = false): IndexDefinition => ({ fields, unique });
  const statusScore = idx(['status', 'score']);
  const scoreStatus = idx(['score', 'status']);
  const ownerStatusCreated = idx(['ownerId', 'status', 'createdAt']);
  const email = idx(['email'], true);
  const createdAt = idx(['createdAt']);
  const all = [statusScore, scoreStatus, ownerStatusCreated, email, createdAt];

  it('finds the index with the equality prefix followed by the order field, or suggests one', () => {
    const cases: [
      Parameters<typeof parseQuery>[0],
      IndexDefinition[],
      IndexDefinition | 'primary-key' | string[],
    ][] = [
      [{ where: '{"status":{"eq":"open"}}', orderBy: 'score' }, all, statusScore],
      [{ where: '{"status":{"eq":"open"}}', orderBy: '-score' }, all, statusScore],
      [{ where: '{"status":{"eq":"open"},"score":{"gt":3}}', orderBy: 'score' }, all, statusScore],
      // A residual filter on another field does not change which index serves.
      [{ where: '{"status":{"eq":"open"},"title":{"prefix":"a"}}', orderBy: 'score' }, all, statusScore],
      [{ orderBy: 'score' }, all, scoreStatus],
      [{ where: '{"score":{"lt":3}}', orderBy: 'score' }, all, scoreStatus],
      [{}, all, createdAt],
      [{ where: '{"status":{"eq":"a"},"ownerId":{"eq":"u"}}' }, all, ownerStatusCreated],
      [
        { where: '{"ownerId":{"eq":"u"},"status":{"eq":"a"}}', orderBy: '-createdAt' },
        all,
        ownerStatusCreated,
      ],
      // Equality on the order field: the equality fields alone are enough, in any order.
      [{ where: '{"status":{"eq":"a"},"score":{"eq":1}}', orderBy: 'score' }, all, statusScore],
      [{ where: '{"status":{"eq":"a"},"score":{"eq":1}}', orderBy: 'status' }, [scoreStatus], scoreStatus],
      [{ where: '{"email":{"eq":"a@b"}}', orderBy: 'score' }, all, email],
      [{ where: '{"email":{"eq":"a@b"}}', orderBy: 'score' }, [idx(['email'])], ['email', 'score']],
      [{ where: '{"id":{"eq":"d1"}}', orderBy: 'score' }, [], 'primary-key'],
      [{ where: '{"id":{"in":["d1","d2"]}}' }, [], 'primary-key'],
      [{ orderBy: 'id' }, [], 'primary-key'],
      [{ orderBy: '-id', where: '{"id":{"gt":"d"}}' }, [], 'primary-key'],
      [{ orderBy: 'id', where: '{"status":{"eq":"a"}}' }, [], ['status', 'id']],
      // Not served: the equality prefix is incomplete, out of place, or the order field does not follow.
      [{ where: '{"ownerId":{"eq":"u"}}' }, all, ['ownerId', 'createdAt']],
      [{ where: '{"status":{"eq":"open"}}', orderBy: 'title' }, all, ['status', 'title']],
      [
        { where: '{"status":{"eq":"a"},"ownerId":{"eq":"u"}}', orderBy: 'score' },
        all,
        ['ownerId', 'status', 'score'],
      ],
      [{ where: '{"status":{"eq":"a"}}' }, [createdAt], ['status', 'createdAt']],
      [{ where: '{"status":{"ne":"a"}}' }, [idx(['status'])], ['createdAt']],
      [{ where: '{"status":{"in":["a","b"]}}', orderBy: 'score' }, [idx(['status', 'score'])], ['score']],
      [{}, [], ['createdAt']],
    ];
    for (const [input, indexes, expected] of cases) {
      const result = servingIndex(parseQuery(input), indexes);
      const label = `${JSON.stringify(input)} with ${JSON.stringify(indexes.map((i) => i.fields))}`;
      if (Array.isArray(expected)) {
        assert.deepEqual(result, { served: false, suggestion: { fields: expected, unique: false } }, label);
        // The suggestion itself serves the query.
        assert.equal(
          servingIndex(parseQuery(input), [{ fields: expected, unique: false }]).served,
          true,
          label,
        );
      } else {
        assert.deepEqual(result, { served: true, by: expected }, label);
      }
    }
  });
});

describe('compileQuery', () => {
  it('numbers the read rule parameters after its own', () => {
    const query = parseQuery({
      where: '{"status":{"eq":"open"},"score":{"gt":2}}',
      orderBy: 'score',
      limit: 5,
    });
    const compiled = compileQuery('postgres', 'notes', query, (first) => ({
      sql: `owner_id = $${first} OR (body ->> 'note') = '$1' OR "$2x" = $${first + 1}`,
      params: ['u1', 'x'],
    }));
    assert.notEqual(compiled, 'none');
    if (compiled === 'none') return;
    assert.equal(
      compiled.sql,
      'SELECT id, owner_id, version, created_at, updated_at, body::text AS body FROM data_c_notes WHERE ' +
        `((body -> 'score') > $1::jsonb AND jsonb_typeof((body -> 'score')) = 'number') AND ` +
        `(body -> 'status') = $2::jsonb AND jsonb_typeof((body -> 'score')) <> 'null' AND ` +
        `(owner_id = $3 OR (body ->> 'note') = '$1' OR "$2x" = $4) ORDER BY (body -> 'score'), id LIMIT 6`,
    );
    assert.deepEqual(compiled.params, ['2', '"open"', 'u1', 'x']);
    assert.equal(
      compileQuery('sqlite', 'notes', parseQuery({}), () => 'none'),
      'none',
    );
    const all = compileQuery('sqlite', 'notes', parseQuery({}), () => 'all');
    assert.ok(all !== 'none' && !/WHERE/.test(all.sql) && all.params.length === 0);
    assert.deepEqual(compileQuery('sqlite', 'notes', parseQuery({})), all);
    assert.throws(() => compileQuery('sqlite', 'Notes; --', query), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// On real databases: every operator against a plain JS filter, pagination, and index use.

interface Doc {
  id: string;
  ownerId: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  body: Record<string, unknown>;
}

const BASE_TIME = Date.parse('2024-01-01T00:00:00.000Z');
const STRINGS = [
  'apple',
  'apricot',
  'ap%x',
  'ap_x',
  'apxx',
  'ap',
  'a\\b',
  'a\\\\b',
  'ab',
  '100%',
  '100',
  '10_0',
  'Banana',
  'banana',
  'b',
  '',
  'zeta',
  "O'Brien",
  "'; DROP TABLE data_c_items; --",
  'émile',
  'z😀',
  '{"a":1}',
  '5',
];

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeDocs(count: number, seed: number, first = 0): Doc[] {
  const rand = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const docs: Doc[] = [];
  for (let i = first; i < first + count; i++) {
    const body: Record<string, unknown> = { status: pick(['open', 'closed', 'draft']) };
    const r = rand();
    if (r > 0.12) body.score = Math.floor(rand() * 30);
    else if (r > 0.06) body.score = null;
    const n = rand();
    if (n < 0.4) body.n = Math.floor(rand() * 10);
    else if (n < 0.5) body.n = Math.floor(rand() * 10) + 0.5;
    else if (n < 0.6) body.n = pick(['5', '7', 'x']);
    else if (n < 0.7) body.n = pick([true, false]);
    else if (n < 0.75) body.n = null;
    else if (n < 0.8) body.n = pick([{ a: 1 }, [1, 2]]);
    if (rand() < 0.9) body.s = rand() < 0.1 ? 42 : pick(STRINGS);
    const f = rand();
    if (f < 0.35) body.flag = true;
    else if (f < 0.7) body.flag = false;
    else if (f < 0.8) body.flag = pick([1, 0]);
    const createdAt = new Date(BASE_TIME + Math.floor(i / 3) * 1000).toISOString();
    docs.push({
      id: `doc-${createHash('sha256').update(`${seed}:${i}`).digest('hex').slice(0, 12)}`,
      ownerId: `u${1 + (i % 4)}`,
      version: 1 + (i % 5),
      createdAt,
      updatedAt: new Date(Date.parse(createdAt) + Math.floor(rand() * 5000)).toISOString(),
      body,
    });
  }
  return docs;
}

function fieldValue(doc: Doc, field: string): unknown {
  if (isSystemField(field)) return doc[field];
  return Object.hasOwn(doc.body, field) ? doc.body[field] : undefined;
}

function jsonType(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function sameValue(actual: unknown, expected: unknown): boolean {
  return jsonType(actual) === jsonType(expected) && actual === expected;
}

/** The documented semantics, as a plain JS filter. */
function matches(doc: Doc, condition: Condition): boolean {
  const value = fieldValue(doc, condition.field);
  switch (condition.op) {
    case 'eq':
      return sameValue(value, condition.value);
    case 'ne':
      return !sameValue(value, condition.value);
    case 'in':
      return condition.values.some((item) => sameValue(value, item));
    case 'prefix':
      return typeof value === 'string' && value.startsWith(condition.value);
    default: {
      if (jsonType(value) !== jsonType(condition.value)) return false;
      const [a, b] = [value as string | number, condition.value];
      return { lt: a < b, lte: a <= b, gt: a > b, gte: a >= b }[condition.op];
    }
  }
}

function compareValues(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** The expected answer: the JS filter, ordered by (field, id), without documents lacking the field. */
function expected(docs: Doc[], query: DocumentQuery): string[] {
  const { field, descending } = query.orderBy;
  const sign = descending ? -1 : 1;
  return docs
    .filter((doc) => query.where.every((condition) => matches(doc, condition)))
    .filter((doc) => fieldValue(doc, field) !== undefined && fieldValue(doc, field) !== null)
    .sort(
      (a, b) =>
        sign * (compareValues(fieldValue(a, field), fieldValue(b, field)) || compareValues(a.id, b.id)),
    )
    .map((doc) => doc.id);
}

const OPERATOR_CASES: Record<string, unknown>[] = [
  { n: { eq: 5 } },
  { n: { eq: 5.5 } },
  { n: { eq: '7' } },
  { n: { eq: '5' } },
  { n: { eq: null } },
  { n: { eq: true } },
  { n: { eq: false } },
  { n: { eq: 1 } },
  { n: { eq: '{"a":1}' } },
  { n: { eq: '[1,2]' } },
  { flag: { eq: true } },
  { flag: { eq: false } },
  { flag: { eq: 1 } },
  { flag: { eq: 0 } },
  { s: { eq: '' } },
  { s: { eq: 'ap%x' } },
  { s: { eq: "'; DROP TABLE data_c_items; --" } },
  { s: { eq: "O'Brien" } },
  { s: { eq: 'z😀' } },
  { s: { eq: 42 } },
  { s: { eq: '42' } },
  { status: { eq: 'open' } },
  { missing: { eq: null } },
  { ownerId: { eq: 'u2' } },
  { version: { eq: 3 } },
  { n: { ne: 5 } },
  { n: { ne: null } },
  { n: { ne: '7' } },
  { flag: { ne: true } },
  { flag: { ne: 1 } },
  { status: { ne: 'open' } },
  { missing: { ne: 1 } },
  { ownerId: { ne: 'u1' } },
  { version: { ne: 2 } },
  { n: { lt: 5 } },
  { n: { lte: 5 } },
  { n: { gt: 7 } },
  { n: { gte: 7.5 } },
  { n: { lt: 'x' } },
  { n: { gte: '5' } },
  { n: { gt: 2, lt: 8 } },
  { n: { gt: -1e300 } },
  { s: { lt: 'b' } },
  { s: { gte: 'apr' } },
  { s: { gt: '' } },
  { s: { lte: 'B' } },
  { s: { gt: 41 } },
  { flag: { gte: 0 } },
  { createdAt: { gte: '2024-01-01T00:00:30.000Z' } },
  { createdAt: { lt: '2024-01-01T00:00:30.000Z' } },
  { updatedAt: { gt: '2024-01-01T00:01:00.000Z', lte: '2024-01-01T00:01:10.000Z' } },
  { version: { gt: 3 } },
  { version: { lte: 2 } },
  { id: { lt: 'doc-8' } },
  { id: { gte: 'doc-3', lt: 'doc-5' } },
  { n: { in: [1, 2, '7', null, true] } },
  { n: { in: [1, false] } },
  { n: { in: [0, true] } },
  { n: { in: [3.5, 4] } },
  { flag: { in: [true, 0] } },
  { flag: { in: [true, false] } },
  { s: { in: ['apple', 'zeta', 'nope', 42] } },
  { status: { in: ['open', 'draft'] } },
  { ownerId: { in: ['u1', 'u3'] } },
  { version: { in: [1, 5] } },
  { s: { prefix: 'ap' } },
  { s: { prefix: 'ap%' } },
  { s: { prefix: 'ap_' } },
  { s: { prefix: 'a\\' } },
  { s: { prefix: 'a\\\\' } },
  { s: { prefix: '100%' } },
  { s: { prefix: '10' } },
  { s: { prefix: '%' } },
  { s: { prefix: '_' } },
  { s: { prefix: 'A' } },
  { s: { prefix: 'b' } },
  { s: { prefix: 'z😀' } },
  { s: { prefix: 'z\u{10ffff}' } },
  { s: { prefix: "'" } },
  { s: { prefix: '4' } },
  { n: { prefix: '5' } },
  { id: { prefix: 'doc-a' } },
  { ownerId: { prefix: 'u' } },
  { createdAt: { prefix: '2024-01-01T00:00:1' } },
  { status: { eq: 'open' }, n: { gte: 3 }, s: { prefix: 'a' } },
  { status: { ne: 'closed' }, flag: { eq: false }, ownerId: { in: ['u2', 'u4'] }, version: { gte: 2 } },
];

type OpenStore = () => Promise<{ store: Store; close: () => Promise<void> }>;

function databaseSuite(dialect: Dialect, open: OpenStore): void {
  describe(`on ${dialect}`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const docs = makeDocs(200, 1);

    async function createCollection(collection: string, rows: Doc[]): Promise<void> {
      const table = tableName(collection);
      const body = dialect === 'postgres' ? 'JSONB' : 'TEXT';
      await store.execute(
        `CREATE TABLE ${table} (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, version INTEGER NOT NULL, ` +
          `created_at TEXT NOT NULL, updated_at TEXT NOT NULL, body ${body} NOT NULL)`,
      );
      const f = (field: string) => fieldSql(dialect, field);
      await store.execute(
        `CREATE INDEX ${collection}_status_score ON ${table} (${f('status')}, ${f('score')})`,
      );
      await store.execute(`CREATE INDEX ${collection}_n ON ${table} (${f('n')})`);
      await store.execute(`CREATE INDEX ${collection}_created ON ${table} (${f('createdAt')})`);
      await insert(collection, rows);
    }

    async function insert(collection: string, rows: Doc[]): Promise<void> {
      await store.transaction(async (tx) => {
        for (const doc of rows) {
          await tx.execute(
            `INSERT INTO ${tableName(collection)} (id, owner_id, version, created_at, updated_at, body) ` +
              'VALUES ($1, $2, $3, $4, $5, $6)',
            [doc.id, doc.ownerId, doc.version, doc.createdAt, doc.updatedAt, JSON.stringify(doc.body)],
          );
        }
      });
    }

    async function run(
      collection: string,
      query: DocumentQuery,
      extra?: Parameters<typeof compileQuery>[3],
    ): Promise<Doc[]> {
      const compiled = compileQuery(dialect, collection, query, extra);
      if (compiled === 'none') return [];
      const { sql, params } = compiled;
      const rows = await store.query(sql, params);
      return rows.map((row) => ({
        id: row.id as string,
        ownerId: row.owner_id as string,
        version: row.version as number,
        createdAt: row.created_at as string,
        updatedAt: row.updated_at as string,
        body: (typeof row.body === 'string' ? JSON.parse(row.body) : row.body) as Record<string, unknown>,
      }));
    }

    /** Follows nextCursor through the whole answer, as a client would. */
    async function paginate(
      collection: string,
      input: { where?: string; orderBy?: string },
      pageSize: number,
      betweenPages?: (page: Doc[]) => Promise<void>,
    ): Promise<Doc[]> {
      const seen: Doc[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 500; pages++) {
        const query = parseQuery({ ...input, limit: pageSize, cursor });
        const rows = await run(collection, query);
        const page = rows.slice(0, pageSize);
        seen.push(...page);
        const last = page.at(-1);
        if (rows.length <= pageSize || !last) return seen;
        cursor = encodeCursor(query, { id: last.id, sortValue: fieldValue(last, query.orderBy.field) });
        await betweenPages?.(page);
      }
      throw new Error('pagination did not end');
    }

    before(async () => {
      ({ store, close } = await open());
      await createCollection('items', docs);
    });

    after(async () => {
      await close?.();
    });

    it('answers every operator with exactly the documents a JS filter selects', async () => {
      for (const where of OPERATOR_CASES) {
        const text = JSON.stringify(where);
        const query = { ...parseQuery({ where: text, orderBy: 'id' }), limit: 1000 };
        const actual = (await run('items', query)).map((doc) => doc.id);
        assert.deepEqual(actual, expected(docs, query), text);
        // The complement: ne selects exactly what eq does not.
        const negated = Object.fromEntries(
          Object.entries(where).map(([field, ops]) => [
            field,
            Object.fromEntries(Object.entries(ops as object).map(([op, v]) => [op === 'eq' ? 'ne' : op, v])),
          ]),
        );
        if (Object.keys(where).length === 1 && Object.keys(Object.values(where)[0] as object)[0] === 'eq') {
          const complement = {
            ...parseQuery({ where: JSON.stringify(negated), orderBy: 'id' }),
            limit: 1000,
          };
          const rest = (await run('items', complement)).map((doc) => doc.id);
          assert.equal(rest.length + actual.length, docs.length, `ne complements ${text}`);
        }
      }
      // The fixtures exercise what they should: mixed types, nulls, missing fields.
      const count = (where: object) =>
        expected(docs, { ...parseQuery({ where: JSON.stringify(where), orderBy: 'id' }), limit: 1000 })
          .length;
      for (const where of [
        { n: { eq: null } },
        { n: { eq: '7' } },
        { n: { eq: true } },
        { flag: { eq: 1 } },
        { score: { eq: null } },
      ]) {
        assert.ok(count(where) > 0, JSON.stringify(where));
      }
      assert.ok(docs.some((doc) => !Object.hasOwn(doc.body, 'n')));
    });

    it('ANDs the read rule, with its parameters renumbered, and "none" admits nothing', async () => {
      const query = {
        ...parseQuery({ where: '{"status":{"eq":"open"},"n":{"gte":2}}', orderBy: 'id' }),
        limit: 1000,
      };
      const rule = (first: number) => ({
        sql: `owner_id = $${first} OR version = $${first + 1}`,
        params: ['u2', 5],
      });
      const actual = (await run('items', query, rule)).map((doc) => doc.id);
      const allowed = new Set(
        docs.filter((doc) => doc.ownerId === 'u2' || doc.version === 5).map((doc) => doc.id),
      );
      assert.deepEqual(
        actual,
        expected(docs, query).filter((id) => allowed.has(id)),
      );
      assert.ok(actual.length > 0);
      assert.deepEqual(await run('items', query, () => 'none'), []);
    });

    it('orders only documents holding the order field, ties broken by id', async () => {
      const query = { ...parseQuery({ orderBy: '-score' }), limit: 1000 };
      const actual = (await run('items', query)).map((doc) => doc.id);
      assert.deepEqual(actual, expected(docs, query));
      assert.ok(actual.length < docs.length);
    });

    it('paginates with limit 7 through every match exactly once, in order, both directions', async () => {
      const inputs = [
        {},
        { orderBy: '-createdAt' },
        { orderBy: 'score' },
        { orderBy: '-score' },
        { orderBy: 'id' },
        { orderBy: '-id' },
        { orderBy: 'version' },
        { orderBy: '-version' },
        { orderBy: 'updatedAt', where: '{"ownerId":{"ne":"u3"}}' },
        { orderBy: '-score', where: '{"status":{"eq":"open"}}' },
        { orderBy: 'score', where: '{"score":{"gte":10},"n":{"ne":null}}' },
      ];
      for (const input of inputs) {
        const pages = await paginate('items', input, 7);
        const query = { ...parseQuery(input), limit: 1000 };
        assert.deepEqual(
          pages.map((doc) => doc.id),
          expected(docs, query),
          JSON.stringify(input),
        );
        assert.ok(pages.length > 14, JSON.stringify(input));
      }
    });

    it('paginates a field of mixed JSON types in the same order as one query', async () => {
      for (const orderBy of ['n', '-n', 's', '-s']) {
        const all = (await run('items', { ...parseQuery({ orderBy }), limit: 1000 })).map((doc) => doc.id);
        const pages = (await paginate('items', { orderBy }, 7)).map((doc) => doc.id);
        assert.deepEqual(pages, all, orderBy);
        const present = docs.filter(
          (doc) => ![undefined, null].includes(doc.body[orderBy.replace('-', '')] as never),
        );
        assert.equal(pages.length, present.length, orderBy);
      }
    });

    it('stays stable when documents are inserted between pages', async () => {
      const initial = makeDocs(60, 2);
      await createCollection('live', initial);
      const live = [...initial];
      let next = 1000;
      for (const orderBy of ['score', '-score', 'createdAt', '-createdAt']) {
        const field = orderBy.replace('-', '');
        const before = expected(live, { ...parseQuery({ orderBy }), limit: 1000 });
        const pages = await paginate('live', { orderBy }, 7, async (page) => {
          // Around the cursor: one document sorting before it, one tying with it, one after.
          const last = page.at(-1) as Doc;
          const fresh = makeDocs(3, 3, next).map((doc, i) => {
            const copy = structuredClone(doc);
            if (field === 'score') copy.body.score = (last.body.score as number) + (i - 1);
            else copy.createdAt = new Date(Date.parse(last.createdAt) + (i - 1) * 1000).toISOString();
            return copy;
          });
          next += 3;
          live.push(...fresh);
          await insert('live', fresh);
        });
        const ids = pages.map((doc) => doc.id);
        assert.equal(new Set(ids).size, ids.length, `${orderBy}: no document twice`);
        const seen = new Set(ids);
        assert.deepEqual(
          before.filter((id) => !seen.has(id)),
          [],
          `${orderBy}: every earlier document once`,
        );
        // In order: the answer equals the final ordering restricted to what was returned.
        const final = expected(live, { ...parseQuery({ orderBy }), limit: 10_000 });
        assert.deepEqual(
          ids,
          final.filter((id) => seen.has(id)),
          `${orderBy}: in order`,
        );
        assert.ok(ids.length > before.length, `${orderBy}: documents inserted after the cursor show up`);
      }
    });

    it('serves equality + order from the expression index', async () => {
      const query = parseQuery({ where: '{"status":{"eq":"open"}}', orderBy: '-score', limit: 7 });
      const { sql, params } = compileQuery(dialect, 'items', query);
      let plan: string;
      if (dialect === 'postgres') {
        plan = await store.transaction(async (tx) => {
          await tx.execute('SET LOCAL enable_seqscan = off');
          const rows = await tx.query(`EXPLAIN ${sql}`, params);
          return rows.map((row) => String(row['QUERY PLAN'])).join('\n');
        });
        assert.doesNotMatch(plan, /Seq Scan/);
      } else {
        const rows = await store.query(`EXPLAIN QUERY PLAN ${sql}`, params);
        plan = rows.map((row) => String(row.detail)).join('\n');
      }
      assert.match(plan, /items_status_score/, plan);
      assert.equal(servingIndex(query, [{ fields: ['status', 'score'], unique: false }]).served, true);
    });
  });
}

databaseSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-query-'));
  const store = await createStore({ kind: 'sqlite', file: join(dir, 'data.db') }, quietTelemetry());
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

databaseSuite('postgres', async () => {
  const database: TestDatabase = await createTestDatabase();
  try {
    const store = await createStore({ kind: 'postgres', url: database.url, poolSize: 2 }, quietTelemetry());
    return {
      store,
      close: async () => {
        try {
          await store.close();
        } finally {
          await database.drop();
        }
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
});
