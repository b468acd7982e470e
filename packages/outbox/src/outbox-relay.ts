import type { Queue } from '@tern/queue';
import type { Store } from '@tern/store';
import { isTernError } from '@tern/errors';
import { counter, Gauge, summarizeError, type Telemetry } from '@tern/telemetry';

export interface OutboxRelayOptions {
  store: Store;
  queue: Queue;
  telemetry: Telemetry;
  /** Names this relay in claims, so a slow relay cannot mark another's rows sent. */
  relayId: string;
  batchSize?: number;
  /** A claimed row not marked sent within this time may be claimed by another relay. */
  leaseMs?: number;
  /** The longest wait between polls, reached when nothing has been pending for a while. */
  idlePollMs?: number;
  /** The wait after a poll that found events, doubling after each that found none. */
  busyPollMs?: number;
}

export interface OutboxRelay {
  start(): void;
  /** Publishes what is pending now; returns how many were published. */
  flush(): Promise<number>;
  /**
   * An event was just added in this process: an idle relay polls within `busyPollMs` instead of
   * the rest of its idle wait. Cheap; calls in one wait collapse into one.
   */
  nudge(): void;
  /** Finishes the batch in hand and stops. */
  stop(): Promise<void>;
}

interface ClaimedRow {
  id: number | string;
  event_id: string;
  topic: string;
  payload: string;
  headers: string;
  attempts: number | string;
}

