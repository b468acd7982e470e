import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  client,
  createTestInfrastructure,
  startAuthHost,
  type AuthTestHost,
  type Client,
} from './auth-test-host';

// Every auth endpoint, fed garbage: each answer must be a 4xx problem+json with a stable code and
// no stack trace, and the server must still be alive at the end. One embedded host for the file.

const BODY_LIMIT = 64 * 1024;
const ANN = 'ann@example.com';
const ANN_PASSWORD = 'correct horse battery';
const GOOD_PASSWORD = 'a perfectly fine password';
// A well-formed id that names nothing.
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const SQL = "' OR 1=1 --";
const SCRIPT = '<script>alert(1)</script>';
const TRAVERSAL = '../../etc/passwd';
// 10 KB of UTF-8 across 2-, 3- and 4-byte characters: 3,450 code points, which is what the
// schemas' maxLength counts (Ajv counts code points, not UTF-16 units).
const TEN_KB_UNICODE = 'ü語😀'.repeat(1150);
const EMOJI = '\u{1F600}';
const FULLWIDTH_A = '\uFF41'; // ａ
const FULLWIDTH_AT = '\uFF20'; // ＠
const ZERO_WIDTH_SPACE = '\u200B';
const RIGHT_TO_LEFT_OVERRIDE = '\u202E';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
/** Who calls: nobody, Ann (a password account), a live anonymous account, the admin key, or a literal header. */
type Caller = 'none' | 'user' | 'anon' | 'admin' | { authorization: string };

interface Case {
  what: string;
  method: Method;
  path: string;
  as: Caller;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent verbatim. */
  raw?: string | Uint8Array;
  /** Defaults to application/json when there is a body; null sends none. */
  contentType?: string | null;
  status: number;
  code: string;
}

