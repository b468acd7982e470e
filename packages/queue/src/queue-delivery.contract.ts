import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@tern/testing';
import type { QueueMessage } from './queue';
import { isTernError } from '@tern/errors';
import { isCode, TIMEOUT, topicName, type ContractContext } from './queue-contract-kit';

/** Publishing, delivery and fan-out: what a healthy queue does. (`void`: see queue.contract.ts.) */
export function deliveryCases({ withQueue, second }: ContractContext): void {
  void test(
    'a published message is delivered to a consumer with its id, topic and first delivery',
    TIMEOUT,
    () =>
      withQueue(async ({ queue, metrics }) => {
        const topic = topicName();
        const before = Date.now();
        const published = await queue.publish(topic, { hello: 'world' });
        assert.equal(published.duplicate, false);
        const received: QueueMessage[] = [];
        const consumer = await queue.consume(
          topic,
          async (m) => {
            received.push(m);
          },
          { group: 'g' },
        );
        const [message] = await waitFor(() => received.length === 1 && received, { what: 'delivery' });
        await consumer.stop();
        assert.ok(message);
        assert.equal(message.id, published.id);
        assert.equal(message.topic, topic);
        assert.deepEqual(message.payload, { hello: 'world' });
        assert.equal(message.deliveries, 1);
        assert.ok(
          message.publishedAt.getTime() >= before - 1000 && message.publishedAt.getTime() <= Date.now(),
        );
        if (metrics) {
          const text = await metrics.metrics();
          assert.match(
            text,
            new RegExp(`tern_queue_published_total\\{queue="${queue.kind}",topic="${topic}"\\} 1`),
          );
          assert.match(
            text,
            new RegExp(
              `tern_queue_processed_total\\{queue="${queue.kind}",topic="${topic}",result="ack"\\} 1`,
            ),
          );
        }
      }),
  );

  void test('payloads and headers round-trip unchanged', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      const payloads: unknown[] = [
        { nested: { list: [1, 'two', null, true], unicode: 'žluťoučký 🐦' }, n: 1.5 },
        'a plain string',
        42,
        null,
      ];
      const headers = { 'x-trace-id': 'abc-123', 'Content-Kind': 'text/plain; charset=utf-8' };
      for (const payload of payloads) await queue.publish(topic, payload, { headers });
      const received: QueueMessage[] = [];
      const consumer = await queue.consume(
        topic,
        async (m) => {
          received.push(m);
        },
        { group: 'g' },
      );
      await waitFor(() => received.length === payloads.length, { what: 'all deliveries' });
      await consumer.stop();
      assert.deepEqual(
        new Set(received.map((m) => JSON.stringify(m.payload))),
        new Set(payloads.map((p) => JSON.stringify(p))),
      );
      for (const message of received) assert.deepEqual(message.headers, headers);
    }),
  );

  void test('a republish with the same dedup id is reported duplicate and delivered once', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      const first = await queue.publish(topic, { n: 1 }, { dedupId: 'order-1' });
      const again = await queue.publish(topic, { n: 2 }, { dedupId: 'order-1' });
      const other = await queue.publish(topic, { n: 3 }, { dedupId: 'order-2' });
      assert.deepEqual(first, { id: 'order-1', duplicate: false });
      assert.deepEqual(again, { id: 'order-1', duplicate: true });
      assert.deepEqual(other, { id: 'order-2', duplicate: false });
      const received: unknown[] = [];
      const consumer = await queue.consume(
        topic,
        async (m) => {
          received.push(m.payload);
        },
        { group: 'g' },
      );
      await waitFor(() => received.length >= 2, { what: 'deliveries' });
      await sleep(300);
      await consumer.stop();
      assert.deepEqual(
        received.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        [{ n: 1 }, { n: 3 }],
      );
    }),
  );

  void test(
    'dedup ids are unique per queue across topics; ids that include the topic do not collide',
    TIMEOUT,
    () =>
      withQueue(async ({ queue }) => {
        const paid = topicName();
        const shipped = topicName();
        assert.deepEqual(await queue.publish(paid, 'paid', { dedupId: 'o_1' }), {
          id: 'o_1',
          duplicate: false,
        });
        // The same id on another topic is the same message as far as dedup goes: dropped.
        assert.deepEqual(await queue.publish(shipped, 'shipped', { dedupId: 'o_1' }), {
          id: 'o_1',
          duplicate: true,
        });
        assert.deepEqual(await queue.publish(shipped, 'shipped', { dedupId: `${shipped}:o_1` }), {
          id: `${shipped}:o_1`,
          duplicate: false,
        });
        const received: unknown[] = [];
        const consumer = await queue.consume(
          shipped,
          async (m) => {
            received.push(m.id);
          },
          { group: 'g' },
        );
        await waitFor(() => received.length >= 1, { what: 'the topic-qualified message' });
        await sleep(300);
        await consumer.stop();
        assert.deepEqual(received, [`${shipped}:o_1`]);
      }),
  );

  void test('competing consumers of one group split the messages and process each once', TIMEOUT, () =>
    withQueue(async (opened) => {
      const topic = topicName();
      const other = await second(opened);
      const seen = new Map<string, string>();
      const duplicates: string[] = [];
      const handler = (who: string) => async (m: QueueMessage) => {
        if (seen.has(m.id)) duplicates.push(m.id);
        seen.set(m.id, who);
        // Slow enough that one consumer cannot drain the 40 before the other's next poll.
        await sleep(25);
      };
      const options = { group: 'workers', concurrency: 2, ackWaitMs: 5_000 };
      const a = await opened.queue.consume(topic, handler('a'), options);
      const b = await other.consume(topic, handler('b'), options);
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) ids.add((await opened.queue.publish(topic, { i })).id);
      await waitFor(() => seen.size === ids.size, { what: 'all 40 processed' });
      await sleep(200);
      await Promise.all([a.stop(), b.stop()]);
      assert.deepEqual(duplicates, []);
      assert.deepEqual(new Set(seen.keys()), ids);
      const byA = [...seen.values()].filter((who) => who === 'a').length;
      assert.ok(byA > 0 && byA < ids.size, `both consumers take work (a took ${byA} of ${ids.size})`);
    }),
  );

  void test('each group receives every message', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      const byGroup = { billing: [] as unknown[], email: [] as unknown[] };
      const consumers = await Promise.all(
        (['billing', 'email'] as const).map((group) =>
          queue.consume(
            topic,
            async (m) => {
              byGroup[group].push(m.payload);
            },
            { group },
          ),
        ),
      );
      for (let i = 0; i < 10; i++) await queue.publish(topic, i);
      await waitFor(() => byGroup.billing.length === 10 && byGroup.email.length === 10, {
        what: 'both groups',
      });
      await Promise.all(consumers.map((c) => c.stop()));
      const sorted = (list: unknown[]) => [...list].sort((x, y) => Number(x) - Number(y));
      assert.deepEqual(sorted(byGroup.billing), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(sorted(byGroup.email), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }),
  );

  void test(
    'a group created after publishing still receives the retained messages (deliver-all)',
    TIMEOUT,
    () =>
      withQueue(async ({ queue }) => {
        const topic = topicName();
        await queue.publish(topic, 'early');
        const received: unknown[] = [];
        const consumer = await queue.consume(
          topic,
          async (m) => {
            received.push(m.payload);
          },
          { group: 'late' },
        );
        await waitFor(() => received.length === 1, { what: 'the early message' });
        await consumer.stop();
        assert.deepEqual(received, ['early']);
      }),
  );

  void test('an invalid topic is rejected on publish and consume with queue/invalid-topic', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      for (const topic of [
        '',
        'Orders',
        'orders.',
        '.orders',
        'orders..paid',
        'orders paid',
        'orders.*',
        'orders.>',
      ]) {
        await assert.rejects(queue.publish(topic, 1), (error: unknown) => {
          assert.ok(isCode('queue/invalid-topic')(error), `publish to ${JSON.stringify(topic)}`);
          assert.equal(isTernError(error) && error.status, 400);
          return true;
        });
        await assert.rejects(
          queue.consume(topic, async () => undefined, { group: 'g' }),
          isCode('queue/invalid-topic'),
        );
      }
      await queue.publish('orders.paid_v2.eu-west', 1);
    }),
  );

  void test('reserved headers, bad dedup ids and bad consume options are rejected alike', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      for (const name of ['Nats-Msg-Id', 'tern-group', 'bad name', 'colon:name']) {
        await assert.rejects(
          queue.publish(topic, 1, { headers: { [name]: 'x' } }),
          isCode('queue/invalid-header'),
        );
      }
      await assert.rejects(
        queue.publish(topic, 1, { headers: { ok: 'two\nlines' } }),
        isCode('queue/invalid-header'),
      );
      await assert.rejects(queue.publish(topic, 1, { dedupId: '' }), isCode('queue/invalid-dedup-id'));
      await assert.rejects(queue.publish(topic, 1n), isCode('queue/invalid-payload'));
      for (const options of [{ group: '' }, { group: 'g', concurrency: 0 }, { group: 'g', ackWaitMs: 10 }]) {
        await assert.rejects(
          queue.consume(topic, async () => undefined, options),
          isCode('queue/invalid-options'),
        );
      }
    }),
  );
}
