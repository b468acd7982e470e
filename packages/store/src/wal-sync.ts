import { open, type FileHandle } from 'node:fs/promises';

/**
 * Group commit for SQLite in WAL mode with `synchronous=NORMAL`: COMMIT writes the transaction's
 * frames to the WAL without waiting for the disk, and `sync()` makes them durable by fsyncing the
 * WAL file on the thread pool, off the event loop. One fsync covers every commit that finished
 * before it began, so concurrent transactions share it; a commit that lands while an fsync runs
 * waits for the next one. Callers answer only after `sync()`, so an acknowledged write survives a
 * power cut exactly as with `synchronous=FULL`, without each COMMIT blocking the event loop.
 */
export function createWalSync(walFile: string, onSynced: (ms: number) => void) {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  // After a failed fsync the kernel may have dropped the dirty pages and marked them clean, so a
  // later fsync would succeed without the lost frames: no later write may be called durable.
  let failure: Error | undefined;
  let closed = false;

  // Kept open: SQLite deletes the WAL only when the last connection closes, and the store's own
  // connection stays open until close(), after which nothing syncs.
  let handle: FileHandle | undefined;

  async function fsyncOnce(): Promise<void> {
    if (failure) throw failure;
    if (closed) return;
    const startedAt = performance.now();
    if (!handle) {
      handle = await open(walFile, 'r').catch((error: NodeJS.ErrnoException) => {
        // No WAL file yet: nothing has been written.
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!handle) return;
    }
    try {
      await handle.datasync();
    } catch (error) {
      failure = new Error(`fsync of the SQLite WAL failed; writes can no longer be made durable`, {
        cause: error,
      });
      throw failure;
    }
    onSynced(performance.now() - startedAt);
  }

  function sync(): Promise<void> {
    if (!running) {
      running = fsyncOnce().finally(() => {
        running = undefined;
      });
      return running;
    }
    const next = () => {
      queued = undefined;
      return sync();
    };
    queued ??= running.then(next, next);
    return queued;
  }

  return {
    sync,
    /**
     * Resolves once every commit made so far is durable, joining the fsync already due rather
     * than starting one: a read waits here so it never reports a write a power cut could undo.
     */
    whenSynced(): Promise<void> {
      if (failure) return Promise.reject(failure);
      return queued ?? running ?? Promise.resolve();
    },
    /** The fsync failure that stopped durability, for readiness checks. */
    get failure(): Error | undefined {
      return failure;
    },
    async close() {
      closed = true;
      await Promise.allSettled([running, queued]);
      await handle?.close().catch(() => undefined);
      handle = undefined;
    },
  };
}
