export {
  createLogger,
  serializeError,
  REDACTED_PATHS,
  type Logger,
  type LoggerConfig,
  type LogLevel,
} from './logger';
export {
  createMetricsRegistry,
  counter,
  gauge,
  histogram,
  LATENCY_BUCKETS,
  Registry,
  Counter,
  Gauge,
  Histogram,
} from './metrics';
export type { Telemetry } from './telemetry';
export { summarizeError } from './summarize-error';
export {
  createTracing,
  extractTraceContext,
  injectTraceHeaders,
  activeTraceIds,
  activeSpan,
  recordingSpan,
  withSpan,
  childSpan,
  markFailed,
  SpanKind,
  SpanStatusCode,
  type Span,
  type Tracer,
  type Context,
  type Tracing,
  type TracingConfig,
} from './tracing';
export { createTraceRing, type TraceRing, type RecentTrace, type RecentSpan } from './trace-ring';
