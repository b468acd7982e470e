import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Queue, QueueMessage } from '@tern/queue';
import type { Store } from '@tern/store';
import type { Registry } from '@tern/telemetry';
import { quietTelemetry, uniqueName, waitFor } from '@tern/testing';
import { createOutbox, OUTBOX_MIGRATIONS } from './outbox';
import { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './outbox-relay';

export interface OutboxFixture {
  store: Store;
  queue: Queue;
  cleanup(): Promise<void>;
}

async function publishedCount(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('tern_outbox_published_total')?.get();
  return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
}

/** One suite for every store × queue pairing the runtime supports. */
export function runOutboxContract(name: string, open: () => Promise<OutboxFixture>): void {
  describe(`outbox contract: ${name}`, () => {
    let fixture: OutboxFixture;
    const outbox = createOutbox();
    const relays: OutboxRelay[] = [];

    /** A relay on the fixture's store and queue, with its own metrics to assert on. */
    function relayNamed(relayId: string, options: Partial<OutboxRelayOptions> = {}) {
      const telemetry = quietTelemetry(relayId);
      const relay = createOutboxRelay({
        store: fixture.store,
        queue: fixture.queue,
        telemetry,
        relayId,
        ...options,
      });
      return { relay, metrics: telemetry.metrics };
    }

    before(async () => {
      fixture = await open();
      await fixture.store.migrate('tern.outbox', OUTBOX_MIGRATIONS);
      await fixture.store.migrate('outbox-test', [
        { id: 1, name: 'items', sql: 'CREATE TABLE outbox_items (id TEXT PRIMARY KEY)' },
      ]);
    });
    after(async () => {
      await Promise.all(relays.map((relay) => relay.stop()));
      await fixture.cleanup();
    });

    async function collect(topic: string, group: string) {
      const seen: QueueMessage[] = [];
      const consumer = await fixture.queue.consume(topic, async (message) => void seen.push(message), {
        group,
        concurrency: 4,
      });
      return { seen, consumer };
    }

    it('publishes an event written in a committed transaction, with payload and headers', async () => {
      const topic = `items.created.${uniqueName('t').toLowerCase()}`;
      const { seen, consumer } = await collect(topic, 'g1');
      const [eventId] = await fixture.store.transaction(async (tx) => {
        await tx.execute('INSERT INTO outbox_items (id) VALUES ($1)', ['a1']);
        return outbox.add(tx, {
          topic,
          payload: { id: 'a1', tags: ['x'] },
          headers: { 'x-request-id': 'r-1' },
        });
      });
      const relay = relayNamed('r1', { idlePollMs: 20 }).relay;
      relays.push(relay);
      relay.start();
      await waitFor(() => seen.length === 1, { what: 'the event' });
      assert.equal(seen[0]?.id, eventId);
      assert.deepEqual(seen[0]?.payload, { id: 'a1', tags: ['x'] });
      assert.equal(seen[0]?.headers['x-request-id'], 'r-1');
      await waitFor(
        async () => {
          const [row] = await fixture.store.query<{ n: number }>(
            'SELECT count(*) AS n FROM tern_outbox WHERE event_id = $1',
            [eventId ?? ''],
          );
          return Number(row?.n) === 0;
        },
        { what: 'the published row deleted' },
      );
      await relay.stop();
      await consumer.stop();
    });

    it('publishes soon after an add when nudged, though its idle poll is a minute away', async () => {
      const topic = `items.nudged.${uniqueName('t').toLowerCase()}`;
      const { seen, consumer } = await collect(topic, 'g1');
      const relay = relayNamed('r-nudge', { idlePollMs: 60_000, busyPollMs: 5 }).relay;
      relays.push(relay);
      const nudging = createOutbox({ added: () => relay.nudge() });
      relay.start();
      // Let the relay find nothing and settle into a long wait.
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const id of ['n1', 'n2']) {
        await fixture.store.transaction(async (tx) => {
          await tx.execute('INSERT INTO outbox_items (id) VALUES ($1)', [`${topic}-${id}`]);
          return nudging.add(tx, { topic, payload: { id } });
        });
        await waitFor(() => seen.some((message) => (message.payload as { id: string }).id === id), {
          timeoutMs: 5_000,
          what: `event ${id}, published well before the idle poll`,
        });
        // Idle again (its wait doubling back up) before the next add.
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await relay.stop();
      await consumer.stop();
    });

    it('emits nothing for a rolled-back write, and rolls back the write when the event is invalid', async () => {
      const topic = `items.rolled.${uniqueName('t').toLowerCase()}`;
      const { seen, consumer } = await collect(topic, 'g1');
      await assert.rejects(
        fixture.store.transaction(async (tx) => {
          await tx.execute('INSERT INTO outbox_items (id) VALUES ($1)', ['rb1']);
          await outbox.add(tx, { topic, payload: { id: 'rb1' } });
          throw new Error('business rule failed');
        }),
        /business rule failed/,
      );
      await assert.rejects(
        fixture.store.transaction(async (tx) => {
          await tx.execute('INSERT INTO outbox_items (id) VALUES ($1)', ['rb2']);
          await outbox.add(tx, { topic: 'Not A Topic!', payload: {} });
        }),
        (error: unknown) => (error as { code?: string }).code === 'queue/invalid-topic',
      );
      await assert.rejects(
        fixture.store.transaction(async (tx) => {
          await tx.execute('INSERT INTO outbox_items (id) VALUES ($1)', ['rb3']);
          await outbox.add(tx, { topic, payload: {}, headers: { 'tern-reserved': 'x' } });
        }),
        (error: unknown) => (error as { code?: string }).code === 'queue/invalid-header',
      );
      const relay = relayNamed('r2').relay;
      await relay.flush();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(seen.length, 0);
      const rows = await fixture.store.query('SELECT id FROM outbox_items WHERE id IN ($1, $2)', [
        'rb1',
        'rb2',
      ]);
      assert.equal(rows.length, 0);
      await consumer.stop();
    });

    it('several relays racing publish every row exactly once between them', async () => {
      const topic = `items.raced.${uniqueName('t').toLowerCase()}`;
      // Drain what earlier tests left, so only this test's rows are counted.
      await relayNamed('pre').relay.flush();
      const { seen, consumer } = await collect(topic, 'g1');
      const total = 120;
      for (let batch = 0; batch < total / 20; batch++) {
        await fixture.store.transaction(async (tx) => {
          for (let index = 0; index < 20; index++)
            await outbox.add(tx, { topic, payload: { n: batch * 20 + index } });
        });
      }
      const racers = Array.from({ length: 4 }, (_, index) => relayNamed(`racer-${index}`, { batchSize: 7 }));
      await Promise.all(racers.map(({ relay }) => relay.flush()));
      const counts = await Promise.all(racers.map(({ metrics }) => publishedCount(metrics)));
      assert.equal(
        counts.reduce((sum, count) => sum + count, 0),
        total,
        `publishes per relay: ${counts.join(', ')}`,
      );
      await waitFor(() => seen.length >= total, { what: 'all raced events' });
      assert.deepEqual(
        [...new Set(seen.map((message) => (message.payload as { n: number }).n))].sort((a, b) => a - b),
        Array.from({ length: total }, (_, index) => index),
      );
      await consumer.stop();
    });

    it('parks a row the queue refuses and still publishes the rows around it', async () => {
      const topic = `items.parked.${uniqueName('t').toLowerCase()}`;
      const { seen, consumer } = await collect(topic, 'g1');
      const { relay, metrics } = relayNamed('parker');
      await relay.flush();
      await fixture.store.transaction((tx) => outbox.add(tx, { topic, payload: { n: 1 } }));
      // A row written by an older version that skipped the queue's checks.
      await fixture.store.execute(
        'INSERT INTO tern_outbox (event_id, topic, payload, headers, created_at) VALUES ($1, $2, $3, $4, $5)',
        ['bad-row', topic, '{"n":2}', '{"tern-reserved":"x"}', Date.now()],
      );
      await fixture.store.transaction((tx) => outbox.add(tx, { topic, payload: { n: 3 } }));
      await relay.flush();
      await waitFor(() => seen.length >= 2, { what: 'the good rows' });
      assert.deepEqual(seen.map((message) => (message.payload as { n: number }).n).sort(), [1, 3]);
      const [parked] = await fixture.store.query<{
        failed_at: unknown;
        last_error: string;
        attempts: number;
      }>('SELECT failed_at, last_error, attempts FROM tern_outbox WHERE event_id = $1', ['bad-row']);
      assert.ok(parked?.failed_at, 'the refused row is parked');
      assert.match(parked?.last_error ?? '', /header/i);
      assert.equal(Number(parked?.attempts), 1);
      assert.match(
        await metrics.metrics(),
        /tern_outbox_publish_errors_total\{[^}]*kind="permanent"[^}]*\} 1/,
      );
      await consumer.stop();
    });

    it('reports pending events through the tern_outbox_pending gauge', async () => {
      const { relay, metrics } = relayNamed('gauge');
      await relay.flush();
      await fixture.store.transaction((tx) =>
        outbox.add(tx, [
          { topic: 'items.pending', payload: 1 },
          { topic: 'items.pending', payload: 2 },
        ]),
      );
      assert.match(await metrics.metrics(), /tern_outbox_pending(\{[^}]*\})? 2\n/);
      await relay.flush();
      assert.match(await metrics.metrics(), /tern_outbox_pending(\{[^}]*\})? 0\n/);
    });
  });
}
