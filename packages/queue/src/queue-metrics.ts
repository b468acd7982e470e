import { counter, gauge, histogram, type Telemetry } from '@tern/telemetry';

export type ProcessResult = 'ack' | 'nak' | 'dead';

export interface QueueMetrics {
  published(topic: string): void;
  /** `seconds` is the handler's run time, absent when the handler did not run. */
  processed(topic: string, result: ProcessResult, seconds?: number): void;
  inFlight(delta: 1 | -1): void;
}

export function createQueueMetrics(telemetry: Telemetry, queue: 'sqlite' | 'nats'): QueueMetrics {
  const published = counter(telemetry.metrics, 'tern_queue_published_total', 'Messages durably published.', [
    'queue',
    'topic',
  ]);
  const processed = counter(
    telemetry.metrics,
    'tern_queue_processed_total',
    'Deliveries settled, by result.',
    ['queue', 'topic', 'result'],
  );
  const duration = histogram(telemetry.metrics, 'tern_queue_processing_seconds', 'Handler run time.', [
    'queue',
    'topic',
  ]);
  const inFlight = gauge(telemetry.metrics, 'tern_queue_in_flight', 'Handlers running now.', ['queue']);
  return {
    published: (topic) => published.inc({ queue, topic }),
    processed(topic, result, seconds) {
      processed.inc({ queue, topic, result });
      if (seconds !== undefined) duration.observe({ queue, topic }, seconds);
    },
    inFlight: (delta) => inFlight.inc({ queue }, delta),
  };
}
