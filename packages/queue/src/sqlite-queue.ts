import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Telemetry } from '@tern/telemetry';
import { runtimeErrors } from '@tern/errors';
import { createWalSync } from '@tern/store';
import type { Consumer, ConsumeOptions, MessageHandler, PublishOptions, PublishResult, Queue } from './queue';
import { DEFAULT_DEAD_LETTER_LIMIT } from './queue-limits';
import {
  assertTopic,
  preparePublish,
  resolveConsumeOptions,
  type PreparedPublish,
  type ResolvedConsumeOptions,
} from './queue-input';
import { queueErrors } from './queue-errors';
import { createQueueMetrics, type QueueMetrics } from './queue-metrics';
import { InFlight } from './in-flight';
import { runDelivery } from './run-delivery';
import { openSqliteQueueStore, type SqliteQueueStore } from './sqlite-queue-store';

export interface SqliteQueueConfig {
  /** Its own database file (the runtime passes `$TERN_DATA_DIR/queue.db`). */
  file: string;
}

// Other processes sharing the file can only be noticed by polling; a local publish wakes at once.
const POLL_MIN_MS = 25;
const POLL_MAX_MS = 250;
const SWEEP_INTERVAL_MS = 60_000;

/** The embedded queue: one SQLite file, shared safely by every process that opens it. */
export async function createSqliteQueue(config: SqliteQueueConfig, telemetry: Telemetry): Promise<Queue> {
  const log = telemetry.log.child({ component: 'queue', queue: 'sqlite' });
  const store = openSqliteQueueStore(config.file);
  // A publish answers once its WAL frames are on disk, fsynced off the event loop and shared by
  // concurrent publishes, rather than blocking every COMMIT as synchronous=FULL would. Other
  // writes (claims, acks) become durable with the next fsync; one lost to a power cut only means
  // a redelivery, which at-least-once consumers tolerate.
  const walSync = createWalSync(`${config.file}-wal`, () => undefined);
  // Publishes made in one turn of the event loop (an outbox relay's batch) share one transaction
  // and one fsync: better-sqlite3 runs each transaction on the event loop, so one per message
  // cost 12 % of a process's CPU under a create load.
  const publishes = createPublishBatch(store, walSync);
  const metrics = createQueueMetrics(telemetry, 'sqlite');
  const consumers = new Set<SqliteConsumer>();
  let closed = false;

  const sweep = () => {
    try {
      store.sweep();
    } catch (error) {
      log.error({ err: error }, 'queue sweep failed');
    }
  };
  sweep();
  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
  sweeper.unref();

  return {
    kind: 'sqlite',
    async publish(topic: string, payload: unknown, options: PublishOptions = {}) {
      if (closed) throw queueErrors.closed();
      const prepared = preparePublish(topic, payload, options);
      const result = await publishes.add({ topic, prepared });
      if (!result.duplicate) {
        metrics.published(topic);
        for (const consumer of consumers) if (consumer.topic === topic) consumer.wake();
      }
      return result;
    },
    async consume<T>(topic: string, handler: MessageHandler<T>, options: ConsumeOptions): Promise<Consumer> {
      if (closed) throw queueErrors.closed();
      assertTopic(topic);
      const resolved = resolveConsumeOptions(options);
      store.joinGroup(topic, resolved.group);
      const consumer = new SqliteConsumer({
        store,
        topic,
        handler: handler as MessageHandler<unknown>,
        options: resolved,
        metrics,
        log,
      });
      consumers.add(consumer);
      return {
        async stop() {
          await consumer.stop();
          consumers.delete(consumer);
        },
      };
    },
    async deadLetters(topic: string, limit = DEFAULT_DEAD_LETTER_LIMIT) {
      if (closed) throw queueErrors.closed();
      assertTopic(topic);
      return store.deadLetters(topic, limit);
    },
    async ping() {
      if (closed) throw queueErrors.closed();
      if (walSync.failure) throw walSync.failure;
      store.ping();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
      consumers.clear();
      await walSync.close();
      store.close();
    },
  };
}