interface Endpoint {
  method: Method;
  path: string;
  as: Caller;
  /** Whether the route reads a JSON body. */
  body: boolean;
  /** A body the route accepts, so a credential check inside the handler is reached. */
  valid?: unknown;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: '/v1/auth/signup', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/login', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/anonymous', as: 'none', body: true },
  {
    method: 'POST',
    path: '/v1/auth/link',
    as: 'anon',
    body: true,
    valid: { email: 'linked@example.com', password: GOOD_PASSWORD },
  },
  { method: 'POST', path: '/v1/auth/refresh', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/logout', as: 'user', body: false },
  { method: 'POST', path: '/v1/auth/logout-all', as: 'user', body: false },
  { method: 'POST', path: '/v1/auth/verify-email/request', as: 'user', body: false },
  { method: 'POST', path: '/v1/auth/verify-email/confirm', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/password-reset/request', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/password-reset/confirm', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/oauth/apple', as: 'none', body: true },
  { method: 'POST', path: '/v1/auth/oauth/google', as: 'none', body: true },
  { method: 'GET', path: '/v1/auth/me', as: 'user', body: false },
  { method: 'PATCH', path: '/v1/auth/me', as: 'user', body: true, valid: { displayName: 'Ann' } },
  { method: 'GET', path: '/v1/auth/sessions', as: 'user', body: false },
  { method: 'DELETE', path: `/v1/auth/sessions/${UNKNOWN_ID}`, as: 'user', body: false },
  { method: 'GET', path: `/v1/admin/users/${UNKNOWN_ID}`, as: 'admin', body: false },
  {
    method: 'PATCH',
    path: `/v1/admin/users/${UNKNOWN_ID}`,
    as: 'admin',
    body: true,
    valid: { disabled: false },
  },
  { method: 'GET', path: '/v1/admin/users', as: 'admin', body: false },
  { method: 'GET', path: '/v1/admin/audit', as: 'admin', body: false },
];

const VALIDATION = { status: 400, code: 'runtime/validation-failed' } as const;
const INVALID_EMAIL = { status: 400, code: 'auth/invalid-email' } as const;
const PASSWORD_POLICY = { status: 400, code: 'auth/password-policy' } as const;
const MALFORMED_JSON = { status: 400, code: 'runtime/malformed-json' } as const;
const UNSUPPORTED_MEDIA_TYPE = { status: 415, code: 'runtime/unsupported-media-type' } as const;
const UNAUTHORIZED = { status: 401, code: 'runtime/unauthorized' } as const;
const FORBIDDEN = { status: 403, code: 'runtime/forbidden' } as const;

/** What every body-reading endpoint gets, whatever its schema: broken or hostile framing. */
function bodyFramingCases(endpoint: Endpoint): Case[] {
  const base = { method: endpoint.method, path: endpoint.path, as: endpoint.as };
  const cases: Case[] = [
    { ...base, what: 'truncated JSON', raw: '{"email":', ...MALFORMED_JSON },
    { ...base, what: 'an empty body declared as JSON', raw: '', ...MALFORMED_JSON },
    { ...base, what: 'a text/plain body', raw: '{}', contentType: 'text/plain', ...UNSUPPORTED_MEDIA_TYPE },
    {
      ...base,
      what: 'a form-encoded body',
      raw: 'email=a%40example.com',
      contentType: 'application/x-www-form-urlencoded',
      ...UNSUPPORTED_MEDIA_TYPE,
    },
    {
      ...base,
      what: 'JSON declared as latin1',
      raw: '{}',
      contentType: 'application/json; charset=latin1',
      ...UNSUPPORTED_MEDIA_TYPE,
    },
    {
      ...base,
      what: 'a body with no content type',
      raw: new TextEncoder().encode('{}'),
      contentType: null,
      ...UNSUPPORTED_MEDIA_TYPE,
    },
    {
      ...base,
      what: `a body over TERN_BODY_LIMIT (${BODY_LIMIT} bytes)`,
      json: { pad: 'x'.repeat(BODY_LIMIT + 1024) },
      status: 413,
      code: 'runtime/body-too-large',
    },
    {
      ...base,
      what: 'a __proto__ key (prototype pollution)',
      raw: '{"__proto__":{"admin":true,"roles":["admin"]}}',
      ...MALFORMED_JSON,
    },
    {
      ...base,
      what: 'a constructor.prototype key (prototype pollution)',
      raw: '{"constructor":{"prototype":{"admin":true}}}',
      ...MALFORMED_JSON,
    },
  ];
  // Routes with a body schema also refuse bodies of the wrong shape; the others ignore well-formed JSON.
  if (endpoint.body) {
    cases.push(
      { ...base, what: 'a JSON array body', json: [], ...VALIDATION },
      { ...base, what: 'a JSON string body', json: 'hello', ...VALIDATION },
      { ...base, what: 'an undeclared field', json: { isAdmin: true }, ...VALIDATION },
    );
  }
  return cases;
}

/** What every endpoint behind a credential gets: missing, forged and misplaced ones. */
function credentialCases(endpoint: Endpoint): Case[] {
  if (endpoint.as === 'none') return [];
  const base = {
    method: endpoint.method,
    path: endpoint.path,
    ...(endpoint.valid !== undefined ? { json: endpoint.valid } : {}),
  };
  const cases: Case[] = [
    { ...base, what: 'no credentials', as: 'none', ...UNAUTHORIZED },
    { ...base, what: 'a Basic credential', as: { authorization: 'Basic YWRtaW46YWRtaW4=' }, ...UNAUTHORIZED },
    {
      ...base,
      what: 'a bearer token that is not a JWT',
      as: { authorization: 'Bearer not-a-token' },
      status: 401,
      code: 'auth/invalid-token',
    },
    {
      ...base,
      what: 'an unsigned (alg none) JWT',
      as: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZXMiOlsiYWRtaW4iXX0.' },
      status: 401,
      code: 'auth/invalid-token',
    },
    {
      ...base,
      what: 'a 9000-character bearer token',
      as: { authorization: `Bearer ${'a'.repeat(9000)}` },
      ...UNAUTHORIZED,
    },
    {
      ...base,
      what: 'a bearer token with SQL in it',
      as: { authorization: `Bearer ${SQL}` },
      ...UNAUTHORIZED,
    },
  ];
  if (endpoint.as === 'admin')
    cases.push({ ...base, what: "a user's access token", as: 'user', ...FORBIDDEN });
  else cases.push({ ...base, what: 'the admin key instead of a user token', as: 'admin', ...FORBIDDEN });
  return cases;
}

const post = (path: string, as: Caller = 'none') => ({ method: 'POST' as const, path, as });

/** Garbage specific to each endpoint's fields. */
const FIELD_CASES: Case[] = [
  // signup
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'no password', json: { email: 'new@example.com' }, ...VALIDATION },
    { what: 'no email', json: { password: GOOD_PASSWORD }, ...VALIDATION },
    { what: 'a number as email', json: { email: 42, password: GOOD_PASSWORD }, ...VALIDATION },
    {
      what: 'an array as email',
      json: { email: ['new@example.com'], password: GOOD_PASSWORD },
      ...VALIDATION,
    },
    { what: 'an object as email', json: { email: { $ne: null }, password: GOOD_PASSWORD }, ...VALIDATION },
    { what: 'null as email', json: { email: null, password: GOOD_PASSWORD }, ...VALIDATION },
    { what: 'a number as password', json: { email: 'new@example.com', password: 12345678 }, ...VALIDATION },
    { what: 'null as password', json: { email: 'new@example.com', password: null }, ...VALIDATION },
    {
      what: 'roles alongside the credentials',
      json: { email: 'new@example.com', password: GOOD_PASSWORD, roles: ['admin'] },
      ...VALIDATION,
    },
    {
      what: 'a number as device',
      json: { email: 'new@example.com', password: GOOD_PASSWORD, device: 7 },
      ...VALIDATION,
    },
    {
      what: 'a 101-character device name',
      json: { email: 'new@example.com', password: GOOD_PASSWORD, device: 'd'.repeat(101) },
      ...VALIDATION,
    },
    {
      what: 'a 5000-character password',
      json: { email: 'new@example.com', password: 'p'.repeat(5000) },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a 257-code-point password (514 UTF-16 units)',
      json: { email: 'new@example.com', password: EMOJI.repeat(257) },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a 7-character password',
      json: { email: 'new@example.com', password: 'short12' },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a NUL in the password',
      json: { email: 'new@example.com', password: 'pass\u0000word1' },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a zero-width space in the email',
      json: { email: `an${ZERO_WIDTH_SPACE}n@example.com`, password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: 'a right-to-left override in the email',
      json: { email: `${RIGHT_TO_LEFT_OVERRIDE}moc.elpmaxe@nna`, password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: 'a NUL in the email',
      json: { email: 'ann\u0000@example.com', password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: 'a full-width ａ spelling of an existing address',
      json: { email: `${FULLWIDTH_A}nn@example.com`, password: GOOD_PASSWORD },
      status: 409,
      code: 'auth/email-taken',
    },
    {
      what: 'a full-width ＠ spelling of an existing address',
      json: { email: `ann${FULLWIDTH_AT}example.com`, password: GOOD_PASSWORD },
      status: 409,
      code: 'auth/email-taken',
    },
    {
      what: 'an upper-case, padded spelling of an existing address',
      json: { email: '  ANN@Example.COM ', password: GOOD_PASSWORD },
      status: 409,
      code: 'auth/email-taken',
    },
    { what: 'SQL as the email', json: { email: SQL, password: GOOD_PASSWORD }, ...INVALID_EMAIL },
    {
      what: 'a script tag as the email',
      json: { email: `${SCRIPT}@example.com`, password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: 'a path traversal as the email',
      json: { email: TRAVERSAL, password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: '10 KB of unicode as the email',
      json: { email: TEN_KB_UNICODE, password: GOOD_PASSWORD },
      ...VALIDATION,
    },
    {
      what: '10 KB of unicode as the password (within the schema bound, over the policy)',
      json: { email: 'new@example.com', password: TEN_KB_UNICODE },
      ...PASSWORD_POLICY,
    },
  ].map((c) => ({ ...post('/v1/auth/signup'), ...c })),

  // login (few of these reach the throttle: the address allows 30 failures, Ann's account 5)
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'a number as email', json: { email: 42, password: ANN_PASSWORD }, ...VALIDATION },
    { what: 'an array as password', json: { email: ANN, password: [ANN_PASSWORD] }, ...VALIDATION },
    { what: 'an object as password', json: { email: ANN, password: { $gt: '' } }, ...VALIDATION },
    { what: 'null as password', json: { email: ANN, password: null }, ...VALIDATION },
    {
      what: 'an undeclared admin flag',
      json: { email: ANN, password: ANN_PASSWORD, admin: true },
      ...VALIDATION,
    },
    {
      what: 'a 5000-character password',
      json: { email: ANN, password: 'p'.repeat(5000) },
      status: 401,
      code: 'auth/invalid-credentials',
    },
    {
      what: 'a 257-code-point password',
      json: { email: ANN, password: EMOJI.repeat(257) },
      status: 401,
      code: 'auth/invalid-credentials',
    },
    {
      what: 'SQL as the password',
      json: { email: ANN, password: SQL },
      status: 401,
      code: 'auth/invalid-credentials',
    },
    {
      what: 'a SQL-quoted but well-formed email',
      json: { email: "x'or'1'='1@example.com", password: ANN_PASSWORD },
      status: 401,
      code: 'auth/invalid-credentials',
    },
    { what: 'SQL as the email', json: { email: SQL, password: ANN_PASSWORD }, ...INVALID_EMAIL },
    {
      what: 'a right-to-left override in the email',
      json: { email: `ann@example.com${RIGHT_TO_LEFT_OVERRIDE}`, password: ANN_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: '10 KB of unicode as the password',
      json: { email: ANN, password: TEN_KB_UNICODE },
      status: 401,
      code: 'auth/invalid-credentials',
    },
  ].map((c) => ({ ...post('/v1/auth/login'), ...c })),

  // anonymous
  ...[
    { what: 'a number as device', json: { device: 5 }, ...VALIDATION },
    { what: 'an empty device name', json: { device: '' }, ...VALIDATION },
    { what: 'roles', json: { roles: ['admin'] }, ...VALIDATION },
  ].map((c) => ({ ...post('/v1/auth/anonymous'), ...c })),

  // link (as a live anonymous account: every one of these must fail before linking)
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'no password', json: { email: 'linked@example.com' }, ...VALIDATION },
    { what: 'a number as email', json: { email: 1, password: GOOD_PASSWORD }, ...VALIDATION },
    {
      what: 'a full-width spelling of a taken address',
      json: { email: `${FULLWIDTH_A}nn@example.com`, password: GOOD_PASSWORD },
      status: 409,
      code: 'auth/email-taken',
    },
    {
      what: 'a zero-width space in the email',
      json: { email: `linked${ZERO_WIDTH_SPACE}@example.com`, password: GOOD_PASSWORD },
      ...INVALID_EMAIL,
    },
    {
      what: 'a 257-code-point password',
      json: { email: 'linked@example.com', password: EMOJI.repeat(257) },
      ...PASSWORD_POLICY,
    },
    {
      what: 'roles alongside the credentials',
      json: { email: 'linked@example.com', password: GOOD_PASSWORD, roles: ['admin'] },
      ...VALIDATION,
    },
  ].map((c) => ({ ...post('/v1/auth/link', 'anon'), ...c })),

  // refresh
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'a number as token', json: { refreshToken: 1234567890123456 }, ...VALIDATION },
    { what: 'null as token', json: { refreshToken: null }, ...VALIDATION },
    { what: 'a short token', json: { refreshToken: 'abc' }, ...VALIDATION },
    { what: 'SQL as token', json: { refreshToken: `${SQL}${SQL}` }, ...VALIDATION },
    { what: 'a 300-character token', json: { refreshToken: 'a'.repeat(300) }, ...VALIDATION },
    {
      what: 'a well-formed token nobody issued',
      json: { refreshToken: 'a'.repeat(43) },
      status: 401,
      code: 'auth/invalid-refresh-token',
    },
  ].map((c) => ({ ...post('/v1/auth/refresh'), ...c })),

  // verify-email
  {
    ...post('/v1/auth/verify-email/request', 'anon'),
    what: 'an account without an email',
    status: 409,
    code: 'auth/no-email',
  },
  ...[
    { what: 'no token', json: {}, ...VALIDATION },
    { what: 'a number as token', json: { token: 5 }, ...VALIDATION },
    { what: 'a script tag as token', json: { token: SCRIPT }, ...VALIDATION },
    { what: 'a path traversal as token', json: { token: `${TRAVERSAL}${TRAVERSAL}` }, ...VALIDATION },
    {
      what: 'a well-formed token nobody issued',
      json: { token: 'b'.repeat(43) },
      status: 400,
      code: 'auth/invalid-one-time-token',
    },
  ].map((c) => ({ ...post('/v1/auth/verify-email/confirm'), ...c })),

  // password reset
  ...[
    { what: 'no email', json: {}, ...VALIDATION },
    { what: 'a number as email', json: { email: 3 }, ...VALIDATION },
    { what: 'an array as email', json: { email: [ANN] }, ...VALIDATION },
    {
      what: 'a zero-width space in the email',
      json: { email: `ann@exam${ZERO_WIDTH_SPACE}ple.com` },
      ...INVALID_EMAIL,
    },
    { what: 'SQL as the email', json: { email: SQL }, ...INVALID_EMAIL },
    { what: 'an undeclared field', json: { email: ANN, redirect: 'https://evil.example' }, ...VALIDATION },
  ].map((c) => ({ ...post('/v1/auth/password-reset/request'), ...c })),
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'no password', json: { token: 'c'.repeat(43) }, ...VALIDATION },
    { what: 'a number as password', json: { token: 'c'.repeat(43), password: 123456789 }, ...VALIDATION },
    {
      what: 'a 257-code-point password',
      json: { token: 'c'.repeat(43), password: EMOJI.repeat(257) },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a 5000-character password',
      json: { token: 'c'.repeat(43), password: 'p'.repeat(5000) },
      ...PASSWORD_POLICY,
    },
    {
      what: 'a well-formed token nobody issued',
      json: { token: 'c'.repeat(43), password: GOOD_PASSWORD },
      status: 400,
      code: 'auth/invalid-one-time-token',
    },
  ].map((c) => ({ ...post('/v1/auth/password-reset/confirm'), ...c })),

  // oauth (this host has no client ids: well-formed requests reach the provider check)
  ...(['apple', 'google'] as const).flatMap((provider) =>
    [
      { what: 'no idToken', json: {}, ...VALIDATION },
      { what: 'a number as idToken', json: { idToken: 1 }, ...VALIDATION },
      { what: 'an empty idToken', json: { idToken: '' }, ...VALIDATION },
      { what: 'a 20000-character idToken', json: { idToken: 'e'.repeat(20_000) }, ...VALIDATION },
      { what: 'a 600-character nonce', json: { idToken: 'x.y.z', nonce: 'n'.repeat(600) }, ...VALIDATION },
      { what: 'an email alongside the token', json: { idToken: 'x.y.z', email: ANN }, ...VALIDATION },
      {
        what: 'a well-formed request to a provider that is not configured',
        json: { idToken: 'x.y.z' },
        status: 404,
        code: 'auth/provider-disabled',
      },
    ].map((c) => ({ ...post(`/v1/auth/oauth/${provider}`), ...c })),
  ),

  // PATCH /me
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'roles', json: { roles: ['admin'] }, ...VALIDATION },
    {
      what: 'roles next to a valid field',
      json: { displayName: 'Mallory', roles: ['admin'] },
      ...VALIDATION,
    },
    { what: 'claims', json: { claims: { admin: true } }, ...VALIDATION },
    { what: 'an email change', json: { email: 'other@example.com' }, ...VALIDATION },
    { what: 'a number as displayName', json: { displayName: 5 }, ...VALIDATION },
    { what: 'an array as displayName', json: { displayName: ['a'] }, ...VALIDATION },
    { what: 'an empty displayName', json: { displayName: '' }, ...VALIDATION },
    { what: '10 KB of unicode as displayName', json: { displayName: TEN_KB_UNICODE }, ...VALIDATION },
    {
      what: 'a right-to-left override in displayName',
      json: { displayName: `${RIGHT_TO_LEFT_OVERRIDE}nimda` },
      status: 400,
      code: 'auth/invalid-profile',
    },
    {
      what: 'a NUL in displayName',
      json: { displayName: 'a\u0000b' },
      status: 400,
      code: 'auth/invalid-profile',
    },
    { what: 'a javascript: avatarUrl', json: { avatarUrl: 'javascript:alert(1)' }, ...VALIDATION },
    { what: 'an http avatarUrl', json: { avatarUrl: 'http://example.com/a.png' }, ...VALIDATION },
    { what: 'a path traversal as locale', json: { locale: TRAVERSAL }, ...VALIDATION },
    { what: 'SQL as locale', json: { locale: SQL }, ...VALIDATION },
  ].map((c) => ({ method: 'PATCH' as const, path: '/v1/auth/me', as: 'user' as const, ...c })),

  // path parameters
  ...['/v1/auth/sessions/', '/v1/admin/users/'].flatMap((prefix) => {
    const as: Caller = prefix.startsWith('/v1/admin') ? 'admin' : 'user';
    const method: Method = as === 'admin' ? 'GET' : 'DELETE';
    return [
      { what: 'a NUL id', path: `${prefix}%00`, ...VALIDATION },
      { what: 'a 65-character id', path: `${prefix}${'a'.repeat(65)}`, ...VALIDATION },
      {
        what: 'a 300-character id (past the router limit)',
        path: `${prefix}${'a'.repeat(300)}`,
        status: 414,
        code: 'runtime/uri-too-long',
      },
      { what: 'an encoded path traversal', path: `${prefix}${encodeURIComponent(TRAVERSAL)}`, ...VALIDATION },
      { what: 'SQL as the id', path: `${prefix}${encodeURIComponent(SQL)}`, ...VALIDATION },
      { what: 'a script tag as the id', path: `${prefix}${encodeURIComponent(SCRIPT)}`, ...VALIDATION },
      {
        what: 'a broken percent-encoding',
        path: `${prefix}%E0%A4%A`,
        status: 400,
        code: 'runtime/bad-request',
      },
      {
        what: 'an unknown id',
        path: `${prefix}${UNKNOWN_ID}`,
        status: 404,
        code: as === 'admin' ? 'auth/user-not-found' : 'auth/session-not-found',
      },
    ].map((c) => ({ method, as, ...c }));
  }),

  // PATCH /v1/admin/users/:id
  ...[
    { what: 'no fields', json: {}, ...VALIDATION },
    { what: 'a string as roles', json: { roles: 'admin' }, ...VALIDATION },
    { what: 'a malformed role', json: { roles: ['Admin!'] }, ...VALIDATION },
    { what: 'a duplicated role', json: { roles: ['a', 'a'] }, ...VALIDATION },
    { what: '21 roles', json: { roles: Array.from({ length: 21 }, (_, i) => `r${i}`) }, ...VALIDATION },
    { what: 'a string as disabled', json: { disabled: 'yes' }, ...VALIDATION },
    { what: 'an array as claims', json: { claims: ['x'] }, ...VALIDATION },
    { what: 'a claim name with SQL', json: { claims: { [SQL]: 1 } }, ...VALIDATION },
    { what: 'an empty claim name', json: { claims: { '': 1 } }, ...VALIDATION },
    { what: 'a 33-character claim name', json: { claims: { ['c'.repeat(33)]: 1 } }, ...VALIDATION },
    {
      what: 'a reserved claim (sub)',
      json: { claims: { sub: 'someone-else' } },
      status: 400,
      code: 'auth/invalid-claims',
    },
    {
      what: 'claims over 1 KiB',
      json: { claims: { note: 'x'.repeat(2000) } },
      status: 400,
      code: 'auth/invalid-claims',
    },
    { what: 'an email change', json: { email: ANN }, ...VALIDATION },
    { what: 'a password hash', json: { passwordHash: 'x' }, ...VALIDATION },
    {
      what: 'a valid change of an unknown user',
      json: { disabled: true },
      status: 404,
      code: 'auth/user-not-found',
    },
  ].map((c) => ({
    method: 'PATCH' as const,
    path: `/v1/admin/users/${UNKNOWN_ID}`,
    as: 'admin' as const,
    ...c,
  })),

  // admin list query strings
  ...[
    ['limit=0', VALIDATION],
    ['limit=101', VALIDATION],
    ['limit=-1', VALIDATION],
    ['limit=abc', VALIDATION],
    ['limit=1.5', VALIDATION],
    ['limit=1&limit=2', VALIDATION],
    ['cursor=%00', VALIDATION],
    [`cursor=${encodeURIComponent(SQL)}`, VALIDATION],
    [`cursor=${'a'.repeat(65)}`, VALIDATION],
    ['email=', VALIDATION],
    ['email=a%40example.com&email=b%40example.com', VALIDATION],
    [`email=${encodeURIComponent(`an${ZERO_WIDTH_SPACE}n@example.com`)}`, INVALID_EMAIL],
    [`email=${encodeURIComponent(SQL)}`, INVALID_EMAIL],
    [`email=${encodeURIComponent('語'.repeat(1100))}`, VALIDATION],
    [`email=${encodeURIComponent('語'.repeat(300))}%40example.com`, INVALID_EMAIL],
    [`email=${'e'.repeat(20_000)}`, { status: 431, code: 'runtime/headers-too-large' }],
    ['role=admin', VALIDATION],
    ['__proto__[admin]=1', VALIDATION],
    ['constructor[prototype][admin]=1', VALIDATION],
  ].map(([query, expected]) => ({
    what: `?${String(query).slice(0, 60)}`,
    method: 'GET' as const,
    path: `/v1/admin/users?${String(query)}`,
    as: 'admin' as const,
    ...(expected as { status: number; code: string }),
  })),
  ...[
    'limit=0',
    'limit=201',
    'limit=abc',
    'cursor=-1',
    'cursor=abc',
    'cursor=1e3',
    'cursor=9999999999999999999',
    'type=USER.LOGIN',
    `type=${encodeURIComponent(SQL)}`,
    `type=${'a'.repeat(65)}`,
    'userId=%00',
    `userId=${encodeURIComponent(TRAVERSAL)}`,
    'since=yesterday',
    '__proto__[admin]=1',
  ].map((query) => ({
    what: `?${query.slice(0, 60)}`,
    method: 'GET' as const,
    path: `/v1/admin/audit?${query}`,
    as: 'admin' as const,
    ...VALIDATION,
  })),
];

