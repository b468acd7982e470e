/**
 * A FIFO lock for async critical sections. `locked` lets a synchronous operation skip the queue
 * when nobody holds the lock, since nothing can interleave with it.
 */
export class AsyncMutex {
  #locked = false;
  readonly #waiters: (() => void)[] = [];

  get locked(): boolean {
    return this.#locked;
  }

  /** Resolves with the release function once the caller holds the lock. */
  async lock(): Promise<() => void> {
    if (this.#locked) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    else this.#locked = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Ownership passes straight to the next waiter, so no newcomer can slip in between.
      const next = this.#waiters.shift();
      if (next) next();
      else this.#locked = false;
    };
  }
}
