import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type JetStreamManager } from 'nats';
import { createLogger, Registry, type Telemetry } from '@tern/telemetry';
import { deleteNatsStreams, TEST_NATS_URL, uniqueName, waitFor } from '@tern/testing';
import { createNatsQueue, type Queue } from '@tern/queue';

interface LogLine {
  level: string;
  msg: string;
}

/** Telemetry whose log lines (warn and above) the test reads back. */
function capturingTelemetry(): { telemetry: Telemetry; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) };
  const log = createLogger({ level: 'warn', service: 'test', instance: 'test', destination });
  return { telemetry: { log, metrics: new Registry() }, lines };
}

/**
 * Opens a queue with one consumer that has already handled a first message, hands `body` the
 * server's JetStream manager to break things with, and checks the consumer still gets a message
 * published afterwards.
 */
async function withLiveConsumer(
  body: (jsm: JetStreamManager, stream: string, queue: Queue) => Promise<void>,
): Promise<LogLine[]> {
  const stream = uniqueName('TQREC').toUpperCase().replace(/-/g, '_');
  const topic = 'jobs.run';
  const { telemetry, lines } = capturingTelemetry();
  const queue = await createNatsQueue({ url: TEST_NATS_URL, stream }, telemetry);
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const received: unknown[] = [];
    const consumer = await queue.consume(
      topic,
      async (message) => {
        received.push(message.payload);
      },
      { group: 'g', ackWaitMs: 5_000 },
    );
    await queue.publish(topic, 'before');
    await waitFor(() => received.includes('before'), { what: 'the first message' });
    await body(await nc.jetstreamManager(), stream, queue);
    // Delivery must resume on its own: nobody calls consume() again.
    await waitFor(() => received.includes('after'), { timeoutMs: 10_000, what: 'delivery after the loss' });
    await consumer.stop();
    return lines;
  } finally {
    await queue.close();
    await nc.close();
    await deleteNatsStreams(stream);
  }
}

async function deleteConsumers(jsm: JetStreamManager, stream: string): Promise<void> {
  const names: string[] = [];
  for await (const info of jsm.consumers.list(stream)) names.push(info.name);
  assert.equal(names.length, 1);
  for (const name of names) await jsm.consumers.delete(stream, name);
}

// node:test runs what is registered; the returned promises only report completion.
void test(
  'a durable consumer deleted on the server is recreated and delivery resumes',
  { timeout: 30_000 },
  async () => {
    const lines = await withLiveConsumer(async (jsm, stream, queue) => {
      await deleteConsumers(jsm, stream);
      await queue.publish('jobs.run', 'after');
    });
    // One warning for the outage, not one per retry.
    const warnings = lines.filter((line) => line.level === 'warn');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0]!.msg, /consumer/);
  },
);

void test(
  'a stream deleted and recreated by someone else gets its consumer back',
  { timeout: 30_000 },
  async () => {
    await withLiveConsumer(async (jsm, stream, queue) => {
      await jsm.streams.delete(stream);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      await queue.publish('jobs.run', 'after');
    });
  },
);

void test(
  'a deleted stream is recreated by its consumer, so publishing works again',
  { timeout: 30_000 },
  async () => {
    await withLiveConsumer(async (jsm, stream, queue) => {
      await jsm.streams.delete(stream);
      // Publishing fails until the consumer has put the stream back.
      await waitFor(() => queue.publish('jobs.run', 'after').then(() => true), {
        timeoutMs: 10_000,
        what: 'the stream to be recreated',
      });
      const info = await jsm.streams.info(stream);
      assert.ok(info.config.duplicate_window > 0);
    });
  },
);
