/**
 * Counts running handlers of one consumer so it never runs more than `limit` at once, and lets
 * `stop()` wait for the ones still running.
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private freed: (() => void) | undefined;

  constructor(readonly limit: number) {}

  get free(): number {
    return this.limit - this.running.size;
  }

  /** `task` must not reject: it settles its own message and logs its own errors. */
  start(task: () => Promise<void>): void {
    if (this.free <= 0) throw new Error('InFlight.start called with no free slot');
    // The catch is a backstop: a bug in a task must not become an unhandled rejection that kills the process.
    const running: Promise<void> = task()
      .catch(() => undefined)
      .finally(() => {
        this.running.delete(running);
        this.release();
      });
    this.running.add(running);
  }

  /** Resolves when a slot is free, or when `release()` is called (on stop). */
  async whenFree(): Promise<void> {
    if (this.free > 0) return;
    await new Promise<void>((resolve) => (this.freed = resolve));
  }

  release(): void {
    const freed = this.freed;
    this.freed = undefined;
    freed?.();
  }

  async drained(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
