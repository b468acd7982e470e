import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from '@tern/queue';
import type { Store } from '@tern/store';
import { counter, Gauge, type Telemetry } from '@tern/telemetry';

export interface OutboxRelayOptions {
  store: Store;
  queue: Queue;
  telemetry: Telemetry;
  /** Names this relay in claims, so a slow relay cannot mark another's rows sent. */
  relayId: string;
  batchSize?: number;
  /** A claimed row not marked sent within this time may be claimed by another relay. */
  leaseMs?: number;
  idlePollMs?: number;
  /** Sent rows are deleted after this long. */
  retainSentMs?: number;
}

export interface OutboxRelay {
  start(): void;
  /** Publishes what is pending now; returns how many were published. */
  flush(): Promise<number>;
  /** Finishes the batch in hand and stops. */
  stop(): Promise<void>;
}

interface ClaimedRow {
  id: number | string;
  event_id: string;
  topic: string;
  payload: string;
  headers: string;
}

/**
 * Publishes committed outbox rows to the queue. Several relays (one per process) may run against
 * one database: each claims a batch under a lease (on PostgreSQL with SKIP LOCKED), publishes it
 * with the event id as dedup id, and marks it sent. A crash between publish and mark only causes
 * a republish, which the queue's dedup window drops and idempotent consumers tolerate.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { store, queue, relayId } = options;
  const batchSize = options.batchSize ?? 100;
  const leaseMs = options.leaseMs ?? 30_000;
  const idlePollMs = options.idlePollMs ?? 200;
  const retainSentMs = options.retainSentMs ?? 60 * 60 * 1000;
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
    'Outbox publish failures.',
    [],
  );
  if (!options.telemetry.metrics.getSingleMetric('tern_outbox_pending')) {
    // Counted at scrape time, not on every relay cycle.
    new Gauge({
      name: 'tern_outbox_pending',
      help: 'Outbox events not yet published.',
      registers: [options.telemetry.metrics],
      async collect() {
        const rows = await store
          .query<{ n: number | string }>('SELECT count(*) AS n FROM tern_outbox WHERE sent_at IS NULL')
          .catch(() => []);
        this.set(Number(rows[0]?.n ?? 0));
      },
    });
  }

  let running = false;
  let loop: Promise<void> | undefined;
  const stopController = new AbortController();
  let lastSweep = 0;

  const skipLocked = store.kind === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
  const claimSql = `UPDATE tern_outbox SET claimed_by = $1, claimed_until = $2
    WHERE id IN (SELECT id FROM tern_outbox
                 WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
                 ORDER BY id LIMIT $4 ${skipLocked})
    RETURNING id, event_id, topic, payload, headers`;

  /** Claims and publishes one batch; `claimed` 0 means nothing was claimable. */
  async function publishBatch(): Promise<{ claimed: number; published: number }> {
    const now = Date.now();
    const rows = await store.query<ClaimedRow & Record<string, unknown>>(claimSql, [
      relayId,
      now + leaseMs,
      now,
      batchSize,
    ]);
    let count = 0;
    for (const row of rows.sort((a, b) => Number(a.id) - Number(b.id))) {
      try {
        await queue.publish(row.topic, JSON.parse(row.payload) as unknown, {
          dedupId: row.event_id,
          headers: JSON.parse(row.headers) as Record<string, string>,
        });
      } catch (error) {
        // Leave the row claimed: its lease expires and a relay retries it later.
        failures.inc();
        log.warn(
          { err: error, eventId: row.event_id, topic: row.topic },
          'outbox publish failed; will retry',
        );
        break;
      }
      await store.execute('UPDATE tern_outbox SET sent_at = $1 WHERE id = $2 AND claimed_by = $3', [
        Date.now(),
        Number(row.id),
        relayId,
      ]);
      published.inc();
      count++;
    }
    if (Date.now() - lastSweep > 60_000) {
      lastSweep = Date.now();
      await store.execute('DELETE FROM tern_outbox WHERE sent_at IS NOT NULL AND sent_at < $1', [
        Date.now() - retainSentMs,
      ]);
    }
    return { claimed: rows.length, published: count };
  }

  async function run(): Promise<void> {
    let backoffMs = idlePollMs;
    while (running) {
      try {
        const { claimed, published } = await publishBatch();
        backoffMs = idlePollMs;
        if (claimed === batchSize && published === claimed) continue;
      } catch (error) {
        log.warn({ err: error }, 'outbox relay cycle failed');
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
      await sleep(backoffMs, undefined, { signal: stopController.signal }).catch(() => undefined);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
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
