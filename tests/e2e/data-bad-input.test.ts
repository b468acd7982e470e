import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { NOTES_SCHEMA, startDataHost, type Answer, type DataHost, type Json } from './data-host';

type Who = 'ann' | 'bob' | 'admin' | 'nobody' | 'garbage';
interface Case {
  /** States the behaviour the row proves. */
  name: string;
  method: string;
  /** `:id` is replaced by the id of one of Ann's documents. */
  path: string;
  as?: Who;
  body?: unknown;
  /** Sent as is, with a JSON content type unless headers say otherwise. */
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** The problem code; omitted for the rows that answer 2xx. */
  code?: string;
  check?: (answer: Answer, ctx: { annId: string }) => void;
}

const where = (text: string) => `?where=${encodeURIComponent(text)}`;
const notes = '/v1/data/notes';
const cursorFor = (payload: unknown) => Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
/** Objects nested `levels` deep, written with `"` as %22 only, so 1,000 levels fit in the request line. */
const nestedWhere = (levels: number) =>
  `?where={%22a%22:{%22eq%22:${'{%22b%22:'.repeat(levels)}1${'}'.repeat(levels)}}}`;
const deepArray = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const anyDefinition = { schema: { type: 'object' } };
/** Only the caller's own documents, whatever the input. */
const onlyOwn = (answer: Answer, ctx: { annId: string }) =>
  assert.ok(
    (answer.body.items as Json[]).every((item) => item.ownerId === ctx.annId),
    'only the caller’s own documents',
  );
const noItems = (answer: Answer) => assert.deepEqual(answer.body.items, []);

/**
 * Hostile input for every data endpoint. The cursor rows that need a real fingerprint are built
 * once Ann's first page is known (see `forgedCursorCases`).
 */
