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

  // Kept open: SQLite deletes the WAL only when the last connection closes, and the store's own
  // connection stays open until close(), after which nothing syncs.
  let handle: FileHandle | undefined;

  async function fsyncOnce(): Promise<void> {
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
      await handle.close().catch(() => undefined);
      handle = undefined;
      throw error;
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
    queued ??= running.then(
      () => {
        queued = undefined;
        return sync();
      },
      () => {
        queued = undefined;
        return sync();
      },
    );
    return queued;
  }

  return {
    sync,
    async close() {
      await running?.catch(() => undefined);
      await handle?.close().catch(() => undefined);
      handle = undefined;
    },
  };
}
