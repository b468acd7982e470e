import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureService } from './fixture-service';
import { startTestHost, type TestHost } from './start-test-host';

const PROBLEM = /^application\/problem\+json/;

async function expectProblem(
  response: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  assert.equal(response.status, status, `expected ${status} for ${code}, got ${response.status}`);
  assert.match(response.headers.get('content-type') ?? '', PROBLEM);
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(body.type, `urn:tern:problem:${code}`);
  assert.equal(typeof body.title, 'string');
  assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+|node_modules|stack/);
  return body;
}

describe('the HTTP edge answers bad input with problem+json, never a 500', () => {
  let t: TestHost;
  before(async () => {
    t = await startTestHost([fixtureService]);
  });
  after(async () => {
    await t.close();
  });

  it('answers an unknown route with 404 runtime/not-found', async () => {
    await expectProblem(await fetch(`${t.url}/v1/nothing/here`), 404, 'runtime/not-found');
  });

  it('answers a known path with the wrong method with 405 and an Allow header', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, { method: 'DELETE' });
    const body = await expectProblem(response, 405, 'runtime/method-not-allowed');
    assert.equal(response.headers.get('allow'), 'POST');
    assert.deepEqual(body.allowed, ['POST']);
  });

  it('answers malformed JSON with 400 runtime/malformed-json', async () => {
    for (const payload of ['{"id": "a", ', '{]', 'nul', '"\\u00"']) {
      const response = await fetch(`${t.url}/v1/fixture/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
      });
      await expectProblem(response, 400, 'runtime/malformed-json');
    }
  });

  it('answers an empty JSON body with 400 runtime/malformed-json', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '',
    });
    await expectProblem(response, 400, 'runtime/malformed-json');
  });

  it('answers a 10 MB body with 413 runtime/body-too-large', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'big', text: 'x'.repeat(10 * 1024 * 1024) }),
    });
    const body = await expectProblem(response, 413, 'runtime/body-too-large');
    assert.equal(body.limitBytes, 1024 * 1024);
  });

  it('answers an unsupported content type with 415 runtime/unsupported-media-type', async () => {
    for (const type of [
      'text/plain',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
    ]) {
      const response = await fetch(`${t.url}/v1/fixture/notes`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: 'id=1',
      });
      await expectProblem(response, 415, 'runtime/unsupported-media-type');
    }
  });

  it('refuses a JSON body declared in a charset other than UTF-8 instead of corrupting it', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
      body: Buffer.from('{"id":"latin","text":"caf\xe9"}', 'latin1'),
    });
    const body = await expectProblem(response, 415, 'runtime/unsupported-media-type');
    assert.match(String(body.detail), /iso-8859-1/);
    const utf8 = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'Application/JSON; Charset="UTF-8"' },
      body: JSON.stringify({ id: 'utf8-ok', text: 'café' }),
    });
    assert.equal(utf8.status, 201);
  });

  it('answers oversized headers and a 20 kB URL with problem+json, not a bare status line', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes/${'x'.repeat(20_000)}`);
    assert.equal(response.status, 431);
    assert.match(response.headers.get('content-type') ?? '', PROBLEM);
    assert.equal(((await response.json()) as { code: string }).code, 'runtime/headers-too-large');
  });

  it('ignores credentials it cannot verify on a public route', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes/n-none`, {
      headers: { authorization: 'Bearer some-user-token' },
    });
    await expectProblem(response, 404, 'fixture/note-not-found');
  });

  it('keeps the in-flight gauge exact when clients hang up mid-request', async () => {
    for (let index = 0; index < 3; index++) {
      const controller = new AbortController();
      const pending = fetch(`${t.url}/v1/fixture/slow?ms=300`, { signal: controller.signal }).catch(
        () => 'aborted',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      assert.equal(await pending, 'aborted');
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    // The scrape itself is the one request in flight.
    assert.match(metrics, /tern_http_requests_in_flight\{[^}]*\} 1\n/);
  });

  it('answers wrong types and missing fields with 400 runtime/validation-failed naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ id: 42, text: 'x' }, /\/id/],
      [{ text: 'x' }, /id/],
      [{ id: 'a', text: 'x'.repeat(1001) }, /\/text/],
      [[1, 2, 3], /body/],
      ['just a string', /body/],
      [null, /body/],
    ];
    for (const [payload, mentions] of cases) {
      const response = await fetch(`${t.url}/v1/fixture/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      const body = await expectProblem(response, 400, 'runtime/validation-failed');
      assert.match(String(body.detail), mentions);
    }
  });

  it('refuses prototype-poisoning keys', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"id":"p","text":"x","__proto__":{"admin":true}}',
    });
    await expectProblem(response, 400, 'runtime/malformed-json');
  });

  it('survives hostile strings in paths, queries and headers', async () => {
    const hostile = [
      '/v1/fixture/notes/%E0%A4%A',
      `/v1/fixture/notes/${'a'.repeat(5000)}`,
      "/v1/fixture/notes/' OR 1=1 --",
      '/v1/fixture/notes/%00',
      '/v1/fixture/slow?ms=-1',
      '/v1/fixture/slow?ms=1e309',
      '/v1/fixture/slow?ms[]=1',
      '/v1/fixture/slow?ms=99999999999999999999',
      '/../../etc/passwd',
    ];
    for (const path of hostile) {
      const response = await fetch(`${t.url}${path}`, { headers: { 'x-request-id': '<script>' } });
      assert.ok(response.status >= 400 && response.status < 500, `${path} → ${response.status}`);
      assert.match(response.headers.get('content-type') ?? '', PROBLEM);
      assert.notEqual(response.headers.get('x-request-id'), '<script>');
    }
  });

  it('serialises responses from their schema, so undeclared fields never leak', async () => {
    const response = await fetch(`${t.url}/v1/fixture/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'n1', text: 'héllo ☃ <b>' }),
    });
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { id: 'n1', text: 'héllo ☃ <b>' });
    const read = await fetch(`${t.url}/v1/fixture/notes/n1`);
    assert.deepEqual(await read.json(), { id: 'n1', text: 'héllo ☃ <b>' });
    await expectProblem(await fetch(`${t.url}/v1/fixture/notes/missing`), 404, 'fixture/note-not-found');
  });

  it('answers an unexpected failure with 500 runtime/internal without the error text, and logs it', async () => {
    const response = await fetch(`${t.url}/v1/fixture/boom`);
    const body = await expectProblem(response, 500, 'runtime/internal');
    assert.doesNotMatch(JSON.stringify(body), /hunter2/);
    assert.equal(body.requestId, response.headers.get('x-request-id'));
    assert.ok(t.logs.some((line) => line.level === 'error' && line.requestId === body.requestId));
  });

  it('refuses admin routes without the admin key, with a wrong key, and accepts the right one', async () => {
    await expectProblem(await fetch(`${t.url}/v1/admin/fixture`), 401, 'runtime/unauthorized');
    const wrong = await fetch(`${t.url}/v1/admin/fixture`, {
      headers: { authorization: 'Bearer not-the-key-but-long-enough-to-look-real' },
    });
    await expectProblem(wrong, 401, 'runtime/unauthorized');
    const garbage = await fetch(`${t.url}/v1/admin/fixture`, {
      headers: { authorization: 'Basic Zm9vOmJhcg==' },
    });
    await expectProblem(garbage, 401, 'runtime/unauthorized');
    const right = await fetch(`${t.url}/v1/admin/fixture`, {
      headers: { authorization: `Bearer ${t.adminKey}` },
    });
    assert.equal(right.status, 200);
    assert.deepEqual(await right.json(), { identity: 'admin' });
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    const lower = await fetch(`${t.url}/v1/admin/fixture`, {
      headers: { authorization: `bearer ${t.adminKey}` },
    });
    assert.equal(lower.status, 200);
  });
});