interface SqliteConsumerDeps {
  store: SqliteQueueStore;
  topic: string;
  handler: MessageHandler<unknown>;
  options: ResolvedConsumeOptions;
  metrics: QueueMetrics;
  log: Logger;
}

/** Claims as many due messages as it has free handler slots, polling when there are none. */
class SqliteConsumer {
  readonly topic: string;
  private readonly inFlight: InFlight;
  private readonly loop: Promise<void>;
  private stopping = false;
  private wakeUp = new AbortController();

  constructor(private readonly deps: SqliteConsumerDeps) {
    this.topic = deps.topic;
    this.inFlight = new InFlight(deps.options.concurrency);
    this.loop = this.poll();
  }

  wake(): void {
    this.wakeUp.abort();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    this.inFlight.release();
    await this.loop;
    await this.inFlight.drained();
  }

  private async poll(): Promise<void> {
    let idleMs = POLL_MIN_MS;
    while (!this.stopping) {
      await this.inFlight.whenFree();
      if (this.stopping) break;
      // A fresh controller before claiming: a publish landing during the claim still wakes the next wait.
      this.wakeUp = new AbortController();
      let claimed = 0;
      try {
        claimed = this.claimAndStart();
      } catch (error) {
        // SQLITE_BUSY past busy_timeout, say; the next poll tries again.
        this.deps.log.error(
          { err: error, topic: this.topic, group: this.deps.options.group },
          'queue claim failed',
        );
      }
      if (claimed > 0) {
        idleMs = POLL_MIN_MS;
        continue;
      }
      await sleep(idleMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
      idleMs = this.wakeUp.signal.aborted ? POLL_MIN_MS : Math.min(POLL_MAX_MS, idleMs * 2);
    }
  }

  private claimAndStart(): number {
    const { topic, options, store, handler, metrics, log } = this.deps;
    const claimed = store.claim(topic, options.group, this.inFlight.free, options.ackWaitMs);
    for (const { seq, message } of claimed) {
      const key = { topic, group: options.group, seq, deliveries: message.deliveries };
      this.inFlight.start(() =>
        runDelivery({
          message,
          handler,
          options,
          metrics,
          log,
          settle: {
            ack: async () => store.ack(key),
            retry: async (error, delayMs) => {
              store.retry({ ...key, error, delayMs });
              // Retry on time rather than at the next idle poll, which may be 250 ms late.
              setTimeout(() => this.wake(), delayMs).unref();
            },
            deadLetter: async (error) => store.deadLetter({ ...key, error }),
          },
        }),
      );
    }
    return claimed.length;
  }
}

type PendingPublish = {
  item: { topic: string; prepared: PreparedPublish };
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
};

/** Collects the publishes of one event-loop turn and stores them in one transaction, then one fsync. */
function createPublishBatch(store: SqliteQueueStore, walSync: ReturnType<typeof createWalSync>) {
  let pending: PendingPublish[] = [];
  async function flush(batch: PendingPublish[]): Promise<void> {
    try {
      const results = store.publishMany(batch.map((entry) => entry.item));
      await walSync.sync();
      batch.forEach((entry, index) => entry.resolve(results[index] as PublishResult));
    } catch (error) {
      // SQLITE_BUSY past busy_timeout, a full disk: nothing was stored, and a retry may succeed.
      // A failed fsync: the messages may be stored but not durable; a retry with a dedup id is safe.
      const failure = runtimeErrors.dependencyUnavailable('queue', error);
      for (const entry of batch) entry.reject(failure);
    }
  }
  return {
    add(item: PendingPublish['item']): Promise<PublishResult> {
      return new Promise((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (pending.length > 1) return;
        queueMicrotask(() => {
          const batch = pending;
          pending = [];
          void flush(batch);
        });
      });
    },
  };
}