const CASES: Case[] = [
  ...ENDPOINTS.flatMap((endpoint) =>
    endpoint.method === 'POST' || endpoint.method === 'PATCH' ? bodyFramingCases(endpoint) : [],
  ),
  ...ENDPOINTS.flatMap(credentialCases),
  ...FIELD_CASES,
];

// A stack frame ("at fn (file:line:col)"), or a source path with a line number, or node_modules.
const STACK_TRACE = /\bat [^\s]+ \(|\bat (?:file|node):|\.(?:ts|js|mjs|cjs):\d+|node_modules|\/work\//;

describe('every auth endpoint answers garbage with a 4xx problem', () => {
  let infrastructure: Awaited<ReturnType<typeof createTestInfrastructure>>;
  let host: AuthTestHost;
  let api: Client;
  let ann: Awaited<ReturnType<Client['signup']>>;
  let anonymousToken: string;

  before(async () => {
    infrastructure = await createTestInfrastructure('embedded', { TERN_BODY_LIMIT: String(BODY_LIMIT) });
    host = await startAuthHost(infrastructure);
    api = client(host.url);
    ann = await api.signup(ANN, ANN_PASSWORD);
    const anonymous = await api.post('/v1/auth/anonymous');
    assert.equal(anonymous.status, 201);
    anonymousToken = anonymous.body.accessToken as string;
  });

  after(async () => {
    await host?.close();
    await infrastructure?.cleanup();
  });

  function authorization(caller: Caller): string | undefined {
    if (typeof caller === 'object') return caller.authorization;
    if (caller === 'user') return `Bearer ${ann.accessToken}`;
    if (caller === 'anon') return `Bearer ${anonymousToken}`;
    if (caller === 'admin') return `Bearer ${host.adminKey}`;
    return undefined;
  }

  async function send(c: Case) {
    const headers: Record<string, string> = {};
    const credential = authorization(c.as);
    if (credential) headers.authorization = credential;
    const body = c.json !== undefined ? JSON.stringify(c.json) : c.raw;
    if (body !== undefined && c.contentType !== null)
      headers['content-type'] = c.contentType ?? 'application/json';
    const response = await fetch(`${host.url}${c.path}`, {
      method: c.method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  for (const c of CASES) {
    it(`${c.method} ${c.path.slice(0, 70)} with ${c.what} → ${c.status} ${c.code}`, async () => {
      const response = await send(c);
      const context = `${c.method} ${c.path.slice(0, 70)} (${c.what}): ${response.status} ${response.text.slice(0, 300)}`;
      assert.ok(response.status >= 400 && response.status < 500, context);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json\b/, context);
      assert.doesNotMatch(response.text, STACK_TRACE, context);
      const problem = JSON.parse(response.text) as Record<string, unknown>;
      assert.equal(typeof problem.code, 'string', context);
      assert.match(String(problem.code), /^[a-z]+\/[a-z0-9-]+$/, context);
      assert.deepEqual(
        { status: response.status, code: problem.code },
        { status: c.status, code: c.code },
        context,
      );
      assert.equal(problem.status, response.status, context);
      assert.equal(problem.type, `urn:tern:problem:${c.code}`, context);
      assert.equal(typeof problem.title, 'string', context);
      assert.ok(!('stack' in problem), context);
    });
  }

  it('refused role changes leave the account without roles: GET /me, the admin view and fresh tokens agree', async () => {
    const me = await api.get('/v1/auth/me', ann.accessToken);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body.roles, []);
    assert.equal(me.body.displayName, null, 'the refused PATCH with roles and a displayName changed nothing');
    const adminView = await api.call('GET', `/v1/admin/users/${ann.user.id}`, { token: host.adminKey });
    assert.equal(adminView.status, 200);
    assert.deepEqual(adminView.body.roles, []);
    assert.deepEqual(adminView.body.claims, {});
    const refreshed = await api.post('/v1/auth/refresh', { refreshToken: ann.refreshToken });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(refreshed.body.user.roles, []);
    const asAdmin = await api.get('/v1/admin/users', refreshed.body.accessToken as string);
    assert.equal(asAdmin.status, 403, 'a fresh access token of the account carries no admin role');
  });

  it('refused prototype-pollution bodies polluted nothing and created no account', async () => {
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(({} as Record<string, unknown>).roles, undefined);
    const signup = await api.post(
      '/v1/auth/signup',
      `{"email":"proto@example.com","password":"${GOOD_PASSWORD}","__proto__":{"roles":["admin"]}}`,
    );
    assert.equal(signup.status, 400);
    assert.equal(signup.body.code, 'runtime/malformed-json');
    const found = await api.call('GET', '/v1/admin/users?email=proto%40example.com', {
      token: host.adminKey,
    });
    assert.equal(found.status, 200);
    assert.deepEqual(found.body.items, []);
  });

  it('garbage sent to /link left the anonymous account anonymous, without an email', async () => {
    const me = await api.get('/v1/auth/me', anonymousToken);
    assert.equal(me.status, 200);
    assert.equal(me.body.anonymous, true);
    assert.equal(me.body.email, null);
  });

  it('hostile strings that are valid input are stored verbatim and match nothing else', async () => {
    const displayName = `${SCRIPT} ${SQL} ${TRAVERSAL}`.slice(0, 100);
    const patched = await api.patch('/v1/auth/me', { displayName }, ann.accessToken);
    assert.equal(patched.status, 200);
    assert.equal(patched.body.displayName, displayName);
    const search = await api.call(
      'GET',
      `/v1/admin/users?email=${encodeURIComponent("x'or'1'='1@example.com")}`,
      {
        token: host.adminKey,
      },
    );
    assert.equal(search.status, 200);
    assert.deepEqual(search.body.items, [], 'a quoted address finds no one, rather than everyone');
  });

  it('a full-width spelling of an address signs in to the same account', async () => {
    const login = await api.post('/v1/auth/login', {
      email: `${FULLWIDTH_A}nn@example.com`,
      password: ANN_PASSWORD,
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.user.id, ann.user.id);
    assert.equal(login.body.user.email, ANN);
  });

  it('the server still answers /healthz after all of it, and logged no stack trace for any of it', async () => {
    const health = await fetch(`${host.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const failures = host.rawLogs.filter((line) => /"level":(?:50|60)\b|"request failed"/.test(line));
    assert.deepEqual(failures, [], 'no request was logged as a server failure');
  });
});
