import type { Logger } from '@tern/telemetry';
import type { MessageHandler, QueueMessage } from './queue';
import type { QueueMetrics } from './queue-metrics';
import type { ResolvedConsumeOptions } from './queue-input';
import { retryDelayMs } from './retry-delay';

/** How one implementation settles a delivery; each may reject (the lease then simply expires). */
export interface Settlement {
  ack(): Promise<void>;
  retry(error: string, delayMs: number): Promise<void>;
  deadLetter(error: string): Promise<void>;
}

export interface Delivery {
  message: QueueMessage;
  handler: MessageHandler<unknown>;
  options: ResolvedConsumeOptions;
  settle: Settlement;
  metrics: QueueMetrics;
  log: Logger;
}

// Error histories travel in NATS headers; a bounded message keeps a dead letter well under max_payload.
const MAX_ERROR_LENGTH = 1000;

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.slice(0, MAX_ERROR_LENGTH);
}

/**
 * The semantics both implementations share: run the handler, ack on success, retry with backoff
 * on failure, dead-letter after `maxDeliveries`. Never rejects.
 */
export async function runDelivery({
  message,
  handler,
  options,
  settle,
  metrics,
  log,
}: Delivery): Promise<void> {
  const { topic, deliveries } = message;
  const context = { topic, group: options.group, id: message.id, deliveries };
  if (deliveries > options.maxDeliveries) {
    // Earlier deliveries were never settled (worker died or hung); running the handler again
    // could crash the next worker the same way, so give up here.
    const error = `delivery ${deliveries - 1} not acknowledged within ${options.ackWaitMs} ms`;
    await settleSafely(() => settle.deadLetter(error), log, context);
    metrics.processed(topic, 'dead');
    log.warn({ ...context, error }, 'queue message dead-lettered');
    return;
  }
  const started = performance.now();
  metrics.inFlight(1);
  let failure: string | undefined;
  try {
    await handler(message);
  } catch (error) {
    failure = errorText(error);
  } finally {
    metrics.inFlight(-1);
  }
  const seconds = (performance.now() - started) / 1000;
  if (failure === undefined) {
    await settleSafely(() => settle.ack(), log, context);
    metrics.processed(topic, 'ack', seconds);
  } else if (deliveries >= options.maxDeliveries) {
    await settleSafely(() => settle.deadLetter(failure), log, context);
    metrics.processed(topic, 'dead', seconds);
    log.warn({ ...context, error: failure }, 'queue message dead-lettered');
  } else {
    const delayMs = retryDelayMs(deliveries);
    await settleSafely(() => settle.retry(failure, delayMs), log, context);
    metrics.processed(topic, 'nak', seconds);
    // Info, not debug: a handler that keeps failing must be visible before it is dead-lettered.
    log.info({ ...context, error: failure, delayMs }, 'queue handler failed; will retry');
  }
}

async function settleSafely(settle: () => Promise<void>, log: Logger, context: object): Promise<void> {
  try {
    await settle();
  } catch (error) {
    // The message stays leased and is redelivered after ackWait: at-least-once still holds.
    log.error({ ...context, err: error }, 'queue could not settle a delivery');
  }
}
