import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { createTraceRing, type TraceRing } from './trace-ring';

export { SpanKind, SpanStatusCode, type Span, type Tracer, type Context } from '@opentelemetry/api';

export interface TracingConfig {
  /** `service.name` of the spans: `tern-<service>` (`tern-gateway`, `tern-jobs`, `tern-all`…). */
  service: string;
  instance: string;
  /** OTLP/HTTP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans go to `<endpoint>/v1/traces`. Unset: none exported. */
  endpoint: string | undefined;
  /** Share of new traces sampled (a trace started elsewhere follows its parent's decision). */
  sampleRatio: number;
  /** Export batching (`OTEL_BSP_*`): delay between exports, spans buffered, spans per request. */
  batch?: { exportDelayMs: number; maxQueueSize: number; maxExportBatchSize: number };
}

export interface Tracing {
  tracer: Tracer;
  /** This process's latest sampled traces, for the live dashboard. */
  recent: TraceRing;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
let contextManagerInstalled = false;

/**
 * Spans for one process (one per host, so tests can run several hosts in one process with their
 * own service names). Every request and message gets a span, so its trace id reaches the logs
 * and the next hop, whether or not it is sampled. Sampled spans are recorded: kept in memory for
 * the live dashboard (the latest traces only) and, with an endpoint, exported over OTLP/HTTP in
 * batches.
 */
export function createTracing(config: TracingConfig): Tracing {
  // The active span follows async work through AsyncLocalStorage; installed once per process.
  if (!contextManagerInstalled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(propagator);
    contextManagerInstalled = true;
  }
  const recent = createTraceRing();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': config.service,
      'service.instance.id': config.instance,
    }),
    sampler: new ParentBasedSampler({
      root:
        config.sampleRatio > 0 ? new TraceIdRatioBasedSampler(config.sampleRatio) : new AlwaysOffSampler(),
    }),
    spanProcessors: [
      recent.processor,
      ...(config.endpoint === undefined
        ? []
        : [
            new BatchSpanProcessor(
              new OTLPTraceExporter({ url: `${config.endpoint.replace(/\/+$/, '')}/v1/traces` }),
              {
                scheduledDelayMillis: config.batch?.exportDelayMs ?? 100,
                maxQueueSize: config.batch?.maxQueueSize ?? 8_192,
                maxExportBatchSize: Math.min(
                  config.batch?.maxExportBatchSize ?? 512,
                  config.batch?.maxQueueSize ?? 8_192,
                ),
              },
            ),
          ]),
    ],
  });
  return {
    tracer: provider.getTracer('tern'),
    recent,
    shutdown: () => provider.shutdown(),
  };
}

/** The context a `traceparent` header (W3C) continues; the root context when there is none or it is malformed. */
export function extractTraceContext(headers: Record<string, string | string[] | undefined>): Context {
  return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/** Writes `traceparent` (and `tracestate`) for `span` into `headers`. */
export function injectTraceHeaders(span: Span, headers: Record<string, string>): void {
  if (!trace.isSpanContextValid(span.spanContext())) return;
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
}

/** The active span's ids, for a log line; undefined outside any span. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const ids = span.spanContext();
  return trace.isSpanContextValid(ids) ? { traceId: ids.traceId, spanId: ids.spanId } : undefined;
}

/** The active span, recorded or not; undefined outside any. */
export function activeSpan(): Span | undefined {
  return trace.getSpan(context.active());
}

/** The active span when it is being recorded (sampled); undefined otherwise. */
export function recordingSpan(): Span | undefined {
  const span = trace.getSpan(context.active());
  return span?.isRecording() ? span : undefined;
}

/** Runs `work` with `span` active, so the spans and log lines it makes are its children. */
export function withSpan<T>(span: Span, work: () => T, parent: Context = context.active()): T {
  return context.with(trace.setSpan(parent, span), work);
}

/**
 * Runs `work` in a child span of the active one: a database query, a Redis command. Nothing is
 * made when the active span is not recorded (unsampled, or background work with no request),
 * so polls and sampled-out traffic cost one lookup.
 */
export async function childSpan<T>(
  tracer: Tracer | undefined,
  name: string,
  attributes: Attributes,
  work: () => Promise<T>,
  kind: SpanKind = SpanKind.CLIENT,
): Promise<T> {
  if (!tracer || !recordingSpan()) return work();
  const span = tracer.startSpan(name, { kind, attributes });
  try {
    return await withSpan(span, work);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span failed with the error's name and message (never its data). */
export function markFailed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const message = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : 'failed';
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
