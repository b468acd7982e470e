/** The most items one transaction takes; more waiting go in the next one. */
export const MAX_BATCH = 32;

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * How many of one key's transactions may be committing at once. With one, the data service sat
 * idle for a third of the time under a create storm: every create waited for the batch ahead of
 * it to make its round trips. With two, the next batch is inserting while the last commits.
 */
export const BATCHES_IN_FLIGHT = 2;

/**
 * Group commit, per key (a collection, a table): an item that arrives while fewer than `inFlight`
 * of its key's transactions are running runs at once; those that arrive while all are busy wait,
 * then commit together in one transaction (`many`, up to MAX_BATCH), each getting its own answer.
 * Under load this turns a commit per item into a commit per batch. If the database refuses a
 * batch (a unique index refused one of its rows, say), each of its items runs again alone
 * (`one`), so an error is only the failing item's, exactly as without batching; any other failure
 * (the connection, a timeout) goes to every item of the batch as it is. Used by the data
 * service's creates and the jobs service's accepts.
 */
export function createBatcher<T, R>(
  run: {
    one: (collection: string, item: T) => Promise<R>;
    many: (collection: string, items: T[]) => Promise<R[]>;
  },
  inFlight = BATCHES_IN_FLIGHT,
) {
  const collections = new Map<string, { waiting: Waiting<T, R>[]; running: number }>();

  async function runBatch(collection: string, batch: Waiting<T, R>[]): Promise<void> {
    if (batch.length === 1) {
      const [alone] = batch as [Waiting<T, R>];
      await run.one(collection, alone.item).then(alone.resolve, alone.reject);
      return;
    }
    try {
      const results = await run.many(
        collection,
        batch.map((entry) => entry.item),
      );
      batch.forEach((entry, index) => entry.resolve(results[index] as R));
    } catch (error) {
      // Only the database's refusal of a statement (a unique index, say) is worth running each
      // create alone for. A lost connection or a timeout may have struck after COMMIT, so the
      // documents may exist: each caller gets the error (503, retryable with its
      // Idempotency-Key), and a failing database gets no 32-fold retry storm.
      if (!raisedByDatabase(error)) {
        for (const entry of batch) entry.reject(error);
        return;
      }
      await Promise.all(
        batch.map((entry) => run.one(collection, entry.item).then(entry.resolve, entry.reject)),
      );
    }
  }

  /** One of the collection's `inFlight` lanes: runs what waits, a batch at a time, until nothing does. */
  async function lane(collection: string, state: { waiting: Waiting<T, R>[]; running: number }) {
    while (state.waiting.length > 0) await runBatch(collection, state.waiting.splice(0, MAX_BATCH));
    state.running -= 1;
    if (state.running === 0) collections.delete(collection);
  }

  return {
    submit(collection: string, item: T): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        let state = collections.get(collection);
        if (!state) {
          state = { waiting: [], running: 0 };
          collections.set(collection, state);
        }
        state.waiting.push({ item, resolve, reject });
        if (state.running < inFlight) {
          state.running += 1;
          void lane(collection, state);
        }
      });
    },
  };
}

/** An error the database raised about a statement: it carries a five-character SQLSTATE. */
function raisedByDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}
