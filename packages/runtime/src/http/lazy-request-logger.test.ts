import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, type Logger } from '@tern/telemetry';
import { lazyRequestLogger } from './lazy-request-logger';

function capture(level: 'info' | 'warn') {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const parent = createLogger({ service: 'test', instance: 'i-1', level, destination });
  return { parent, lines };
}

/** Counts the children made of `parent` (a pino child inherits the parent's methods, so only there). */
function countingChildren(parent: Logger): () => number {
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((...args: Parameters<Logger['child']>) => {
    children++;
    return child(...args);
  }) as Logger['child'];
  return () => children;
}

describe('lazy request logger', () => {
  it('makes no child for lines below the level, and writes enabled ones with the request bindings', () => {
    const { parent, lines } = capture('warn');
    const made = countingChildren(parent);
    const log = lazyRequestLogger(parent, { requestId: 'r-1' }, {});
    log.info({ route: '/x' }, 'not written');
    log.debug('nor this');
    assert.equal(made(), 0);
    assert.equal(lines.length, 0);
    log.error({ code: 'x' }, 'written');
    log.warn('and this');
    assert.equal(made(), 1, 'one child, made on the first enabled line');
    assert.deepEqual(
      lines.map((line) => [line.level, line.requestId, line.service, line.msg]),
      [
        ['error', 'r-1', 'test', 'written'],
        ['warn', 'r-1', 'test', 'and this'],
      ],
    );
  });

  it('reports the parent level until it has a child, and gives children that carry the request id', () => {
    const { parent, lines } = capture('info');
    const log = lazyRequestLogger(parent, { requestId: 'r-2' }, {});
    assert.equal(log.level, 'info');
    log.child({ component: 'data' }).info({ password: 'hunter2' }, 'from a service');
    assert.equal(lines[0]?.requestId, 'r-2');
    assert.equal(lines[0]?.component, 'data');
    assert.equal(lines[0]?.password, '[redacted]');
  });
});
