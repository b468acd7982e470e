import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jsep from 'jsep';
import { isTernError } from '@tern/errors';
import { createStore, type Dialect, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import { tableName } from '../schema/field-sql';
import { compileRule, OWNER_ONLY, type RuleAuth } from './compile-rule';

const owner: RuleAuth = {
  id: 'u1',
  roles: [],
  claims: { org: 'o1', level: 3, groups: ['g1', 'g2'] },
  anonymous: false,
};
const admin: RuleAuth = { id: 'u2', roles: ['admin', 'editor'], claims: { org: 'o2' }, anonymous: false };
const guest: RuleAuth = { id: 'g9', roles: [], claims: {}, anonymous: true };
const callers: [string, RuleAuth | undefined][] = [
  ['owner', owner],
  ['admin', admin],
  ['anonymous', undefined],
  ['guest account', guest],
];

function refusal(source: string): { detail: string; position: unknown } {
  try {
    compileRule(source);
  } catch (error) {
    assert.ok(isTernError(error), `expected a TernError for ${source}`);
    assert.equal(error.code, 'data/invalid-rule');
    assert.equal(error.status, 400);
    return { detail: error.message, position: error.details.position };
  }
  assert.fail(`expected ${JSON.stringify(source.slice(0, 80))} to be refused`);
}

describe('compileRule: parsing', () => {
  const accepted = [
    OWNER_ONLY,
    "doc.ownerId == auth.id || 'admin' in auth.roles",
    'true',
    'false',
    '(true)',
    'doc.published',
    '!doc.published && !auth.anonymous',
    'auth.anonymous',
    'auth.claims.admin',
    'doc.n < 3 && doc.n >= -1.5 || doc.n > 1e3 || doc.n <= 0.25',
    "doc.s != 'a' && doc.s == \"b\" && doc.s != 'it\\'s'",
    "doc.x in [1, 'a', null, true, false, -2]",
    'doc.x in []',
    'doc.role in auth.roles && doc.org == auth.claims.org && doc.group in auth.claims.groups',
    'auth.id in doc.members',
    "'a' in doc.tags",
    'doc.id == "x" && doc.version > 1 && doc.createdAt < \'2025\' || true',
    "doc.updatedAt >= '2024' && doc.ownerId != auth.id",
    'null == doc.x',
    "'b' > doc.s",
    '1 == 1',
    'auth.id != null',
    `doc.x in [${Array.from({ length: 100 }, (_, i) => i).join(', ')}]`,
    `${'!'.repeat(32)}true`,
    `${'('.repeat(32)}true${')'.repeat(32)}`,
    Array.from({ length: 90 }, (_, i) => `doc.f${i} == ${i}`).join(' || '),
    'doc._private == 1 && doc.A_1 == 2',
  ];
  for (const source of accepted) {
    it(`accepts ${source.length > 60 ? `${source.slice(0, 60)}…` : source}`, () => {
      assert.equal(compileRule(source).source, source);
    });
  }

  const refused: [string, RegExp, number?][] = [
    ['', /the rule is empty/],
    ['  ', /the rule is empty/],
    ['doc', /not a condition|auth and doc|is never|not a field/],
    ['auth', /unknown path|never/],
    ['doc.x[1] == 1', /computed access/, 0],
    ["doc['x'] == 1", /computed access/, 0],
    ["doc.ownerId == auth.id && doc['ownerId'] == 'u1'", /computed access/, 26],
    ['auth.id()', /function calls/, 0],
    ['doc.x == 1 || auth.id()', /function calls/, 14],
    ['process.exit()', /function calls/, 0],
    ['process.env == 1', /unknown name process/, 0],
    ["constructor == 'x'", /constructor is not allowed/],
    ['doc.constructor == 1', /constructor is not allowed/],
    ['doc.__proto__ == null', /__proto__ is not allowed/],
    ['auth.claims.__proto__ == null', /__proto__ is not allowed/],
    ['doc.prototype == 1', /prototype is not allowed/],
    ["doc.constructor.constructor('return process')()", /function calls|constructor/],
    ['this.x == 1', /this is not allowed/],
    ['this', /this is not allowed/],
    ['doc.x = 1', /Unexpected/, 6],
    ['doc.x == (doc.y = 1)', /Unexpected/],
    ['`x` == doc.x', /Unexpected/, 0],
    ['doc.a.b == 1', /top-level fields only/],
    ['doc.x?.y == 1', /optional chaining|top-level/],
    ['auth.claims == 1', /unknown path auth.claims/],
    ['auth.claims.a.b == 1', /unknown path/],
    ['auth.email == 1', /unknown path auth.email/],
    ['user.id == doc.ownerId', /unknown name user/, 0],
    ['doc.ownerId == foo', /unknown name foo/, 15],
    ['doc.$x == 1', /invalid field name/],
    ['doc.x === 1', /use == instead of ===/],
    ['doc.x !== 1', /use != instead of !==/],
    ['doc.x + 1 == 2', /operator \+ is not allowed/],
    ['doc.n * 2 > 1', /operator \* is not allowed/],
    ['doc.x ?? true', /operator \?\? is not allowed/],
    ['doc.x ? true : false', /\?: operator/],
    ['~doc.x', /operator ~ is not allowed/],
    ['-doc.x == 1', /operator - is not allowed/],
    ['+1 == doc.x', /operator \+ is not allowed/],
    ['doc.x == 1; doc.y == 2', /one expression/, 12],
    ['doc.x == 1 doc.y == 2', /one expression/, 11],
    ['doc.x == 1, true', /one expression/],
    ["'a'", /is not a condition/, 0],
    ['1', /is not a condition/],
    ['null', /is not a condition/],
    ['[true]', /not a condition/],
    ['doc.ownerId', /never a boolean/],
    ['auth.id && true', /never a boolean/],
    ['auth.roles', /never a boolean/],
    ['doc.x == doc.y', /doc on one side only/],
    ['doc.x in doc.y', /doc on one side only/],
    ['doc.x == [1]', /only be the right side of in/],
    ['[1] in doc.x', /only be the right side of in/],
    ["auth.roles == 'admin'", /auth.roles is a list/],
    ["'admin' == auth.roles", /auth.roles is a list/],
    ['auth.roles in doc.x', /auth.roles is a list/],
    ["doc.x in 'abc'", /right side of in/],
    ['doc.x in auth.id', /right side of in/],
    ["'a' in doc.ownerId", /right side of in/],
    ['doc.x in [doc.y]', /array elements must be literals/],
    ['doc.x in [[1]]', /array elements must be literals/],
    ['doc.x in [1,,2]', /empty slot/],
    [`doc.x in [${Array.from({ length: 101 }, (_, i) => i).join(',')}]`, /more than 100 elements/],
    ['doc.x == 1e400', /out of range/],
    ["doc.x == '\\u0041'", /escape \\u/],
    ["doc.x == '\\x41'", /escape \\x/],
    ["doc.x == 'unterminated", /Unclosed quote|Unexpected/],
    ['doc.x == /re/', /Expected expression|Unexpected/],
    ['doc.x => 1', /Unexpected/],
    ['new Function("x")', /function calls|one expression|unknown name/],
    [`${'!'.repeat(33)}true`, /deeper than 32/],
    [`${'('.repeat(33)}true${')'.repeat(33)}`, /deeper than 32/],
    [`doc.x in ${'['.repeat(40)}${']'.repeat(40)}`, /deeper than 32/],
    [`${'!'.repeat(1990)}true`, /deeper than 32/],
    [`${'('.repeat(990)}true${')'.repeat(990)}`, /deeper than 32/],
    [`doc.s == '${'x'.repeat(2000)}'`, /longer than 2000/, 2000],
    [`${'doc.a == 1 && '.repeat(200)}true`, /longer than 2000/],
  ];
  for (const [source, pattern, position] of refused) {
    it(`refuses ${source.length > 60 ? `${source.slice(0, 60)}…` : JSON.stringify(source)}`, () => {
      const { detail, position: at } = refusal(source);
      assert.match(detail, pattern);
      assert.match(detail, /\(at character \d+\)/);
      if (position !== undefined) assert.equal(at, position, detail);
    });
  }

  it('refuses a non-string source', () => {
    refusal(42 as unknown as string);
  });

  it('leaves jsep as it found it (no global `in`, no hooks)', () => {
    compileRule("'a' in auth.roles");
    assert.ok(!Object.hasOwn(jsep.binary_ops, 'in'));
    assert.equal(jsep('a in b').type, 'Compound');
    const hooks = jsep.hooks as unknown as Record<string, unknown[] | undefined>;
    assert.equal(hooks['gobble-token']?.length ?? 0, 0);
    assert.equal(hooks['after-token']?.length ?? 0, 0);
  });
});

describe('compileRule: evaluate', () => {
  const doc = {
    id: 'd1',
    ownerId: 'u1',
    version: 2,
    createdAt: '2024-05-01T00:00:00.000Z',
    updatedAt: '2024-05-02T00:00:00.000Z',
    n: 2,
    s: 'b',
    published: true,
    zero: 0,
    one: 1,
    nil: null,
    tags: ['a', 1, null, true, ['x'], { k: 1 }],
    obj: { k: 1 },
    arr: ['x'],
    str1: '1',
    role: 'editor',
    org: 'o1',
    group: 'g2',
    emoji: '\u{1F600}',
  };
  const table: [string, RuleAuth | undefined, boolean][] = [
    [OWNER_ONLY, owner, true],
    [OWNER_ONLY, admin, false],
    [OWNER_ONLY, undefined, false],
    [OWNER_ONLY, guest, false],
    ["doc.ownerId == auth.id || 'admin' in auth.roles", admin, true],
    ["doc.ownerId == auth.id || 'admin' in auth.roles", guest, false],
    ['true', undefined, true],
    ['false', owner, false],
    ['doc.published', undefined, true],
    ['doc.one', owner, false], // truthiness is `== true`, not JavaScript's
    ['!doc.one', owner, true],
    ['doc.missing', owner, false],
    ['!doc.missing', owner, true],
    ['doc.n == 2', owner, true],
    ["doc.n == '2'", owner, false], // no coercion
    ['doc.str1 == 1', owner, false],
    ["doc.n != '2'", owner, true],
    ['doc.one == true', owner, false],
    ['doc.zero == false', owner, false],
    ['doc.zero == null', owner, false],
    ['doc.nil == null', owner, true],
    ['doc.missing == null', owner, true],
    ['doc.missing != null', owner, false],
    ['doc.nil != 1', owner, true],
    ['doc.obj == null', owner, false],
    ['doc.obj != null', owner, true],
    ["doc.arr != 'x'", owner, true], // arrays equal nothing
    ['doc.n < 3', owner, true],
    ['doc.n < 2', owner, false],
    ['doc.n <= 2', owner, true],
    ['3 > doc.n', owner, true],
    ["doc.n < '3'", owner, false], // across types
    ["!(doc.n < '3')", owner, true],
    ['doc.missing < 1', owner, false],
    ['doc.missing >= 1', owner, false],
    ['!(doc.missing < 1)', owner, true],
    ['doc.nil <= null', owner, false],
    ['doc.published > false', owner, false],
    ["doc.s > 'a'", owner, true],
    ["doc.s < 'B'", owner, false], // code point order: 'B' < 'a' < 'b'
    ["doc.emoji > '\uFFFD'", owner, true], // code points, not UTF-16 units
    ["doc.createdAt < '2024-06'", owner, true],
    ['doc.version >= 2', owner, true],
    ["doc.version == '2'", owner, false],
    ["'a' in doc.tags", owner, true],
    ['1 in doc.tags', owner, true],
    ["'1' in doc.tags", owner, false],
    ['null in doc.tags', owner, true],
    ['true in doc.tags', owner, true],
    ['false in doc.tags', owner, false],
    ["'x' in doc.tags", owner, false], // nested arrays are not searched
    ["'a' in doc.s", owner, false], // a string is not a list
    ["'a' in doc.missing", owner, false],
    ['doc.n in [1, 2]', owner, true],
    ["doc.n in ['2']", owner, false],
    ['doc.n in []', owner, false],
    ['doc.missing in [null]', owner, true],
    ['doc.arr in [1]', owner, false],
    ['doc.role in auth.roles', admin, true],
    ['doc.role in auth.roles', owner, false],
    ['doc.role in auth.roles', undefined, false],
    ['doc.org == auth.claims.org', owner, true],
    ['doc.org == auth.claims.org', admin, false],
    ['doc.group in auth.claims.groups', owner, true],
    ['doc.group in auth.claims.org', owner, false],
    ['doc.n < auth.claims.level', owner, true],
    ['doc.n < auth.claims.level', admin, false],
    ['auth.claims.missing == null', owner, false], // unknown equals nothing, not even null
    ['auth.id in doc.tags', owner, false],
    ['auth.id == null', undefined, false], // not signed in: auth.* is unknown and equals nothing
    ['doc.editor == auth.id', undefined, false],
    ['doc.editor != auth.id', undefined, true],
    ['auth.id != null', guest, true],
    ['auth.anonymous', guest, true],
    ['auth.anonymous == false', owner, true],
    ['auth.anonymous == null', undefined, false],
    ["'admin' in auth.roles", undefined, false],
    ['1 == 1', undefined, true],
    ["1 == '1'", undefined, false],
    ['null == null', undefined, true],
    ['-1 < 0', undefined, true],
    ['doc.id == "d1" && (doc.n == 1 || doc.s == \'b\') && !doc.missing', owner, true],
  ];
  for (const [source, auth, expected] of table) {
    const who = auth === undefined ? 'anonymous' : auth.id;
    it(`${source} for ${who} is ${expected}`, () => {
      assert.equal(compileRule(source).evaluate(auth, doc), expected);
    });
  }

  it('reads only own properties of documents and claims', () => {
    const rule = compileRule('doc.toString == null && auth.claims.hasOwnProperty != 1');
    assert.equal(rule.evaluate(owner, {}), true);
    assert.equal(compileRule('auth.claims.hasOwnProperty == null').evaluate(owner, {}), false);
    const proto = Object.create({ inherited: 'x' }) as Record<string, unknown>;
    assert.equal(compileRule("doc.inherited == 'x'").evaluate(owner, proto), false);
  });

  it('treats values that are not JSON as equal to nothing', () => {
    const rule = compileRule('doc.x == null || doc.x == 1 || doc.x < 2 || doc.x > 0');
    for (const x of [NaN, Infinity, 10n, new Date(0), () => 1, Symbol('s')]) {
      assert.equal(rule.evaluate(undefined, { x }), false, String(x));
    }
    assert.equal(rule.evaluate(undefined, { x: undefined }), true);
    const claim = compileRule('doc.x == auth.claims.c');
    assert.equal(claim.evaluate({ ...owner, claims: { c: NaN } }, { x: null }), false);
  });
});

describe('compileRule: toSql', () => {
  it('folds what the caller decides', () => {
    const rule = compileRule("doc.ownerId == auth.id || 'admin' in auth.roles");
    assert.equal(rule.toSql(admin, 'postgres', 1), 'all');
    assert.equal(rule.toSql(undefined, 'sqlite', 1), 'none');
    assert.deepEqual(rule.toSql(owner, 'postgres', 4), { sql: 'owner_id = $4', params: ['u1'] });
    assert.deepEqual(rule.toSql(owner, 'sqlite', 1), { sql: 'owner_id = $1', params: ['u1'] });
    assert.equal(compileRule('true').toSql(undefined, 'sqlite', 1), 'all');
    assert.equal(compileRule('false').toSql(admin, 'postgres', 1), 'none');
    assert.equal(compileRule('doc.version == 1 && auth.anonymous').toSql(owner, 'postgres', 1), 'none');
    assert.equal(compileRule("doc.version == 'x' || doc.ownerId == 1").toSql(owner, 'sqlite', 1), 'none');
    assert.equal(compileRule('!(doc.ownerId in [1, true]) || doc.n == 1').toSql(owner, 'sqlite', 1), 'all');
  });

  it('numbers parameters from firstParam on both dialects', () => {
    const rule = compileRule("doc.a == 'x' && doc.b in [1, 2] && auth.id in doc.m && doc.c < 'z'");
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const result = rule.toSql(owner, dialect, 7);
      assert.ok(typeof result === 'object');
      const numbers = [...result.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(
        numbers,
        result.params.map((_, i) => 7 + i),
      );
    }
  });

  it('rejects an invalid firstParam', () => {
    assert.throws(() => compileRule(OWNER_ONLY).toSql(owner, 'sqlite', 0), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Differential: the SQL must select exactly the documents `evaluate` grants, on both databases.

interface TestDoc {
  id: string;
  ownerId: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  body: Record<string, unknown>;
}

const bodies: Record<string, unknown>[] = [
  {},
  { n: 0, s: '', published: false },
  { n: 1, s: 'a', published: true, tags: ['a', 'b'], members: ['u1'] },
  { n: 1.5, s: 'b', published: 1, tags: [], members: ['u2', 'u3'] },
  { n: 2, s: 'B', published: 0, tags: ['u1'], role: 'admin' },
  { n: 3, s: 'é', published: 'true', tags: [1, '1'], role: 'editor' },
  { n: -1, s: '\u{1F600}', published: null, tags: [null], role: 'user' },
  { n: 100000000000000000000, s: '\uFFFD', tags: [true], members: [] },
  { n: '3', s: 1, tags: [false, 'a'], org: 'o1' },
  { n: null, s: null, tags: 'a', org: 'o2' },
  { n: true, s: true, tags: [['a']], group: 'g1' },
  { n: false, s: ['a'], tags: [{ a: 1 }], group: 'g3' },
  { n: [1], s: { a: 'a' }, tags: null, members: 'u1' },
  { n: { a: 1 }, s: 'ab', tags: [1.5, 2], obj: { k: 1 } },
  { n: 2.5, s: 'a b', tags: ['b', null, 'a'], members: ['u1', 'u2'], obj: null },
  { n: 1e-7, s: 'z', published: true, level: 3 },
  { n: 0.1, s: '0', published: true, level: '3', big: 100000000000000000000 },
  { n: -0.5, s: 'A', published: false, org: 'o1', group: 'g2' },
  { n: 3, s: 'b', published: true, role: 'admin', members: [null] },
  { n: 7, s: 'aa', tags: ['a'], members: [1] },
  { n: 1, s: 'a', published: true, org: 'o1' },
  { s: 'a', published: true },
  { n: 2, published: false, tags: ['u2'] },
  { n: 4, s: 'c', published: true, tags: ['c', 'a'], members: ['u3'], group: 'g1' },
  { n: 1, s: "it's", published: true, org: null },
  { n: 5, s: 'a', published: true, role: 'editor', level: 3 },
  { n: 0, s: '1', published: false, tags: [0], big: 1e21 },
  { n: 2, s: 'b', published: true, members: ['u1'], obj: [] },
  { n: 3.000001, s: 'B', tags: ['B'], org: 'o2', role: 'admin' },
  { n: 9, s: 'x', published: true, tags: ['x', 'y', 'z'], members: ['u2'] },
];

const docs: TestDoc[] = bodies.map((body, i) => ({
  id: `d${String(i + 1).padStart(2, '0')}`,
  ownerId: ['u1', 'u2', 'u3'][i % 3] as string,
  version: (i % 4) + 1,
  createdAt: new Date(Date.UTC(2024, i % 12, 1 + (i % 28))).toISOString(),
  updatedAt: new Date(Date.UTC(2025, i % 12, 1 + (i % 28))).toISOString(),
  body,
}));

function asDocument(doc: TestDoc): Record<string, unknown> {
  const { body, ...system } = doc;
  return { ...body, ...system };
}

const rules = [
  OWNER_ONLY,
  "doc.ownerId == auth.id || 'admin' in auth.roles",
  'true',
  'false',
  'doc.published',
  '!doc.published',
  'doc.published == false || doc.published == 0',
  'doc.n < 3',
  '!(doc.n < 3)',
  'doc.n >= 1.5 && doc.n <= 3',
  '3 > doc.n || doc.n == null',
  'doc.n != 1 && doc.n != null',
  "doc.n == '3' || doc.n == true || doc.n == false",
  "doc.s < 'b'",
  "doc.s >= 'B' && doc.s < 'a'",
  "doc.s > '\uFFFD' || doc.s == ''",
  "doc.s != 'a'",
  "doc.s in ['a', 'b', 1, null, true]",
  "!(doc.n in [1, 2, '3', true, null])",
  'auth.id in doc.members',
  "'a' in doc.tags || null in doc.tags",
  "!('a' in doc.tags) && (1 in doc.tags || true in doc.tags || false in doc.tags)",
  'doc.org == auth.claims.org && doc.ownerId != auth.id',
  'doc.n <= auth.claims.level || doc.level == auth.claims.level',
  'doc.group in auth.claims.groups || doc.role in auth.roles',
  "doc.version > 1 && doc.createdAt >= '2024-06-01'",
  "doc.id in ['d01', 'd02', 'd03', 7] || doc.version == 1.5 || doc.version != '2'",
  "doc.updatedAt < 5 || doc.ownerId in ['u3', null] || doc.version in [4, 2.5]",
  'auth.anonymous == false && doc.published || auth.id == null && doc.n == 1',
  "auth.id != null && (doc.n > 0 || doc.s == 'a')",
  'doc.big == 100000000000000000000 || doc.n == 100000000000000000000 || doc.big > 1e20',
  'doc.obj == null',
  'doc.obj != null && doc.missing == null',
  '(doc.ownerId == auth.id || doc.published) && !(doc.n == null)',
  "doc.n > 0.1 && doc.n < 3.0000005 && doc.s != 'é'",
  "doc.tags != 'a' && doc.s != 1",
  "doc.id > 'D5' || doc.ownerId < 'U2' || doc.s >= 'A'",
];

/** A deterministic PRNG (mulberry32), so a failing random rule is reproducible. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRules(count: number, seed: number): string[] {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  // Mostly constants of the type the field usually holds, so selections are partial, not all/none.
  const typical: Record<string, string[]> = {
    n: ['0', '1', '1.5', '2', '3', '-1', '1e20', "'3'", '0.1'],
    s: ["'a'", "'b'", "'B'", "''", "'é'", "'1'", '1', "'\uFFFD'"],
    published: ['true', 'false', '1', 'null'],
    level: ['3', "'3'", 'auth.claims.level'],
    org: ["'o1'", 'auth.claims.org', 'null'],
    role: ["'admin'", "'editor'"],
    group: ["'g1'", "'g2'"],
    big: ['1e20', '1e21'],
    obj: ['null'],
    missing: ['null', '1'],
    id: ["'d05'", "'d10'", "'d2'", "'D5'"],
    ownerId: ['auth.id', "'u1'", "'u2'", "'U2'"],
    version: ['1', '2', '2.5', '3'],
    createdAt: ["'2024-07'", "'2024-03-05'"],
  };
  const elements: Record<string, string[]> = {
    tags: ["'a'", "'b'", '1', 'null', 'true', 'false', "'u1'", "'1'"],
    members: ['auth.id', "'u1'", "'u2'", 'null', '1'],
  };
  const fields = Object.keys(typical);
  const anyConstant = [...new Set(Object.values(typical).flat())];
  const ops = ['==', '!=', '<', '<=', '>', '>='];
  const atom = (): string => {
    const field = pick(fields);
    const constant = next() < 0.8 ? pick(typical[field] as string[]) : pick(anyConstant);
    const r = next();
    if (r < 0.45) {
      return next() < 0.7 ? `doc.${field} ${pick(ops)} ${constant}` : `${constant} ${pick(ops)} doc.${field}`;
    }
    if (r < 0.6) {
      const literals = (typical[field] as string[]).filter((c) => !c.startsWith('auth.'));
      return `doc.${field} in [${Array.from({ length: Math.floor(next() * 4) }, () => pick(literals)).join(', ')}]`;
    }
    if (r < 0.8) {
      const array = pick(Object.keys(elements));
      return `${pick(elements[array] as string[])} in doc.${array}`;
    }
    if (r < 0.9)
      return pick(['doc.role in auth.roles', 'doc.group in auth.claims.groups', 'doc.s in auth.roles']);
    return pick(['doc.published', 'doc.missing', 'auth.anonymous', 'doc.n']);
  };
  const expr = (depth: number): string => {
    const r = next();
    if (depth === 0 || r < 0.35) return atom();
    if (r < 0.45) return `!(${expr(depth - 1)})`;
    return `(${expr(depth - 1)} ${next() < 0.5 ? '&&' : '||'} ${expr(depth - 1)})`;
  };
  const out: string[] = [];
  while (out.length < count) {
    const source = expr(next() < 0.5 ? 2 : 3);
    try {
      compileRule(source);
      out.push(source);
    } catch {
      // a combination the language refuses; draw again
    }
  }
  return out;
}

function createTableSql(dialect: Dialect, table: string): string {
  const body = dialect === 'postgres' ? 'JSONB' : 'TEXT';
  return `CREATE TABLE ${table} (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, version INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, body ${body} NOT NULL)`;
}

const table = tableName('rule_test');

async function selectIds(
  store: Store,
  source: string,
  auth: RuleAuth | undefined,
): Promise<{ sql: string; ids: string[] }> {
  // Two parameters of the caller's own come first, as a real query would have.
  const predicate = compileRule(source).toSql(auth, store.kind, 3);
  const where = predicate === 'all' ? 'TRUE' : predicate === 'none' ? 'FALSE' : predicate.sql;
  const params = predicate === 'all' || predicate === 'none' ? [] : predicate.params;
  const sql = `SELECT id FROM ${table} WHERE id <> $1 AND owner_id <> $2 AND (${where}) ORDER BY id`;
  const rows = await store.query<{ id: string }>(sql, ['none', 'none', ...params]);
  return { sql, ids: rows.map((row) => row.id) };
}

function expectedIds(source: string, auth: RuleAuth | undefined): string[] {
  const rule = compileRule(source);
  return docs.filter((doc) => rule.evaluate(auth, asDocument(doc))).map((doc) => doc.id);
}

const randomSet = randomRules(300, 20240601);

const variants = [
  { name: 'sqlite', dialect: 'sqlite' },
  { name: 'postgres', dialect: 'postgres' },
  // Strings must order by code point whatever the database's default collation is.
  { name: 'postgres with an ICU "en" default collation', dialect: 'postgres', icu: true },
] as const;

for (const variant of variants) {
  const dialect: Dialect = variant.dialect;
  describe(`compileRule: SQL matches evaluate on ${variant.name}`, () => {
    let store: Store;
    let database: TestDatabase | undefined;
    let admin: Store | undefined;
    let icuName: string | undefined;

    before(async () => {
      if (dialect === 'postgres') {
        database = await createTestDatabase();
        let url = database.url;
        if ('icu' in variant) {
          admin = await createStore({ kind: 'postgres', url, poolSize: 1 }, quietTelemetry());
          icuName = `${database.name}_icu`;
          await admin.execute(
            `CREATE DATABASE ${icuName} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.utf8'`,
          );
          const icuUrl = new URL(url);
          icuUrl.pathname = `/${icuName}`;
          url = icuUrl.toString();
        }
        store = await createStore({ kind: 'postgres', url, poolSize: 2 }, quietTelemetry());
        if (icuName) {
          const [probe] = await store.query<{ icu: boolean }>(`SELECT 'B' > 'a' AS icu`);
          assert.equal(probe?.icu, true, 'the database should not order strings by code point');
        }
      } else {
        store = await createStore({ kind: 'sqlite', file: ':memory:' }, quietTelemetry());
      }
      await store.execute(createTableSql(dialect, table));
      for (const doc of docs) {
        await store.execute(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6)`, [
          doc.id,
          doc.ownerId,
          doc.version,
          doc.createdAt,
          doc.updatedAt,
          JSON.stringify(doc.body),
        ]);
      }
    });

    after(async () => {
      await store?.close();
      if (admin && icuName) await admin.execute(`DROP DATABASE IF EXISTS ${icuName} WITH (FORCE)`);
      await admin?.close();
      await database?.drop();
    });

    it('the stored documents read back as inserted', async () => {
      const rows = await store.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY id`);
      assert.equal(rows.length, docs.length);
    });

    for (const source of rules) {
      it(source, async () => {
        for (const [who, auth] of callers) {
          const { sql, ids } = await selectIds(store, source, auth);
          assert.deepEqual(ids, expectedIds(source, auth), `${who}: ${sql}`);
        }
      });
    }

    it(`${randomSet.length} random rules`, async () => {
      let nonTrivial = 0;
      for (const source of randomSet) {
        for (const [who, auth] of callers) {
          const { sql, ids } = await selectIds(store, source, auth);
          const expected = expectedIds(source, auth);
          if (expected.length > 0 && expected.length < docs.length) nonTrivial++;
          assert.deepEqual(ids, expected, `${who}: ${source}\n${sql}`);
        }
      }
      // The generator must actually exercise partial selections, not only all/nothing.
      assert.ok(
        nonTrivial > randomSet.length * callers.length * 0.4,
        `only ${nonTrivial} non-trivial selections`,
      );
    });
  });
}
