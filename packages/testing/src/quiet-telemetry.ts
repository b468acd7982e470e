import { createLogger, createTracing, Registry, type Telemetry, type Tracer } from '@tern/telemetry';

/**
 * Telemetry for adapters under test: nothing logged, metrics in a fresh registry to assert on,
 * and a tracer that makes trace ids but records nothing.
 */
export function quietTelemetry(instance = 'test'): Telemetry & { tracer: Tracer } {
  return {
    log: createLogger({ level: 'silent', service: 'test', instance }),
    metrics: new Registry(),
    tracer: createTracing({ service: 'test', instance, endpoint: undefined, sampleRatio: 0 }).tracer,
  };
}
