import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { TernError } from '@tern/errors';
import { quietTelemetry } from '@tern/testing';
import { createPasswordHasher } from './password-hasher';

const CHEAP = { memoryKiB: 8192, iterations: 1 };

/** Nice values of this process's threads (Linux keeps one per thread). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('password hasher', () => {
  const hasher = createPasswordHasher({ ...CHEAP, concurrency: 2 }, quietTelemetry());
  after(() => hasher.close());

  it('hashes with argon2id at the configured parameters and verifies only the right password', async () => {
    const hash = await hasher.hash('correct horse');
    assert.match(hash, /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
    assert.equal(await hasher.verify(hash, 'correct horse'), true);
    assert.equal(await hasher.verify(hash, 'correct horsE'), false);
    assert.equal(await hasher.verify('not a hash', 'correct horse'), false);
    assert.equal(await hasher.verify('$argon2id$garbage', 'correct horse'), false);
    await hasher.verifyDummy('anything');
  });

  it('says a hash made with other parameters should be redone', async () => {
    const hash = await hasher.hash('correct horse');
    assert.equal(hasher.needsRehash(hash), false);
    assert.equal(hasher.needsRehash(hash.replace('m=8192', 'm=4096')), true);
  });

  it('hashes on worker threads that lowered their own priority, leaving the event loop at normal priority', async () => {
    await hasher.hash('warm the pool');
    const nice = threadNiceValues();
    assert.ok(nice.filter((value) => value === 19).length >= 2, `thread nice values: ${nice.join(',')}`);
    assert.ok(nice.includes(0), 'the main thread is untouched');
  });

  it('refuses with 503 auth/busy once too many hashes are waiting, and skips work its caller abandoned', async () => {
    const small = createPasswordHasher({ ...CHEAP, concurrency: 1, maxWaiting: 2 }, quietTelemetry());
    try {
      await small.verifyDummy('let the start-up hash finish');
      const abandoned = new AbortController();
      const first = small.hash('one');
      const second = small.hash('two', abandoned.signal);
      const third = small.hash('three');
      await assert.rejects(small.hash('four'), (error: unknown) => {
        assert.ok(error instanceof TernError);
        assert.equal(error.code, 'auth/busy');
        assert.equal(error.status, 503);
        assert.equal(error.headers['retry-after'], '1');
        return true;
      });
      abandoned.abort(new Error('client went away'));
      await assert.rejects(second, /client went away/);
      assert.match(await first, /^\$argon2id/);
      assert.match(await third, /^\$argon2id/);
    } finally {
      await small.close();
    }
  });
});
