import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@tern/testing';
import type { QueueMessage } from './queue';
import {
  ACK_WAIT_MS,
  isCode,
  MAX_DELIVERIES,
  TIMEOUT,
  topicName,
  type ContractContext,
} from './queue-contract-kit';

/** Failures, timeouts, limits and shutdown. (`void`: see queue.contract.ts.) */
export function failureCases({ withQueue, second }: ContractContext): void {
  void test(
    'a failing handler is retried with growing delays, then dead-lettered with every error',
    TIMEOUT,
    () =>
      withQueue(async ({ queue }) => {
        const topic = topicName();
        const attempts: { at: number; deliveries: number }[] = [];
        const consumer = await queue.consume(
          topic,
          async (m) => {
            attempts.push({ at: performance.now(), deliveries: m.deliveries });
            throw new Error(`boom ${m.deliveries}`);
          },
          { group: 'g', ackWaitMs: ACK_WAIT_MS * 5, maxDeliveries: MAX_DELIVERIES },
        );
        const published = await queue.publish(topic, { order: 7 }, { headers: { 'x-kind': 'order' } });
        const [dead] = await waitFor(
          async () => {
            const letters = await queue.deadLetters(topic);
            return letters.length === 1 && letters;
          },
          { what: 'a dead letter' },
        );
        await sleep(400);
        await consumer.stop();
        assert.deepEqual(
          attempts.map((a) => a.deliveries),
          [1, 2, 3],
        );
        const [first, secondTry, third] = attempts.map((a) => a.at);
        // Backoff floors: half of 200 ms · 2^(n-1), minus scheduling slack.
        assert.ok(secondTry! - first! >= 90, `first retry waited ${secondTry! - first!} ms`);
        assert.ok(third! - secondTry! >= 190, `second retry waited ${third! - secondTry!} ms`);
        assert.ok(dead);
        assert.deepEqual(dead.errors, ['boom 1', 'boom 2', 'boom 3']);
        assert.equal(dead.group, 'g');
        assert.equal(dead.message.id, published.id);
        assert.equal(dead.message.topic, topic);
        assert.deepEqual(dead.message.payload, { order: 7 });
        assert.deepEqual(dead.message.headers, { 'x-kind': 'order' });
        assert.equal(dead.message.deliveries, 3);
        assert.ok(dead.deadAt instanceof Date && !Number.isNaN(dead.deadAt.getTime()));
      }),
  );

  void test('a delivery not acked within ackWait goes to another consumer of the group', TIMEOUT, () =>
    withQueue(async (opened) => {
      const topic = topicName();
      const other = await second(opened);
      const deliveries: { who: string; deliveries: number }[] = [];
      let release: () => void = () => undefined;
      const hung = new Promise<void>((resolve) => (release = resolve));
      const handler = (who: string) => async (m: QueueMessage) => {
        deliveries.push({ who, deliveries: m.deliveries });
        if (m.deliveries === 1) await hung;
      };
      const options = { group: 'g', ackWaitMs: ACK_WAIT_MS, maxDeliveries: MAX_DELIVERIES };
      const a = await opened.queue.consume(topic, handler('a'), options);
      const b = await other.consume(topic, handler('b'), options);
      await opened.queue.publish(topic, 'slow');
      await waitFor(() => deliveries.length === 2, { what: 'a redelivery' });
      release();
      await Promise.all([a.stop(), b.stop()]);
      const [first, redelivery] = deliveries;
      assert.equal(first?.deliveries, 1);
      assert.equal(redelivery?.deliveries, 2);
      assert.notEqual(
        redelivery?.who,
        first?.who,
        'the hung consumer has no free slot, so the other one gets it',
      );
    }),
  );

  void test(
    'a message never acked within maxDeliveries is dead-lettered without running the handler again',
    TIMEOUT,
    () =>
      withQueue(async ({ queue }) => {
        const topic = topicName();
        let calls = 0;
        let release: () => void = () => undefined;
        const hung = new Promise<void>((resolve) => (release = resolve));
        const consumer = await queue.consume(
          topic,
          async () => {
            calls++;
            await hung;
          },
          { group: 'g', concurrency: 2, ackWaitMs: ACK_WAIT_MS, maxDeliveries: 1 },
        );
        await queue.publish(topic, 'stuck');
        const [dead] = await waitFor(
          async () => {
            const letters = await queue.deadLetters(topic);
            return letters.length === 1 && letters;
          },
          { what: 'a dead letter' },
        );
        release();
        await consumer.stop();
        assert.equal(calls, 1);
        assert.deepEqual(dead?.errors, [`delivery 1 not acknowledged within ${ACK_WAIT_MS} ms`]);
      }),
  );

  void test('no more than `concurrency` handlers run at once', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      for (let i = 0; i < 12; i++) await queue.publish(topic, i);
      let running = 0;
      let most = 0;
      let done = 0;
      const consumer = await queue.consume(
        topic,
        async () => {
          most = Math.max(most, ++running);
          await sleep(40);
          running--;
          done++;
        },
        { group: 'g', concurrency: 3 },
      );
      await waitFor(() => done === 12, { what: 'all 12 handled' });
      await consumer.stop();
      assert.equal(most, 3);
    }),
  );

  void test('stop() waits for the running handler and takes no new messages', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      let started = 0;
      let finished = 0;
      const consumer = await queue.consume(
        topic,
        async () => {
          started++;
          await sleep(300);
          finished++;
        },
        { group: 'g' },
      );
      await queue.publish(topic, 1);
      await waitFor(() => started === 1, { what: 'the handler to start' });
      await consumer.stop();
      assert.equal(finished, 1);
      await queue.publish(topic, 2);
      await sleep(300);
      assert.equal(started, 1);
    }),
  );

  void test('close() drains running handlers, then publish rejects with queue/closed', TIMEOUT, () =>
    withQueue(async ({ queue }) => {
      const topic = topicName();
      let started = 0;
      let finished = 0;
      const handler = async () => {
        started++;
        await sleep(200);
        finished++;
      };
      await queue.consume(topic, handler, { group: 'g' });
      await queue.publish(topic, 1);
      await waitFor(() => started === 1, { what: 'the handler to start' });
      await queue.close();
      assert.equal(finished, 1);
      await assert.rejects(queue.publish(topic, 2), isCode('queue/closed'));
      await queue.close();
    }),
  );
}
