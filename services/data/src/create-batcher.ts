/** The most creates one transaction takes; more waiting go in the next one. */
export const MAX_CREATE_BATCH = 32;

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for creates, per collection: a create that arrives while none of its collection's
 * is committing runs at once, alone; those that arrive meanwhile wait, then commit together in
 * one transaction (`many`, up to MAX_CREATE_BATCH), each getting its own answer. Under load this
 * turns a commit per document into a commit per batch. If the database refuses a batch (a unique
 * index refused one of its documents, say), each of its creates runs again alone (`one`), so an
 * error is only the failing document's, exactly as without batching; any other failure (the
 * connection, a timeout) goes to every create of the batch as it is.
 */
export function createCreateBatcher<T, R>(run: {
  one: (collection: string, item: T) => Promise<R>;
  many: (collection: string, items: T[]) => Promise<R[]>;
}) {
  const waiting = new Map<string, Waiting<T, R>[]>();

  async function drain(collection: string, queue: Waiting<T, R>[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_CREATE_BATCH);
      if (batch.length === 1) {
        const [alone] = batch as [Waiting<T, R>];
        await run.one(collection, alone.item).then(alone.resolve, alone.reject);
        continue;
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
          continue;
        }
        await Promise.all(
          batch.map((entry) => run.one(collection, entry.item).then(entry.resolve, entry.reject)),
        );
      }
    }
    waiting.delete(collection);
  }

  return {
    create(collection: string, item: T): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        const queue = waiting.get(collection);
        if (queue) {
          queue.push({ item, resolve, reject });
          return;
        }
        const started: Waiting<T, R>[] = [{ item, resolve, reject }];
        waiting.set(collection, started);
        void drain(collection, started);
      });
    },
  };
}

/** An error the database raised about a statement: it carries a five-character SQLSTATE. */
function raisedByDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}
