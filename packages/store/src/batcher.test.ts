import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBatcher, MAX_BATCH } from './batcher';

/** What a batch fails with: the database refusing a statement, or the connection dropping. */
const refusedByDatabase = Object.assign(new Error('duplicate key value'), { code: '23505' });
const connectionLost = new Error('Connection terminated unexpectedly');

/** A batcher whose `one` and `many` record their calls and wait until released. */
function recording(manyFails?: Error, inFlight = 1) {
  const calls: string[][] = [];
  let release: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const batcher = createBatcher<string, string>(
    {
      one: async (_collection, item) => {
        calls.push([item]);
        await gate;
        if (item === 'bad') throw new Error('refused');
        return `${item}!`;
      },
      many: async (_collection, items) => {
        calls.push(items);
        await gate;
        if (manyFails) throw manyFails;
        return items.map((item) => `${item}!`);
      },
    },
    inFlight,
  );
  return {
    batcher,
    calls,
    open() {
      release();
      gate = Promise.resolve();
    },
  };
}

describe('create batcher', () => {
  it('runs a create at once and alone, and those arriving meanwhile together in the next transaction', async () => {
    const { batcher, calls, open } = recording();
    const first = batcher.submit('notes', 'a');
    const rest = ['b', 'c', 'd'].map((item) => batcher.submit('notes', item));
    const otherCollection = batcher.submit('tasks', 'x');
    open();
    assert.deepEqual(await Promise.all([first, ...rest, otherCollection]), ['a!', 'b!', 'c!', 'd!', 'x!']);
    assert.deepEqual(calls, [['a'], ['x'], ['b', 'c', 'd']]);
  });

  it('runs up to its in-flight limit of transactions at once, and batches what arrives meanwhile', async () => {
    const { batcher, calls, open } = recording(undefined, 2);
    const results = ['a', 'b', 'c', 'd', 'e'].map((item) => batcher.submit('notes', item));
    assert.deepEqual(calls, [['a'], ['b']], 'two lanes started at once, each alone');
    open();
    assert.deepEqual(await Promise.all(results), ['a!', 'b!', 'c!', 'd!', 'e!']);
    assert.deepEqual(calls, [['a'], ['b'], ['c', 'd', 'e']]);
    assert.deepEqual(await batcher.submit('notes', 'f'), 'f!', 'the collection starts afresh once idle');
  });

  it('takes at most MAX_BATCH creates per transaction', async () => {
    const { batcher, calls, open } = recording();
    const items = Array.from({ length: MAX_BATCH + 3 }, (_, i) => `n${i}`);
    const all = Promise.all(items.map((item) => batcher.submit('notes', item)));
    open();
    await all;
    assert.deepEqual(
      calls.map((call) => call.length),
      [1, MAX_BATCH, 2],
    );
  });

  it('runs each create of a failed batch alone, so only the failing one fails', async () => {
    const { batcher, calls, open } = recording(refusedByDatabase);
    const first = batcher.submit('notes', 'a');
    const results = ['b', 'bad', 'c'].map((item) => batcher.submit('notes', item));
    open();
    await first;
    const settled = await Promise.allSettled(results);
    assert.deepEqual(
      settled.map((result) => result.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(calls, [['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('gives every create of a batch a failure that was not the database refusing it, without retrying', async () => {
    const { batcher, calls, open } = recording(connectionLost);
    const first = batcher.submit('notes', 'a');
    const results = ['b', 'c'].map((item) => batcher.submit('notes', item));
    open();
    await first;
    for (const result of await Promise.allSettled(results)) {
      assert.equal(result.status, 'rejected');
      assert.equal((result as PromiseRejectedResult).reason, connectionLost);
    }
    assert.deepEqual(calls, [['a'], ['b', 'c']]);
  });
});
