import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer as JsConsumer, JsMsg } from 'nats';
import type { Logger } from '@tern/telemetry';
import type { MessageHandler, QueueMessage } from './queue';
import type { ResolvedConsumeOptions } from './queue-input';
import type { QueueMetrics } from './queue-metrics';
import type { NatsDeadLetters } from './nats-dead-letters';
import { userHeaders } from './nats-headers';
import { InFlight } from './in-flight';
import { runDelivery, type Settlement } from './run-delivery';

// The shortest pull nats.js allows. It bounds how long stop() waits for the last pull, and how long
// slots freed mid-pull wait before the next pull asks for them.
const FETCH_EXPIRES_MS = 1000;
const RETRY_FETCH_MS = 1000;

export interface NatsConsumerDeps {
  consumer: JsConsumer;
  name: string;
  topic: string;
  handler: MessageHandler<unknown>;
  options: ResolvedConsumeOptions;
  deadLetters: NatsDeadLetters;
  metrics: QueueMetrics;
  log: Logger;
}

/**
 * Pulls only as many messages as there are free handler slots: a message buffered in this process
 * would age against ack_wait unseen, and could not go to an idle competing consumer meanwhile.
 */
export class NatsConsumer {
  private readonly inFlight: InFlight;
  private readonly loop: Promise<void>;
  private readonly stopped = new AbortController();

  constructor(private readonly deps: NatsConsumerDeps) {
    this.inFlight = new InFlight(deps.options.concurrency);
    this.loop = this.pull();
  }

  /**
   * Lets the pull already sent run out (at most FETCH_EXPIRES_MS) and handles what it brings: the
   * server cannot cancel a pull, and a message it delivers to an abandoned pull would sit unseen
   * until ack_wait expires.
   */
  async stop(): Promise<void> {
    this.stopped.abort();
    this.inFlight.release();
    await this.loop;
    await this.inFlight.drained();
  }

  private async pull(): Promise<void> {
    const { consumer, log, topic, options } = this.deps;
    while (!this.stopped.signal.aborted) {
      await this.inFlight.whenFree();
      if (this.stopped.signal.aborted) break;
      try {
        const batch = await consumer.fetch({ max_messages: this.inFlight.free, expires: FETCH_EXPIRES_MS });
        for await (const message of batch) this.start(message);
      } catch (error) {
        if (this.stopped.signal.aborted) break;
        // Disconnected, or the stream is being recreated: keep trying, the process must not crash.
        log.warn({ err: error, topic, group: options.group }, 'queue pull failed; retrying');
        await sleep(RETRY_FETCH_MS, undefined, { signal: this.stopped.signal }).catch(() => undefined);
      }
    }
  }

  private start(jsMsg: JsMsg): void {
    const { topic, handler, options, metrics, log } = this.deps;
    let payload: unknown;
    let invalid: Error | undefined;
    try {
      payload = jsMsg.json<unknown>();
    } catch {
      // Not published through this queue; it goes the retry / dead-letter way like any failure.
      invalid = new Error('payload is not valid JSON');
    }
    const message: QueueMessage = {
      id: jsMsg.headers?.get('Nats-Msg-Id') || `${jsMsg.info.stream}:${jsMsg.seq}`,
      topic,
      payload,
      headers: userHeaders(jsMsg.headers),
      deliveries: jsMsg.info.deliveryCount,
      publishedAt: new Date(Math.floor(jsMsg.info.timestampNanos / 1e6)),
    };
    this.inFlight.start(() =>
      runDelivery({
        message,
        handler: invalid ? () => Promise.reject(invalid) : handler,
        options,
        metrics,
        log,
        settle: this.settlement(jsMsg, message),
      }),
    );
  }

  private settlement(jsMsg: JsMsg, message: QueueMessage): Settlement {
    const { deadLetters, name, options } = this.deps;
    const key = { consumer: name, seq: jsMsg.seq };
    return {
      async ack() {
        // ackAck: resolve only once the server has recorded the ack, so stop() means settled.
        await jsMsg.ackAck();
        if (message.deliveries > 1) await deadLetters.clearErrors(key);
      },
      async retry(error, delayMs) {
        await deadLetters.recordError(key, error);
        jsMsg.nak(delayMs);
      },
      async deadLetter(error) {
        const errors = await deadLetters.recordError(key, error);
        await deadLetters.add(key, message, jsMsg.data, options.group, errors);
        jsMsg.term();
        await deadLetters.clearErrors(key);
      },
    };
  }
}
