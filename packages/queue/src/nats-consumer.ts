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
import { retryDelayMs } from './retry-delay';
import { isMissingResource } from './nats-streams';

// The shortest pull nats.js allows. It bounds how long stop() waits for the last pull, and how long
// slots freed mid-pull wait before the next pull asks for them.
const FETCH_EXPIRES_MS = 1000;
// Retries after a failed pull back off up to this: quick recovery from a blip, no hammering of a
// server that stays down.
const RETRY_MAX_MS = 5000;

export interface NatsConsumerDeps {
  consumer: JsConsumer;
  /**
   * Ensures the streams and this durable consumer again (same options) and gets it anew. Called
   * when the server says the consumer or its stream is gone: deleted by an operator, lost with
   * the stream, or never replicated after a restore. Without it delivery would stop silently.
   */
  recreate: () => Promise<JsConsumer>;
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
  /** Replaced when the consumer is recreated. */
  private consumer: JsConsumer;

  constructor(private readonly deps: NatsConsumerDeps) {
    this.consumer = deps.consumer;
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
    const { log, topic, options } = this.deps;
    const signal = this.stopped.signal;
    // Consecutive failed pulls; 0 while healthy. An outage logs one warning when it starts and one
    // line when it ends, not one per retry for as long as it lasts.
    let failures = 0;
    // The server said the consumer or its stream is gone: pulling again can never succeed.
    let lost = false;
    while (!signal.aborted) {
      await this.inFlight.whenFree();
      if (signal.aborted) break;
      try {
        if (lost) {
          const recreated = await unlessAborted(this.deps.recreate(), signal);
          if (!recreated) break;
          this.consumer = recreated;
          lost = false;
        }
        const batch = await this.consumer.fetch({
          max_messages: this.inFlight.free,
          expires: FETCH_EXPIRES_MS,
        });
        for await (const message of batch) this.start(message);
        if (failures > 0) log.info({ topic, group: options.group, failures }, 'queue pull recovered');
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        lost ||= isMissingResource(error);
        const fields = { err: error, topic, group: options.group };
        if (failures === 0) {
          // Disconnected, or the stream is being recreated: keep trying, the process must not crash.
          log.warn(
            fields,
            lost ? 'queue consumer or stream lost; recreating it' : 'queue pull failed; retrying',
          );
        } else {
          log.debug({ ...fields, failures }, 'queue pull still failing');
        }
        failures++;
        const delayMs = Math.min(RETRY_MAX_MS, retryDelayMs(failures));
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
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

/**
 * `work`, or undefined as soon as `signal` aborts: stop() must not wait out a recreate against an
 * unresponsive server (several request timeouts in a row). An abandoned `work` still settles, and
 * Promise.race has already handled its rejection.
 */
async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    // One listener per recreate would pile up on the signal over a long outage.
    signal.removeEventListener('abort', onAbort);
  }
}
