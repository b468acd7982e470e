import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** One finished span as the live dashboard shows it. */
export interface RecentSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  kind: 'server' | 'client' | 'producer' | 'consumer' | 'internal';
  /** Unix milliseconds. */
  startMs: number;
  durationMs: number;
  error: boolean;
}

export interface RecentTrace {
  traceId: string;
  /** The earliest span's name (the root, when this process saw it). */
  name: string;
  startMs: number;
  durationMs: number;
  spans: RecentSpan[];
}

/** The recorded spans of this process's latest traces, in memory, for the live dashboard. */
export interface TraceRing {
  processor: SpanProcessor;
  /** The slowest traces that ended within the last `windowMs`, slowest first. */
  slowest(windowMs: number, limit: number): RecentTrace[];
}

const KINDS: Record<number, RecentSpan['kind']> = {
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
  [SpanKind.INTERNAL]: 'internal',
};

const toMs = ([seconds, nanos]: [number, number]) => seconds * 1_000 + nanos / 1e6;

/**
 * Keeps the spans of the last `maxTraces` traces (at most `maxSpans` each), oldest dropped
 * first: bounded memory whatever the traffic. Only recorded (sampled) spans arrive here.
 */
export function createTraceRing({ maxTraces = 500, maxSpans = 200 } = {}): TraceRing {
  const traces = new Map<string, { spans: RecentSpan[]; endedMs: number }>();
  const processor: SpanProcessor = {
    onStart() {},
    onEnd(span: ReadableSpan) {
      const context = span.spanContext();
      const startMs = toMs(span.startTime);
      const recent: RecentSpan = {
        traceId: context.traceId,
        spanId: context.spanId,
        parentSpanId: span.parentSpanContext?.spanId ?? '',
        name: span.name,
        service: String(span.resource.attributes['service.name'] ?? ''),
        kind: KINDS[span.kind] ?? 'internal',
        startMs,
        durationMs: toMs(span.duration),
        error: span.status.code === SpanStatusCode.ERROR,
      };
      let trace = traces.get(context.traceId);
      if (trace) traces.delete(context.traceId);
      else trace = { spans: [], endedMs: 0 };
      // Re-inserted: the map's order is the order traces last ended, oldest first.
      traces.set(context.traceId, trace);
      if (trace.spans.length < maxSpans) trace.spans.push(recent);
      trace.endedMs = Date.now();
      while (traces.size > maxTraces) traces.delete(traces.keys().next().value as string);
    },
    forceFlush: async () => undefined,
    shutdown: async () => {
      traces.clear();
    },
  };
  return {
    processor,
    slowest(windowMs, limit) {
      const since = Date.now() - windowMs;
      const found: RecentTrace[] = [];
      for (const [traceId, trace] of traces) {
        if (trace.endedMs < since) continue;
        const start = Math.min(...trace.spans.map((span) => span.startMs));
        const end = Math.max(...trace.spans.map((span) => span.startMs + span.durationMs));
        const first = trace.spans.reduce((a, b) => (b.startMs < a.startMs ? b : a));
        found.push({
          traceId,
          name: first.name,
          startMs: start,
          durationMs: end - start,
          spans: trace.spans,
        });
      }
      return found.sort((a, b) => b.durationMs - a.durationMs).slice(0, limit);
    },
  };
}