const CASES: Case[] = [
  // List queries: where.
  {
    name: 'refuses a field name carrying SQL',
    method: 'GET',
    path: notes + where('{"x; DROP TABLE data_c_notes; --":{"eq":1}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'binds a value carrying SQL as a value: 200 and no extra rows',
    method: 'GET',
    path: notes + where(`{"title":{"eq":"' OR 1=1 --"}}`),
    status: 200,
    check: noItems,
  },
  {
    name: 'binds a prefix carrying LIKE wildcards and SQL literally: 200 and no extra rows',
    method: 'GET',
    path: notes + where(`{"title":{"prefix":"%' OR '1'='1"}}`),
    status: 200,
    check: noItems,
  },
  {
    name: 'keeps the read rule on a query that matches every owner (ownerId ne): only the caller’s rows',
    method: 'GET',
    path: notes + where('{"ownerId":{"ne":"\' OR 1=1 --"}}'),
    status: 200,
    check: onlyOwn,
  },
  {
    name: 'refuses a value nested 1,000 objects deep',
    method: 'GET',
    path: notes + nestedWhere(1000),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an in list of 101 values',
    method: 'GET',
    path: notes + where(JSON.stringify({ score: { in: Array.from({ length: 101 }, (_, i) => i) } })),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an in list of 10,000 values before reading it (request line too large)',
    method: 'GET',
    path: notes + where(JSON.stringify({ score: { in: Array.from({ length: 10_000 }, (_, i) => i) } })),
    status: 431,
    code: 'runtime/headers-too-large',
  },
  {
    name: 'refuses the $where operator',
    method: 'GET',
    path: notes + where('{"title":{"$where":"this.ownerId"}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses the regex operator',
    method: 'GET',
    path: notes + where('{"title":{"regex":"^(a+)+$"}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses __proto__ as an operator',
    method: 'GET',
    path: notes + where('{"title":{"__proto__":{"eq":1}}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses __proto__ as a field',
    method: 'GET',
    path: notes + where('{"__proto__":{"eq":1}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses constructor as a field',
    method: 'GET',
    path: notes + where('{"constructor":{"eq":1}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses $where as a field',
    method: 'GET',
    path: notes + where('{"$where":{"eq":"1"}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses malformed JSON in where',
    method: 'GET',
    path: notes + where('{"title":'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses a where that is a JSON array',
    method: 'GET',
    path: notes + where('[{"title":{"eq":"x"}}]'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses a where over 8 KiB',
    method: 'GET',
    path: notes + where(JSON.stringify({ title: { eq: 'x'.repeat(9000) } })),
    status: 400,
    code: 'runtime/validation-failed',
  },
  {
    name: 'refuses a NUL character in a value',
    method: 'GET',
    path: notes + where('{"title":{"eq":"a\\u0000b"}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an unpaired surrogate in a value',
    method: 'GET',
    path: notes + where('{"title":{"eq":"a\\ud800b"}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses 1e999 (Infinity) as a value',
    method: 'GET',
    path: notes + where('{"score":{"gt":1e999}}'),
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses where given twice',
    method: 'GET',
    path: `${notes}?where=%7B%7D&where=%7B%7D`,
    status: 400,
    code: 'runtime/validation-failed',
  },
  {
    name: 'refuses an unknown query parameter ($where)',
    method: 'GET',
    path: `${notes}?$where=1`,
    status: 400,
    code: 'runtime/validation-failed',
  },
  // List queries: limit.
  ...['0', '101', '-1', 'abc', '1.5', ''].map((limit): Case => ({
    name: `refuses limit=${limit || '(empty)'}`,
    method: 'GET',
    path: `${notes}?limit=${limit}`,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  // List queries: cursors.
  {
    name: 'refuses a cursor that is not base64url',
    method: 'GET',
    path: `${notes}?cursor=${encodeURIComponent("' OR 1=1 --")}`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses a cursor that is base64url of garbage',
    method: 'GET',
    path: `${notes}?cursor=${Buffer.from('garbage').toString('base64url')}`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses a forged cursor with a made-up query fingerprint',
    method: 'GET',
    path: `${notes}?cursor=${cursorFor({ q: 'forged', i: 'x', v: 1 })}`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses a cursor over 16 KiB before reading it (request line too large)',
    method: 'GET',
    path: `${notes}?cursor=${'A'.repeat(16_385)}`,
    status: 431,
    code: 'runtime/headers-too-large',
  },
  // List queries: orderBy.
  {
    name: 'refuses an orderBy carrying SQL',
    method: 'GET',
    path: `${notes}?orderBy=${encodeURIComponent('score; DROP TABLE data_c_notes; --')}`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an orderBy of a lone "-"',
    method: 'GET',
    path: `${notes}?orderBy=-`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an orderBy of __proto__',
    method: 'GET',
    path: `${notes}?orderBy=__proto__`,
    status: 400,
    code: 'data/invalid-query',
  },
  {
    name: 'refuses an orderBy with a JSON path (body->>...)',
    method: 'GET',
    path: `${notes}?orderBy=${encodeURIComponent("body->>'title'")}`,
    status: 400,
    code: 'data/invalid-query',
  },
  // Documents: bodies.
  {
    name: 'refuses a 1 MB document with 413',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x'.repeat(1024 * 1024) },
    status: 413,
    code: 'runtime/body-too-large',
  },
  {
    name: 'refuses a document just under the body limit that breaks maxLength',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x'.repeat(1024 * 1024 - 100) },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a title of the wrong type',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 5 },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a score given as a string',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', score: '1' },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a field the schema does not declare',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', isAdmin: true },
    status: 400,
    code: 'data/invalid-document',
  },
  ...(['version', 'createdAt', 'updatedAt'] as const).map((field): Case => ({
    name: `refuses the system field ${field} in a created document`,
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', [field]: field === 'version' ? 99 : '2000-01-01T00:00:00.000Z' },
    status: 400,
    code: 'data/invalid-document',
  })),
  {
    name: 'refuses a created document naming another owner',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', ownerId: 'someone-else' },
    status: 403,
    code: 'data/forbidden',
  },
  {
    name: 'refuses a client id with ../',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', id: '../../etc/passwd' },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses the client id changes, which the change feed answers for',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', id: 'changes' },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a client id that is a number',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'x', id: 7 },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses id and ownerId in a replacement',
    method: 'PUT',
    path: `${notes}/:id`,
    as: 'ann',
    body: { title: 'x', id: 'other', ownerId: 'other' },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses version in a patch',
    method: 'PATCH',
    path: `${notes}/:id`,
    as: 'ann',
    body: { version: 1000 },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a __proto__ key (prototype poisoning)',
    method: 'POST',
    path: notes,
    as: 'ann',
    raw: '{"title":"x","__proto__":{"isAdmin":true}}',
    status: 400,
    code: 'runtime/malformed-json',
  },
  {
    name: 'refuses a nested __proto__ key in a patch',
    method: 'PATCH',
    path: `${notes}/:id`,
    as: 'ann',
    raw: '{"tags":{"__proto__":{"polluted":true}}}',
    status: 400,
    code: 'runtime/malformed-json',
  },
  {
    name: 'refuses constructor.prototype (constructor poisoning)',
    method: 'POST',
    path: notes,
    as: 'ann',
    raw: '{"title":"x","constructor":{"prototype":{"isAdmin":true}}}',
    status: 400,
    code: 'runtime/malformed-json',
  },
  {
    name: 'refuses a document nested 5,000 levels deep',
    method: 'POST',
    path: '/v1/data/open',
    as: 'ann',
    raw: `{"a":${deepArray(5000)}}`,
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a document nested 101 levels deep, also by patch with an Idempotency-Key',
    method: 'PATCH',
    path: '/v1/data/open/:id',
    as: 'ann',
    raw: `{"a":${deepArray(101)}}`,
    headers: { 'idempotency-key': 'deep-patch' },
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a NUL character in a document string',
    method: 'POST',
    path: '/v1/data/open',
    as: 'ann',
    raw: '{"a":"x\\u0000y"}',
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a NUL character in a document key',
    method: 'POST',
    path: '/v1/data/open',
    as: 'ann',
    raw: '{"a\\u0000":"y"}',
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses an unpaired surrogate in a document string',
    method: 'PUT',
    path: '/v1/data/open/:id',
    as: 'ann',
    raw: '{"a":"x\\ud800y"}',
    status: 400,
    code: 'data/invalid-document',
  },
  {
    name: 'refuses a value above the index row limit in an indexed field, or takes it whole',
    method: 'POST',
    path: '/v1/data/open',
    as: 'ann',
    body: { big: randomBytes(6000).toString('base64') },
    status: 0, // 201 on SQLite, 400 on PostgreSQL: checked below
    check: (answer) => {
      if (answer.status === 201) return;
      assert.equal(answer.status, 400);
      assert.equal(answer.body.code, 'data/invalid-document');
    },
  },
  {
    name: 'refuses a second document with the value of a unique index with 409',
    method: 'POST',
    path: '/v1/data/open',
    as: 'ann',
    body: { unique: 'taken' },
    status: 409,
    code: 'data/unique-violation',
  },
  {
    name: 'refuses malformed JSON in a body',
    method: 'POST',
    path: notes,
    as: 'ann',
    raw: '{"title": "x",',
    status: 400,
    code: 'runtime/malformed-json',
  },
  {
    name: 'refuses a body sent as text/plain',
    method: 'POST',
    path: notes,
    as: 'ann',
    raw: '{"title":"x"}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'runtime/unsupported-media-type',
  },
  ...[
    ['an array', '[{"title":"x"}]'],
    ['a string', '"x"'],
    ['null', 'null'],
    ['a number', '1'],
  ].map(([what, raw]): Case => ({
    name: `refuses a patch whose body is ${what}`,
    method: 'PATCH',
    path: `${notes}/:id`,
    as: 'ann',
    raw: raw as string,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'refuses a patch with an empty JSON body',
    method: 'PATCH',
    path: `${notes}/:id`,
    as: 'ann',
    raw: '',
    status: 400,
    code: 'runtime/malformed-json',
  },
  // Documents: ids in the path.
  ...(
    [
      ['../ (encoded)', '..%2F..%2Fetc%2Fpasswd', 400, 'runtime/validation-failed'],
      ['%00', 'a%00b', 400, 'runtime/validation-failed'],
      ['a space', 'a%20b', 400, 'runtime/validation-failed'],
      ['a right-to-left override', '%E2%80%AEfdp', 400, 'runtime/validation-failed'],
      ['a full-width letter', '%EF%BC%A1', 400, 'runtime/validation-failed'],
      ['a combining accent', 'e%CC%81', 400, 'runtime/validation-failed'],
      ['invalid UTF-8', '%FF', 400, 'runtime/bad-request'],
      ['129 characters', 'x'.repeat(129), 400, 'runtime/validation-failed'],
      ['300 characters', 'x'.repeat(300), 414, 'runtime/uri-too-long'],
      ['SQL', encodeURIComponent("x' OR '1'='1"), 400, 'runtime/validation-failed'],
    ] as const
  ).flatMap(([what, id, status, code]) =>
    (['GET', 'PATCH', 'DELETE'] as const).map((method): Case => ({
      name: `${method} refuses a document id with ${what}`,
      method,
      path: `${notes}/${id}`,
      as: 'ann',
      ...(method === 'PATCH' ? { body: { title: 'x' } } : {}),
      status,
      code,
    })),
  ),
  {
    name: 'answers 404 for a well-formed id that does not exist',
    method: 'GET',
    path: `${notes}/does-not-exist`,
    as: 'ann',
    status: 404,
    code: 'data/not-found',
  },
  // Documents: If-Match and Idempotency-Key.
  ...['"abc"', 'W/"0"', '12345678901234567890', '*', '"1", "2"', '-1'].map((ifMatch): Case => ({
    name: `refuses If-Match: ${ifMatch}`,
    method: 'PATCH',
    path: `${notes}/:id`,
    as: 'ann',
    body: { score: 5 },
    headers: { 'if-match': ifMatch },
    status: 400,
    code: 'data/invalid-if-match',
  })),
  {
    name: 'refuses an If-Match over 64 characters',
    method: 'DELETE',
    path: `${notes}/:id`,
    as: 'ann',
    headers: { 'if-match': '1'.repeat(65) },
    status: 400,
    code: 'runtime/validation-failed',
  },
  {
    name: 'refuses an Idempotency-Key with spaces',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'idem' },
    headers: { 'idempotency-key': 'a key with spaces' },
    status: 400,
    code: 'idempotency/invalid-key',
  },
  {
    name: 'refuses an Idempotency-Key of 256 characters',
    method: 'POST',
    path: notes,
    as: 'ann',
    body: { title: 'idem' },
    headers: { 'idempotency-key': 'k'.repeat(256) },
    status: 400,
    code: 'runtime/validation-failed',
  },
  // Collection names.
  {
    name: 'answers 404 for an unknown collection',
    method: 'GET',
    path: '/v1/data/nope',
    as: 'ann',
    status: 404,
    code: 'data/collection-not-found',
  },
  {
    name: 'answers 404 for a collection named like its table (data_c_notes)',
    method: 'GET',
    path: '/v1/data/data_c_notes',
    as: 'ann',
    status: 404,
    code: 'data/collection-not-found',
  },
  {
    name: 'answers 404 for a collection named constructor',
    method: 'POST',
    path: '/v1/data/constructor',
    as: 'ann',
    body: { title: 'x' },
    status: 404,
    code: 'data/collection-not-found',
  },
  ...[
    encodeURIComponent('notes; DROP TABLE data_c_notes; --'),
    encodeURIComponent("notes'--"),
    'Notes',
    '__proto__',
    'x'.repeat(49),
  ].map((name): Case => ({
    name: `refuses the collection name ${decodeURIComponent(name).slice(0, 40)}`,
    method: 'GET',
    path: `/v1/data/${name}`,
    as: 'ann',
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'refuses a signed-out list with 401',
    method: 'GET',
    path: notes,
    as: 'nobody',
    status: 401,
    code: 'runtime/unauthorized',
  },
  {
    name: 'refuses a signed-out create with 401, before reading the body',
    method: 'POST',
    path: notes,
    as: 'nobody',
    raw: '{"title":',
    status: 401,
    code: 'runtime/unauthorized',
  },
  {
    name: 'refuses a garbage bearer token with 401',
    method: 'GET',
    path: `${notes}/:id`,
    as: 'garbage',
    status: 401,
    code: 'auth/invalid-token',
  },
  // Admin: hostile definitions, all aimed at `notes` itself (checked unchanged afterwards).
  ...(
    [
      [
        'a rule calling constructor.constructor',
        "constructor.constructor('return process')()",
        'data/invalid-rule',
      ],
      ["a rule with doc['x']", "doc['x'] == auth.id", 'data/invalid-rule'],
      ['a rule reading doc.__proto__', 'doc.__proto__ == auth.id', 'data/invalid-rule'],
      ['a rule reading doc.constructor', 'doc.constructor == auth.id', 'data/invalid-rule'],
      ['a rule calling process.exit', 'process.exit()', 'data/invalid-rule'],
      ['a rule with an assignment', 'auth.id = doc.ownerId', 'data/invalid-rule'],
      ['a rule of 3,000 characters', `${'true || '.repeat(374)}true`, 'data/invalid-collection'],
      ['a rule nested 995 parentheses deep', `${'('.repeat(995)}true${')'.repeat(995)}`, 'data/invalid-rule'],
      ['a rule of 1,995 negations', `${'!'.repeat(1995)}true`, 'data/invalid-rule'],
      ['a rule that is SQL', "doc.ownerId == auth.id' OR '1'='1", 'data/invalid-rule'],
    ] as const
  ).map(([what, rule, code]): Case => ({
    name: `refuses ${what}, leaving the collection as it was`,
    method: 'PUT',
    path: '/v1/admin/collections/notes',
    as: 'admin',
    body: { schema: NOTES_SCHEMA, rules: { read: rule } },
    status: 400,
    code,
  })),
  ...(
    [
      ['an index on a field carrying SQL', { indexes: [{ fields: ["a'); DROP TABLE x; --"] }] }],
      ['an index on a JSON path', { indexes: [{ fields: ['tags.a'] }] }],
      ['33 indexes', { indexes: Array.from({ length: 33 }, (_, i) => ({ fields: [`f${i}`] })) }],
      ['an index given as an object', { indexes: { fields: ['score'] } }],
      ['an index that is null', { indexes: [null] }],
      ['an index with unknown parts', { indexes: [{ fields: ['score'], where: '1=1' }] }],
      ['a shard key carrying SQL', { shardKey: "ownerId'; DROP TABLE x; --" }],
      ['a rule that is not a string', { rules: { read: 1 } }],
      ['an unknown rule', { rules: { list: 'true' } }],
      ['an unknown part', { sql: 'DROP TABLE x' }],
      ['a schema that is an array', { schema: [] }],
      ['a schema that is not of type object', { schema: { type: 'string' } }],
      ['a schema declaring a system field', { schema: { type: 'object', properties: { ownerId: {} } } }],
      [
        'a schema declaring a field carrying SQL',
        { schema: { type: 'object', properties: { "a'); DROP TABLE x; --": { type: 'string' } } } },
      ],
      ['a schema with an unknown keyword', { schema: { type: 'object', eval: 'process.exit()' } }],
      ['a schema with a remote $ref', { schema: { type: 'object', $ref: 'http://169.254.169.254/latest' } }],
      ['a schema of 70 KB', { schema: { type: 'object', description: 'x'.repeat(70 * 1024) } }],
      [
        'a schema nested 1,500 levels deep',
        {
          schema: Array.from({ length: 1500 }).reduce<Json>(
            (inner) => ({ type: 'object', properties: { a: inner } }),
            { type: 'object' },
          ),
        },
      ],
    ] as const
  ).map(([what, definition]): Case => ({
    name: `refuses a definition with ${what}, leaving the collection as it was`,
    method: 'PUT',
    path: '/v1/admin/collections/notes',
    as: 'admin',
    body: { schema: NOTES_SCHEMA, ...definition },
    status: 400,
    code: 'data/invalid-collection',
  })),
  {
    name: 'refuses a definition with a __proto__ property (prototype poisoning)',
    method: 'PUT',
    path: '/v1/admin/collections/notes',
    as: 'admin',
    raw: '{"schema":{"type":"object","properties":{"__proto__":{"type":"string"}}}}',
    status: 400,
    code: 'runtime/malformed-json',
  },
  ...['[]', 'null', '"x"'].map((raw): Case => ({
    name: `refuses a definition that is ${raw}`,
    method: 'PUT',
    path: '/v1/admin/collections/notes',
    as: 'admin',
    raw,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'refuses a schema whose pattern backtracks catastrophically, since every write would run it',
    method: 'PUT',
    path: '/v1/admin/collections/redos',
    as: 'admin',
    body: { schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } } },
    status: 400,
    code: 'data/invalid-collection',
  },
  ...[encodeURIComponent('x; DROP TABLE data_c_notes'), 'X', '9notes', 'x'.repeat(49)].map((name): Case => ({
    name: `refuses to define a collection named ${decodeURIComponent(name).slice(0, 30)}`,
    method: 'PUT',
    path: `/v1/admin/collections/${name}`,
    as: 'admin',
    body: anyDefinition,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'refuses to drop a collection named with SQL',
    method: 'DELETE',
    path: `/v1/admin/collections/${encodeURIComponent('notes; DROP TABLE x')}`,
    as: 'admin',
    status: 400,
    code: 'runtime/validation-failed',
  },
  {
    name: 'answers 404 when dropping a collection that does not exist',
    method: 'DELETE',
    path: '/v1/admin/collections/nope',
    as: 'admin',
    status: 404,
    code: 'data/collection-not-found',
  },
  ...(
    [
      ['PUT', '/v1/admin/collections/notes', anyDefinition],
      ['GET', '/v1/admin/collections', undefined],
      ['GET', '/v1/admin/collections/notes', undefined],
      ['DELETE', '/v1/admin/collections/notes', undefined],
    ] as const
  ).flatMap(([method, path, body]) =>
    (
      [
        ['a signed-in user', 'ann', 403, 'runtime/forbidden'],
        ['a signed-out caller', 'nobody', 401, 'runtime/unauthorized'],
      ] as const
    ).map(([who, as, status, code]): Case => ({
      name: `refuses ${method} ${path} to ${who}`,
      method,
      path,
      as,
      ...(body ? { body } : {}),
      status,
      code,
    })),
  ),
  // Change feed.
  ...['-1', '99999999999999999999', 'abc', '1e3', '0x10', ''].map((since): Case => ({
    name: `refuses the change feed since=${since || '(empty)'}`,
    method: 'GET',
    path: `${notes}/changes?since=${since}`,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'answers a since far beyond the head with no changes (or a problem), never a 500',
    method: 'GET',
    path: `${notes}/changes?since=999999999999999`,
    status: 0,
    check: (answer) => {
      if (answer.status === 200) return noItems(answer);
      assert.ok(answer.status >= 400 && answer.status < 500, String(answer.status));
    },
  },
  ...['0', '501', '-1', 'abc'].map((limit): Case => ({
    name: `refuses the change feed limit=${limit}`,
    method: 'GET',
    path: `${notes}/changes?since=0&limit=${limit}`,
    status: 400,
    code: 'runtime/validation-failed',
  })),
  {
    name: 'refuses an unknown change feed parameter',
    method: 'GET',
    path: `${notes}/changes?since=0&where=1`,
    status: 400,
    code: 'runtime/validation-failed',
  },
];

const STACK = /\n\s+at |\bat [\w.<>]+ \(|node_modules|\/work\/|\/home\/|\/usr\/|file:\/\/|\.[cm]?[jt]s:\d+/;

for (const shape of ['embedded', 'production'] as const) {
  describe(`data hostile input (${shape})`, () => {
    let host: DataHost;
    const tokens: Record<Who, string | undefined> = {
      ann: undefined,
      bob: undefined,
      admin: undefined,
      nobody: undefined,
      garbage: 'not.a.token',
    };
    let annId = '';
    let annDoc = '';
    let annOpenDoc = '';
    let definitionBefore: Json = {};
    const annDocsBefore: Json[] = [];

    const send = (
      method: string,
      path: string,
      options: { as?: Who; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
    ): Promise<Answer> => {
      const { as, ...rest } = options;
      return host.call(method, path, { ...rest, token: tokens[as ?? 'ann'] });
    };
    const signup = () => host.signup();
    const listAll = async (as: Who, collection = 'notes') => {
      const items: Json[] = [];
      let cursor: string | null = null;
      do {
        const page: Answer = await send(
          'GET',
          `/v1/data/${collection}?orderBy=id&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
          { as },
        );
        assert.equal(page.status, 200, page.text);
        items.push(...(page.body.items as Json[]));
        cursor = page.body.nextCursor as string | null;
      } while (cursor);
      return items;
    };

    before(async () => {
      host = await startDataHost(shape);
      tokens.admin = host.adminKey;
      const ann = await signup();
      const bob = await signup();
      [tokens.ann, tokens.bob, annId] = [ann.token, bob.token, ann.id];
      const defined = await send('PUT', '/v1/admin/collections/notes', {
        as: 'admin',
        body: { schema: NOTES_SCHEMA, indexes: [{ fields: ['score'] }, { fields: ['title'] }] },
      });
      assert.equal(defined.status, 201, defined.text);
      definitionBefore = defined.body;
      const open = await send('PUT', '/v1/admin/collections/open', {
        as: 'admin',
        body: {
          schema: { type: 'object' },
          indexes: [{ fields: ['big'] }, { fields: ['unique'], unique: true }],
        },
      });
      assert.equal(open.status, 201, open.text);
      for (let i = 0; i < 3; i++) {
        const created = await send('POST', notes, { body: { title: `ann ${i}`, score: i, tags: { i } } });
        assert.equal(created.status, 201, created.text);
        annDocsBefore.push(created.body);
      }
      annDoc = annDocsBefore[0]?.id as string;
      const bobs = await send('POST', notes, { as: 'bob', body: { title: 'bob', score: 1 } });
      assert.equal(bobs.status, 201, bobs.text);
      const openDoc = await send('POST', '/v1/data/open', { body: { a: 1, unique: 'taken' } });
      assert.equal(openDoc.status, 201, openDoc.text);
      annOpenDoc = openDoc.body.id as string;
    });
    after(() => host?.close());

    for (const row of CASES) {
      it(`${row.name} (${row.status || 'see check'} ${row.code ?? ''})`.trim(), async () => {
        const path = row.path.replace(':id', row.path.startsWith('/v1/data/open/') ? annOpenDoc : annDoc);
        const answer = await send(row.method, path, {
          as: row.as ?? 'ann',
          ...(row.body !== undefined ? { body: row.body } : {}),
          ...(row.raw !== undefined ? { raw: row.raw } : {}),
          ...(row.headers ? { headers: row.headers } : {}),
        });
        assert.ok(answer.status < 500, `no server error: ${answer.status} ${answer.text.slice(0, 300)}`);
        if (row.status) assert.equal(answer.status, row.status, answer.text.slice(0, 300));
        if (answer.status >= 400) {
          assert.match(answer.contentType, /^application\/problem\+json/);
          assert.equal(answer.body.status, answer.status);
          assert.equal(typeof answer.body.type, 'string');
          assert.equal(typeof answer.body.title, 'string');
          assert.match(answer.body.code as string, /^[a-z]+\/[a-z-]+$/, 'a stable code');
          if (row.code) assert.equal(answer.body.code, row.code, answer.body.detail as string);
          assert.equal(answer.body.stack, undefined);
          const { instance: _instance, ...rest } = answer.body; // the path as sent, echoed back
          assert.doesNotMatch(JSON.stringify(rest), STACK, 'no stack trace or file path');
          assert.ok(answer.text.length < 8_192, 'the input is not echoed back at length');
        }
        row.check?.(answer, { annId });
      });
    }

    it('refuses cursors forged with a real fingerprint (deep, huge, SQL-carrying) or foreign to the query', async () => {
      const first = await send('GET', `${notes}?orderBy=score&limit=1`);
      assert.equal(first.status, 200, first.text);
      const real = JSON.parse(
        Buffer.from(first.body.nextCursor as string, 'base64url').toString('utf8'),
      ) as Json;
      const forged = (v: unknown, i: unknown = real.i) => cursorFor({ q: real.q, i, v });
      for (const [cursor, what] of [
        [forged(JSON.parse(deepArray(1001))), 'a sort value nested 1,001 deep'],
        [forged(JSON.parse(deepArray(101))), 'a sort value nested 101 deep'],
        [forged(1, ''), 'an empty id'],
        [forged(1, 'a\u0000b'), 'an id with NUL'],
        [cursorFor({ q: real.q, i: real.i }), 'no sort value'],
      ] as const) {
        const answer = await send('GET', `${notes}?orderBy=score&limit=1&cursor=${cursor}`);
        assert.equal(answer.status, 400, `${what}: ${answer.text}`);
        assert.equal(answer.body.code, 'data/invalid-query', what);
      }
      const foreign = await send('GET', `${notes}?orderBy=-score&limit=1&cursor=${first.body.nextCursor}`);
      assert.equal(foreign.status, 400, 'a cursor from another orderBy');
      assert.equal(foreign.body.code, 'data/invalid-query');
      for (const v of ["' OR 1=1 --", { x: "'); DROP TABLE data_c_notes; --" }, 1e308, -1e308]) {
        for (const as of ['ann', 'bob'] as const) {
          const answer = await send(
            'GET',
            `${notes}?orderBy=score&limit=100&cursor=${forged(v, "' OR '1'='1")}`,
            {
              as,
            },
          );
          assert.equal(answer.status, 200, answer.text);
          const owner = as === 'ann' ? annId : undefined;
          for (const item of answer.body.items as Json[]) {
            if (owner) assert.equal(item.ownerId, owner);
            else assert.notEqual(item.ownerId, annId, 'a cursor never reaches another user’s documents');
          }
        }
      }
    });

    it('still answers /healthz after all of it', async () => {
      const health = await send('GET', '/healthz', { as: 'nobody' });
      assert.equal(health.status, 200, health.text);
    });

    it('keeps the collection definition and every document intact: the owner reads them all, unchanged', async () => {
      const definition = await send('GET', '/v1/admin/collections/notes', { as: 'admin' });
      assert.equal(definition.status, 200, definition.text);
      assert.deepEqual(definition.body, definitionBefore);
      const mine = await listAll('ann');
      assert.deepEqual(
        mine.map((doc) => doc.id),
        annDocsBefore.map((doc) => doc.id).sort(),
        'no document was created, lost or leaked by the hostile requests',
      );
      for (const doc of annDocsBefore) {
        const read = await send('GET', `${notes}/${doc.id as string}`);
        assert.equal(read.status, 200, read.text);
        assert.deepEqual(read.body, doc, 'unchanged: same fields, same version');
      }
      const open = await listAll('ann', 'open');
      assert.ok(
        open.every((doc) => JSON.stringify(doc).length < 20_000 && !JSON.stringify(doc).includes('\\u0000')),
      );
      const redos = await send('POST', '/v1/data/redos', { body: { a: 'aaaa' } });
      assert.equal(redos.status, 404, 'the collection with the catastrophic pattern was never made');
    });

    it('lets no other user read, list, follow, change or delete the owner’s documents afterwards', async () => {
      for (const doc of annDocsBefore) {
        const id = doc.id as string;
        assert.equal((await send('GET', `${notes}/${id}`, { as: 'bob' })).status, 404);
        assert.equal(
          (await send('PATCH', `${notes}/${id}`, { as: 'bob', body: { title: 'mine now' } })).status,
          404,
        );
        assert.equal(
          (await send('PUT', `${notes}/${id}`, { as: 'bob', body: { title: 'mine now' } })).status,
          404,
        );
        assert.equal((await send('DELETE', `${notes}/${id}`, { as: 'bob' })).status, 404);
      }
      const bobs = await listAll('bob');
      assert.deepEqual(
        bobs.map((doc) => doc.title),
        ['bob'],
      );
      for (const query of [
        where(`{"title":{"eq":"' OR 1=1 --"}}`),
        where('{"score":{"gte":0}}'),
        where(`{"ownerId":{"eq":"${annId}"}}`),
        where(`{"ownerId":{"ne":"x"}}`),
        where(`{"id":{"in":${JSON.stringify(annDocsBefore.map((doc) => doc.id))}}}`),
      ]) {
        const answer = await send('GET', `${notes}${query}`, { as: 'bob' });
        assert.equal(answer.status, 200, answer.text);
        assert.ok(
          (answer.body.items as Json[]).every((item) => item.ownerId !== annId),
          query,
        );
      }
      const feed = await send('GET', `${notes}/changes?since=0&limit=500`, { as: 'bob' });
      assert.equal(feed.status, 200, feed.text);
      assert.ok(
        (feed.body.items as Json[]).every((item) => item.document?.ownerId !== annId),
        'the change feed shows Bob none of Ann’s changes',
      );
      assert.equal((await send('GET', `${notes}/${annDoc}`, { as: 'nobody' })).status, 401);
      assert.equal((await send('GET', `${notes}/${annDoc}`)).status, 200, 'and the owner still can');
    });
  });
}