/**
 * Publishes committed outbox rows to the queue. Several relays (one per process) may run against
 * one database: each claims a batch under a lease (on PostgreSQL with SKIP LOCKED), publishes it
 * with the event id as dedup id, and deletes it. A crash between publish and delete only causes
 * a republish, which the queue's dedup window drops and idempotent consumers tolerate.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { store, queue, relayId } = options;
  const batchSize = options.batchSize ?? 100;
  const leaseMs = options.leaseMs ?? 30_000;
  const idlePollMs = options.idlePollMs ?? 200;
  const busyPollMs = Math.min(options.busyPollMs ?? 5, idlePollMs);
  const log = options.telemetry.log.child({ component: 'outbox-relay' });
  const published = counter(
    options.telemetry.metrics,
    'tern_outbox_published_total',
    'Outbox events published.',
    [],
  );
  const failures = counter(
    options.telemetry.metrics,
    'tern_outbox_publish_errors_total',
    'Outbox publish failures, transient (retried) or permanent (parked).',
    ['kind'],
  );
  if (!options.telemetry.metrics.getSingleMetric('tern_outbox_pending')) {
    // Counted at scrape time, not on every relay cycle.
    new Gauge({
      name: 'tern_outbox_pending',
      help: 'Outbox events not yet published.',
      registers: [options.telemetry.metrics],
      async collect() {
        const rows = await store
          .query<{ n: number | string }>('SELECT count(*) AS n FROM tern_outbox WHERE failed_at IS NULL')
          .catch(() => []);
        this.set(Number(rows[0]?.n ?? 0));
      },
    });
  }

  let running = false;
  let loop: Promise<void> | undefined;
  const stopController = new AbortController();
  /** The wait in progress between polls: when it ends, and how to end it sooner. */
  let waiting: { until: number; reschedule(ms: number): void } | undefined;

  /** Waits `ms`, or less if nudged or stopped. */
  function pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout;
      const done = () => {
        clearTimeout(timer);
        waiting = undefined;
        stopController.signal.removeEventListener('abort', done);
        resolve();
      };
      waiting = {
        until: Date.now() + ms,
        reschedule(next) {
          clearTimeout(timer);
          timer = setTimeout(done, next);
          if (waiting) waiting.until = Date.now() + next;
        },
      };
      timer = setTimeout(done, ms);
      stopController.signal.addEventListener('abort', done, { once: true });
    });
  }

  // On PostgreSQL the claimed ids are taken first (ARRAY(…) is evaluated once) and the update then
  // looks each up by primary key, and published rows are deleted by an array of ids: written as
  // `id IN (subquery)` the planner, estimating the table nearly empty (as it is between bursts),
  // joined by scanning every row for each id, and under a burst's backlog the relay fell seconds
  // behind. SQLite plans `IN (subquery)` as a lookup.
  const pending = `SELECT id FROM tern_outbox
                 WHERE failed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
                 ORDER BY id LIMIT $4`;
  const claimSql =
    store.kind === 'postgres'
      ? `UPDATE tern_outbox SET claimed_by = $1, claimed_until = $2
         WHERE id = ANY(ARRAY(${pending} FOR UPDATE SKIP LOCKED))
         RETURNING id, event_id, topic, payload, headers, attempts`
      : `UPDATE tern_outbox SET claimed_by = $1, claimed_until = $2 WHERE id IN (${pending})
         RETURNING id, event_id, topic, payload, headers, attempts`;
  // The ids bound as one parameter (an array literal, a JSON array): one statement text for any number of rows.
  const deleteSentSql =
    store.kind === 'postgres'
      ? 'DELETE FROM tern_outbox WHERE claimed_by = $1 AND id = ANY($2::bigint[])'
      : 'DELETE FROM tern_outbox WHERE claimed_by = $1 AND id IN (SELECT value FROM json_each($2))';

  /** Hands claimed rows back in one statement, so the next cycle (of any relay) takes them. */
  async function release(rows: readonly ClaimedRow[]): Promise<void> {
    if (rows.length === 0) return;
    const ids = rows.map((row) => Number(row.id));
    const placeholders = ids.map((_, index) => `$${index + 2}`).join(', ');
    await store.execute(
      `UPDATE tern_outbox SET claimed_until = NULL WHERE claimed_by = $1 AND id IN (${placeholders})`,
      [relayId, ...ids],
    );
  }

  async function recordFailure(row: ClaimedRow, error: unknown, permanent: boolean): Promise<void> {
    failures.inc({ kind: permanent ? 'permanent' : 'transient' });
    const attempts = Number(row.attempts) + 1;
    const message = error instanceof Error ? error.message.slice(0, 500) : String(error);
    // A permanent refusal (the queue rejects the event itself) is parked for an operator; a
    // transient one (the queue is down) is retried with backoff for as long as it takes.
    const retryAt = Date.now() + Math.min(30_000, 500 * 2 ** Math.min(attempts, 6));
    await store.execute(
      `UPDATE tern_outbox SET attempts = $1, last_error = $2, claimed_until = $3, failed_at = $4
       WHERE id = $5 AND claimed_by = $6`,
      [attempts, message, retryAt, permanent ? Date.now() : null, Number(row.id), relayId],
    );
    log[permanent ? 'error' : 'warn'](
      { err: summarizeError(error), eventId: row.event_id, topic: row.topic, attempts },
      permanent ? 'outbox event refused by the queue; parked' : 'outbox publish failed; will retry',
    );
  }

  /** Claims and publishes one batch; `claimed` 0 means nothing was claimable. */
  async function publishBatch(): Promise<{ claimed: number; published: number }> {
    const claimedAt = Date.now();
    const rows = (
      await store.query<ClaimedRow & Record<string, unknown>>(claimSql, [
        relayId,
        claimedAt + leaseMs,
        claimedAt,
        batchSize,
      ])
    ).sort((a, b) => Number(a.id) - Number(b.id));
    const sent: number[] = [];
    let count: number;
    try {
      count = await publishRows(rows, claimedAt, (id) => sent.push(id));
    } finally {
      // Published rows are done with: deleted, one statement for the batch rather than one per row.
      if (sent.length > 0) {
        await store.execute(deleteSentSql, [
          relayId,
          store.kind === 'postgres' ? `{${sent.join(',')}}` : JSON.stringify(sent),
        ]);
      }
    }
    published.inc(count);
    return { claimed: rows.length, published: count };
  }

  /**
   * Publishes claimed rows, all started at once in id order, so a queue that makes each publish
   * durable (an fsync) can share that among them; `sent` hears of each one published. A row the
   * queue refuses is parked; of the rows that failed for now, the first is retried after a
   * backoff and the others are handed back; the rows that were taken count as published
   * (in order unless the queue failed some). Returns how many were.
   */
  async function publishRows(
    rows: readonly ClaimedRow[],
    claimedAt: number,
    sent: (id: number) => void,
  ): Promise<number> {
    // Start rows only with half the lease left, so no other relay can claim one mid-publish.
    if (Date.now() - claimedAt > leaseMs / 2) {
      await release(rows);
      return 0;
    }
    const outcomes = await Promise.allSettled(
      rows.map((row) =>
        queue.publish(row.topic, JSON.parse(row.payload) as unknown, {
          dedupId: row.event_id,
          headers: JSON.parse(row.headers) as Record<string, string>,
        }),
      ),
    );
    let count = 0;
    let retrying = false;
    const handBack: ClaimedRow[] = [];
    for (const [index, outcome] of outcomes.entries()) {
      const row = rows[index] as ClaimedRow;
      if (outcome.status === 'fulfilled') {
        sent(Number(row.id));
        count++;
        continue;
      }
      const error: unknown = outcome.reason;
      const permanent = isTernError(error) && error.status < 500;
      // The queue is likely down: the first such row waits out its backoff, the others are
      // handed back at once, their attempt not counted.
      if (!permanent && retrying) handBack.push(row);
      else await recordFailure(row, error, permanent);
      retrying ||= !permanent;
    }
    await release(handBack);
    return count;
  }

  /**
   * Polls at once while batches come full, soon after one that found events (so a steady flow
   * waits milliseconds, not a whole idle interval), and ever less often, doubling up to
   * `idlePollMs`, while nothing is pending.
   */
  async function run(): Promise<void> {
    let backoffMs = idlePollMs;
    while (running) {
      try {
        const { claimed, published } = await publishBatch();
        if (claimed === batchSize && published === claimed) continue;
        backoffMs = claimed > 0 ? busyPollMs : Math.min(idlePollMs, backoffMs * 2);
      } catch (error) {
        log.warn({ err: error }, 'outbox relay cycle failed');
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
      if (running) await pause(backoffMs);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    nudge() {
      if (waiting && waiting.until - Date.now() > busyPollMs) waiting.reschedule(busyPollMs);
    },
    async flush() {
      // Other relays may hold some rows (SKIP LOCKED): keep claiming until nothing is claimable.
      let total = 0;
      for (;;) {
        const { claimed, published } = await publishBatch();
        total += published;
        if (claimed === 0 || published < claimed) return total;
      }
    },
    async stop() {
      running = false;
      stopController.abort();
      await loop;
    },
  };
}
