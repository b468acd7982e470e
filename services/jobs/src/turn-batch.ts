/**
 * Calls made in one event-loop turn, per key, run as one: `run` gets them all (up to `max`) once
 * the turn's I/O callbacks are done (`setImmediate`) and answers each in order. For statements
 * that many concurrent jobs make at once (claiming, settling): one round trip instead of one each.
 * A failure of the batch is every call's failure.
 */
export function turnBatch<T, R>(run: (key: string, items: T[]) => Promise<R[]>, max = 100) {
  const pending = new Map<
    string,
    { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[]
  >();

  function flush(): void {
    const batches = [...pending];
    pending.clear();
    for (const [key, calls] of batches) {
      for (let start = 0; start < calls.length; start += max) {
        const slice = calls.slice(start, start + max);
        run(
          key,
          slice.map((call) => call.item),
        ).then(
          (results) => slice.forEach((call, index) => call.resolve(results[index] as R)),
          (error: unknown) => slice.forEach((call) => call.reject(error)),
        );
      }
    }
  }

  return (key: string, item: T): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      if (pending.size === 0) setImmediate(flush);
      let calls = pending.get(key);
      if (!calls) {
        calls = [];
        pending.set(key, calls);
      }
      calls.push({ item, resolve, reject });
    });
}
