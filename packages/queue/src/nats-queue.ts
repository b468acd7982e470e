import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { runtimeErrors } from '@tern/errors';
import type { Logger, Telemetry } from '@tern/telemetry';
import type { Consumer, ConsumeOptions, MessageHandler, PublishOptions, Queue } from './queue';
import { DEFAULT_DEAD_LETTER_LIMIT } from './queue-limits';
import { assertTopic, preparePublish, resolveConsumeOptions } from './queue-input';
import { queueErrors } from './queue-errors';
import { createQueueMetrics } from './queue-metrics';
import { ensureConsumer, ensureStreams } from './nats-streams';
import { createNatsDeadLetters } from './nats-dead-letters';
import { toNatsHeaders } from './nats-headers';
import { NatsConsumer } from './nats-consumer';
import { natsServerOptions } from './nats-server-options';

export interface NatsQueueConfig {
  /** `nats://host:4222`; `nats://user:pass@host` and `nats://token@host` authenticate. */
  url: string;
  /** JetStream stream name; subjects are `<stream>.<topic>`, dead letters go to `<stream>_DLQ`. */
  stream: string;
}

const RECONNECT_WAIT_MS = 1000;
const CLOSE_DRAIN_MS = 2000;

/** The production queue: JetStream, a durable pull consumer per (group, topic). */
export async function createNatsQueue(config: NatsQueueConfig, telemetry: Telemetry): Promise<Queue> {
  const log = telemetry.log.child({ component: 'queue', queue: 'nats', stream: config.stream });
  const { stream } = config;
  const nc = await connect({
    // Credentials travel as connect options; the server list (which nats.js may log or report in
    // status events) carries none.
    ...natsServerOptions(config.url),
    name: `tern-queue-${stream}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
  });
  // Not awaited: nats.js never ends the status iterator, not even on close(), so awaiting it would
  // hang close(). It holds no timer or socket and logStatus never rejects.
  void logStatus(nc, log);
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, stream);
  } catch (error) {
    await nc.close();
    throw error;
  }
  const js = nc.jetstream();
  const deadLetters = createNatsDeadLetters(jsm, js, stream);
  const metrics = createQueueMetrics(telemetry, 'nats');
  const consumers = new Set<NatsConsumer>();
  let closed = false;

  return {
    kind: 'nats',
    async publish(topic: string, payload: unknown, options: PublishOptions = {}) {
      if (closed) throw queueErrors.closed();
      const prepared = preparePublish(topic, payload, options);
      const id = prepared.dedupId ?? randomUUID();
      try {
        // Resolves on the PubAck: the server has stored it (or recognised the msgID as a duplicate).
        const ack = await js.publish(`${stream}.${topic}`, new TextEncoder().encode(prepared.payload), {
          msgID: id,
          headers: toNatsHeaders(prepared.headers),
          expect: { streamName: stream },
        });
        if (!ack.duplicate) metrics.published(topic);
        return { id, duplicate: ack.duplicate };
      } catch (error) {
        if (closed) throw queueErrors.closed();
        throw runtimeErrors.dependencyUnavailable('nats', error);
      }
    },
    async consume<T>(topic: string, handler: MessageHandler<T>, options: ConsumeOptions): Promise<Consumer> {
      if (closed) throw queueErrors.closed();
      assertTopic(topic);
      const resolved = resolveConsumeOptions(options);
      const name = await ensureConsumer(jsm, stream, topic, resolved);
      const pullConsumer = await js.consumers.get(stream, name);
      // close() may have run during those awaits; a consumer started now would never be stopped.
      if (closed) throw queueErrors.closed();
      const consumer = new NatsConsumer({
        consumer: pullConsumer,
        async recreate() {
          // The stream first: when it was deleted, the consumer went with it.
          await ensureStreams(jsm, stream);
          await ensureConsumer(jsm, stream, topic, resolved);
          return js.consumers.get(stream, name);
        },
        name,
        topic,
        handler: handler as MessageHandler<unknown>,
        options: resolved,
        deadLetters,
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
      return deadLetters.list(topic, limit);
    },
    async ping() {
      if (closed) throw queueErrors.closed();
      await jsm.streams.info(stream);
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
      consumers.clear();
      // Drain flushes the last acks and naks; bounded, since a server that is down never answers.
      await Promise.race([
        nc.drain().catch((error: unknown) => log.warn({ err: error }, 'queue drain failed')),
        sleep(CLOSE_DRAIN_MS),
      ]);
      if (!nc.isClosed()) await nc.close();
      const closedWith = await nc.closed();
      if (closedWith) log.error({ err: closedWith }, 'queue connection closed with an error');
    },
  };
}

/** Logs connection changes (disconnect, reconnect, errors) for the connection's lifetime; never rejects. */
async function logStatus(nc: NatsConnection, log: Logger): Promise<void> {
  try {
    for await (const status of nc.status()) {
      const fields = { status: status.type, data: typeof status.data === 'object' ? undefined : status.data };
      if (status.type === 'disconnect' || status.type === 'error')
        log.warn(fields, 'queue connection status');
      else if (status.type === 'reconnect') log.info(fields, 'queue connection status');
      else log.debug(fields, 'queue connection status');
    }
  } catch (error) {
    log.error({ err: error }, 'queue connection status stream failed');
  }
}
