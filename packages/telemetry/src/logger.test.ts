import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, REDACTED_PATHS, serializeError } from './logger';
import { createTracing, withSpan } from './tracing';

function capture(level: 'info' | 'debug' = 'info') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString());
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ service: 'test', instance: 'i-1', level, destination }), lines, raw };
}

/** An object holding `value` at a redacted path (`a.b`, `*.b`, `a["b-c"]`). */
function objectAt(path: string, value: string): Record<string, unknown> {
  const parts = path
    .replace(/\["([^"]+)"\]/g, '.$1')
    .split('.')
    .map((part) => (part === '*' ? 'anything' : part));
  let result: unknown = value;
  for (const part of parts.reverse()) result = { [part]: result };
  return result as Record<string, unknown>;
}

describe('logger', () => {
  it('redacts every configured credential path, wherever the configuration says it may be', () => {
    const { log, raw } = capture();
    for (const [index, path] of REDACTED_PATHS.entries()) {
      const secret = `s3cret-${index}-do-not-log`;
      log.info(objectAt(path, secret), `line for ${path}`);
      const line = raw.at(-1) ?? '';
      assert.ok(!line.includes(secret), `${path} leaked: ${line}`);
      assert.match(line, /\[redacted\]/, `${path} is marked redacted`);
    }
  });

  it('takes the password, token and authorization out of real shapes: a request and a body', () => {
    const { log, raw } = capture();
    log.info(
      {
        req: {
          headers: { authorization: 'Bearer eyJhbGciOi.secret', cookie: 'sid=abc', 'x-api-key': 'k-1' },
        },
        body: { email: 'a@example.com', password: 'hunter2', refreshToken: 'rt-1' },
      },
      'request in',
    );
    const line = raw.join('');
    for (const secret of ['eyJhbGciOi.secret', 'sid=abc', 'k-1', 'hunter2', 'rt-1']) {
      assert.ok(!line.includes(secret), `${secret} leaked`);
    }
    assert.match(line, /a@example\.com/, 'what is not a credential stays');
  });

  it("drops what drivers hang on errors (a command's arguments, a connection's settings)", () => {
    const error = Object.assign(new Error('WRONGPASS'), {
      command: { name: 'auth', args: ['default', 'redis-password'] },
      client: { connectionParameters: { password: 'pg-password' } },
      code: 'E1',
    });
    const serialized = JSON.stringify(serializeError(error));
    assert.ok(!serialized.includes('redis-password') && !serialized.includes('pg-password'));
    assert.match(serialized, /WRONGPASS/);
    assert.match(serialized, /"code":"E1"/);
  });

  it('writes the trace and span ids on lines written inside a span, and none outside', () => {
    const { log, lines } = capture();
    const { tracer } = createTracing({
      service: 'test',
      instance: 'i-1',
      endpoint: undefined,
      sampleRatio: 1,
    });
    const span = tracer.startSpan('work');
    withSpan(span, () => log.info('inside'));
    span.end();
    log.info('outside');
    assert.equal(lines[0]?.traceId, span.spanContext().traceId);
    assert.equal(lines[0]?.spanId, span.spanContext().spanId);
    assert.equal(lines[1]?.traceId, undefined);
  });

  it('lets a child (one service) log at its own level', () => {
    const { log, lines } = capture('info');
    log.child({ component: 'auth' }, { level: 'debug' }).debug('auth detail');
    log.child({ component: 'data' }).debug('data detail');
    log.child({ component: 'jobs' }, { level: 'warn' }).info('jobs routine');
    assert.deepEqual(
      lines.map((line) => line.msg),
      ['auth detail'],
    );
  });
});
